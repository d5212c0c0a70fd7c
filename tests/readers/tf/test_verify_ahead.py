"""verify_ahead: checkpoint checksums checked on a second thread; every tensor is still checked before use."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tfjsconv.errors import InputError
from tfjsconv.readers.tf import verify_ahead
from tfjsconv.readers.tf.bundle import TensorBundle
from tfjsconv.readers.tf.crc32c import crc32c, mask
from tfjsconv.readers.tf.verify_ahead import Job, Verifier
from tfjsconv.writers.tf.bundle import write_bundle

SIZES = (3000, 70_000, 5, 40_000)  # float32 elements: several windows each when WINDOW is small


def _checkpoint(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    arrays = {f"t{i}": rng.standard_normal(n).astype(np.float32) for i, n in enumerate(SIZES)}
    prefix = tmp_path / "ckpt"
    write_bundle(prefix, list(arrays.items()))
    return prefix, arrays


def _data_file(prefix: Path) -> Path:
    return Path(f"{prefix}.data-00000-of-00001")


@pytest.fixture(autouse=True)
def _small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_ahead, "MIN_BYTES", 0)
    monkeypatch.setattr(verify_ahead, "WINDOW", 4096)  # crc32c continued across windows


def _started(bundle: TensorBundle) -> Verifier:
    bundle.verify_ahead()
    verifier = bundle._verifier
    assert verifier is not None
    verifier.join(30)
    return verifier


def test_thread_verifies_every_handed_out_tensor_and_values_are_unchanged(tmp_path: Path) -> None:
    prefix, arrays = _checkpoint(tmp_path)
    bundle = TensorBundle.open(prefix)
    lazies = {key: bundle.tensor(key) for key in arrays}
    verifier = _started(bundle)
    assert [verifier.claim(key) for key in arrays] == [True] * len(arrays)
    for key, lazy in lazies.items():
        assert np.array_equal(lazy.materialize(), arrays[key])


def test_corrupt_tensor_found_by_the_thread_is_refused_when_read(tmp_path: Path) -> None:
    prefix, arrays = _checkpoint(tmp_path)
    with TensorBundle.open(prefix) as clean:
        entry = clean.proto("t1")
    data = bytearray(_data_file(prefix).read_bytes())
    data[entry.offset + 9000] ^= 0x10  # in the third 4 KiB window of t1
    _data_file(prefix).write_bytes(bytes(data))
    bundle = TensorBundle.open(prefix)
    lazies = {key: bundle.tensor(key) for key in arrays}
    _started(bundle)
    assert np.array_equal(lazies["t0"].materialize(), arrays["t0"])
    with pytest.raises(InputError, match="checksum mismatch in tensor 't1'") as info:
        lazies["t1"].materialize()
    assert info.value.path == str(_data_file(prefix))
    assert np.array_equal(lazies["t3"].materialize(), arrays["t3"])


def test_truncated_data_is_left_to_the_reader_and_named(tmp_path: Path) -> None:
    prefix, arrays = _checkpoint(tmp_path)
    _data_file(prefix).write_bytes(_data_file(prefix).read_bytes()[:50_000])
    bundle = TensorBundle.open(prefix)
    lazies = {key: bundle.tensor(key) for key in arrays}
    verifier = _started(bundle)
    assert verifier.claim("t1") is None  # beyond the end of the file: not the thread's to report
    with pytest.raises(InputError, match="truncated checkpoint data: tensor 't1'"):
        lazies["t1"].materialize()
    assert np.array_equal(lazies["t0"].materialize(), arrays["t0"])


def test_caller_checks_what_the_thread_has_not_reached(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    prefix, arrays = _checkpoint(tmp_path)
    with TensorBundle.open(prefix) as bundle:
        jobs = [Job(key, str(_data_file(prefix)), int(e.offset), int(e.size), int(e.crc32c))
                for key, e in ((key, bundle.proto(key)) for key in arrays)]
    gate, checked = threading.Event(), []
    original = Verifier._check

    def gated(self: Verifier, job: Job, files: dict, buffer: bytearray) -> object:
        checked.append(job.key)
        assert gate.wait(30)
        return original(self, job, files, buffer)

    monkeypatch.setattr(Verifier, "_check", gated)
    verifier = Verifier(jobs)
    assert verifier.claim("t2") is None  # the thread is held on t0: t2 is the caller's now
    gate.set()
    assert verifier.claim("t0") is True  # waits for the thread's result
    verifier.join(30)
    assert checked == ["t0", "t1", "t3"]
    bad = Job("x", str(_data_file(prefix)), jobs[0].offset, jobs[0].size, mask(crc32c(b"other bytes")))
    other = Verifier([bad])
    other.join(30)
    assert other.claim("x") is False
