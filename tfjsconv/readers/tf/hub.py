"""TF Hub handles: a local module directory or archive, or an http(s) URL of a compressed module.

A TF1 Hub module is a SavedModel directory with ``tfhub_module.pb``; its MetaGraphs usually have
an empty tag set (plus ``{"train"}``).  A TF2 Hub model is an ordinary SavedModel.  Both default to
the signature ``default``.  URLs are downloaded as tar archives (``?tf-hub-format=compressed`` is
added to handles that do not already name an archive, as the hub library does) and extracted into
a temporary directory that is removed afterwards; extraction refuses absolute paths, ``..``
components, links leaving the archive, special files, and more than ``max_bytes`` of data.
"""

from __future__ import annotations

import contextlib
import lzma
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ...errors import InputError

HUB_MODULE_MARKER = "tfhub_module.pb"
DEFAULT_MAX_BYTES = 4 * 1024 ** 3  # download and extracted size cap
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class HubModule:
    path: Path
    is_tf1_hub: bool


def is_url(handle: str) -> bool:
    return handle.startswith(("http://", "https://"))


def archive_url(handle: str) -> str:
    """The URL to download: the handle itself for an archive, else with ``tf-hub-format=compressed``."""
    parsed = urllib.parse.urlparse(handle)
    if parsed.path.endswith(_ARCHIVE_SUFFIXES) or "tf-hub-format=" in parsed.query:
        return handle
    query = parsed.query + ("&" if parsed.query else "") + "tf-hub-format=compressed"
    return urllib.parse.urlunparse(parsed._replace(query=query))


def download(url: str, target: Path, max_bytes: int) -> None:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS) as response, target.open("wb") as out:
            total = 0
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise InputError(f"download is larger than the {max_bytes}-byte limit", url)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise InputError(f"download failed: HTTP {exc.code} {exc.reason}", url) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"download failed: {reason}", url) from None


def _safe_member(member: tarfile.TarInfo, archive: str) -> PurePosixPath:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise InputError(f"archive member {member.name!r} would be extracted outside the target", archive)
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = name.parent if member.issym() else PurePosixPath()
        resolved: list[str] = []
        for part in (base / target).parts if not target.is_absolute() else ("/",):
            if part == "/":
                raise InputError(f"archive link {member.name!r} points outside the archive", archive)
            if part == "..":
                if not resolved:
                    raise InputError(f"archive link {member.name!r} points outside the archive", archive)
                resolved.pop()
            elif part != ".":
                resolved.append(part)
    elif not (member.isfile() or member.isdir()):
        raise InputError(f"archive member {member.name!r} is a special file", archive)
    return name


def extract_archive(archive: Path, target: Path, max_bytes: int, label: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            total = 0
            members = tar.getmembers()
            for member in members:
                _safe_member(member, label)
                total += max(member.size, 0)
                if total > max_bytes:
                    raise InputError(f"archive expands to more than the {max_bytes}-byte limit", label)
            for member in members:
                if member.issym() or member.islnk():
                    continue  # links are checked above but not needed: a module is plain files
                if hasattr(tarfile, "data_filter"):  # Python builds with extraction filters
                    tar.extract(member, target, set_attrs=False, filter="data")
                else:
                    tar.extract(member, target, set_attrs=False)
    except tarfile.TarError as exc:
        # tarfile's message lists every decompressor it tried, over several lines: keep the first.
        first = str(exc).splitlines()[0].strip().rstrip(":") if str(exc) else type(exc).__name__
        raise InputError(f"not a readable tar archive ({first})", label) from None
    except (EOFError, zlib.error, lzma.LZMAError, OSError) as exc:  # a truncated or corrupt stream
        raise InputError(f"corrupt or truncated archive: {exc}", label) from None


def _module_root(directory: Path, label: str) -> Path:
    for candidate in (directory, *sorted(p for p in directory.iterdir() if p.is_dir())):
        if (candidate / "saved_model.pb").is_file() or (candidate / "saved_model.pbtxt").is_file():
            return candidate
    raise InputError("the archive holds no saved_model.pb", label)


@contextlib.contextmanager
def resolve_hub_module(handle: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[HubModule]:
    """The module directory for ``handle`` (downloaded and extracted for URLs)."""
    local = None if is_url(handle) else Path(handle)
    if local is not None and local.is_dir():
        yield HubModule(local, (local / HUB_MODULE_MARKER).is_file())
        return
    if local is not None and not (local.is_file() and tarfile.is_tarfile(local)):
        raise InputError("a TF Hub module must be a directory, a .tar.gz archive or an http(s) URL", local)
    workdir = Path(tempfile.mkdtemp(prefix="tfjsconv-hub-"))
    try:
        if local is None:
            archive = workdir / "module.tar"
            download(archive_url(handle), archive, max_bytes)
        else:
            archive = local
        extracted = workdir / "module"
        extracted.mkdir()
        extract_archive(archive, extracted, max_bytes, handle)
        root = _module_root(extracted, handle)
        yield HubModule(root, (root / HUB_MODULE_MARKER).is_file())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def hub_tags(module: HubModule, requested: set[str], available: list[set[str]]) -> set[str]:
    """TF1 Hub modules keep their serving graph under the empty tag set: use it unless asked otherwise."""
    if requested in available:
        return requested
    if module.is_tf1_hub and set() in available:
        return set()
    return requested
