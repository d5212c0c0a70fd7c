"""TF Hub handles: local directories, downloads from a local HTTP server, safe extraction."""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tfjsconv.errors import InputError
from tfjsconv.readers.tf.hub import archive_url, hub_tags, resolve_hub_module

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "models"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def _pack(source: Path, archive: Path, prefix: str = "") -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=prefix + str(path.relative_to(source)), recursive=False)


def _evil(archive: Path, member: tarfile.TarInfo, payload: bytes = b"x") -> None:
    with tarfile.open(archive, "w:gz") as tar:
        ok = tarfile.TarInfo("saved_model.pb")
        ok.size = 1
        tar.addfile(ok, io.BytesIO(b"x"))
        if member.isfile():
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
        else:
            tar.addfile(member)


def test_local_directories() -> None:
    with resolve_hub_module(str(FIXTURES / "tf_tf1_hub_module" / "module")) as module:
        assert module.is_tf1_hub
    with resolve_hub_module(str(FIXTURES / "tf_hub_module" / "saved_model")) as module:
        assert not module.is_tf1_hub
        assert (module.path / "saved_model.pb").is_file()


def test_download_extracts_and_cleans_up(server: tuple[str, Path]) -> None:
    url, root = server
    _pack(FIXTURES / "tf_tf1_hub_module" / "module", root / "module.tar.gz", prefix="module/")
    with resolve_hub_module(f"{url}/module.tar.gz") as module:
        assert module.is_tf1_hub
        assert (module.path / "variables" / "variables.index").is_file()
        where = module.path
    assert not where.exists()


def test_hub_style_handle_gets_the_compressed_format_query(server: tuple[str, Path]) -> None:
    url, _ = server
    assert archive_url("https://tfhub.dev/google/m/1") == "https://tfhub.dev/google/m/1?tf-hub-format=compressed"
    assert archive_url(f"{url}/m.tgz") == f"{url}/m.tgz"
    with pytest.raises(InputError, match="HTTP 404"):
        with resolve_hub_module(f"{url}/absent"):
            pass


@pytest.mark.parametrize("member, message", [
    (tarfile.TarInfo("../escape.txt"), "outside the target"),
    (tarfile.TarInfo("/abs/escape.txt"), "outside the target"),
])
def test_path_escapes_are_refused(server: tuple[str, Path], member: tarfile.TarInfo, message: str) -> None:
    url, root = server
    _evil(root / "bad.tar.gz", member)
    with pytest.raises(InputError, match=message):
        with resolve_hub_module(f"{url}/bad.tar.gz"):
            pass
    assert not (root.parent / "escape.txt").exists()


def test_links_leaving_the_archive_are_refused(server: tuple[str, Path]) -> None:
    url, root = server
    link = tarfile.TarInfo("variables/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../../etc/passwd"
    _evil(root / "link.tar.gz", link)
    with pytest.raises(InputError, match="points outside the archive"):
        with resolve_hub_module(f"{url}/link.tar.gz"):
            pass
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    _evil(root / "dev.tar.gz", device)
    with pytest.raises(InputError, match="special file"):
        with resolve_hub_module(f"{url}/dev.tar.gz"):
            pass


def test_size_cap(server: tuple[str, Path]) -> None:
    url, root = server
    _evil(root / "big.tar.gz", tarfile.TarInfo("variables/big.bin"), payload=b"\0" * 50_000)
    # Compressed, the archive is small; expanded it exceeds the cap.
    with pytest.raises(InputError, match="expands to more than the 20000-byte limit"):
        with resolve_hub_module(f"{url}/big.tar.gz", max_bytes=20_000):
            pass
    with pytest.raises(InputError, match="larger than the 10-byte limit"):
        with resolve_hub_module(f"{url}/big.tar.gz", max_bytes=10):
            pass


def test_tf1_hub_modules_default_to_the_empty_tag_set() -> None:
    with resolve_hub_module(str(FIXTURES / "tf_tf1_hub_module" / "module")) as module:
        assert hub_tags(module, {"serve"}, [set(), {"train"}]) == set()
        assert hub_tags(module, {"train"}, [set(), {"train"}]) == {"train"}


def test_local_archive(tmp_path: Path) -> None:
    archive = tmp_path / "module.tar.gz"
    _pack(FIXTURES / "tf_hub_module" / "saved_model", archive)
    with resolve_hub_module(str(archive)) as module:
        assert not module.is_tf1_hub and (module.path / "saved_model.pb").is_file()
    assert archive.is_file()  # the user's archive is only read
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="must be a directory, a .tar.gz archive or an http"):
        with resolve_hub_module(str(tmp_path / "notes.txt")):
            pass
