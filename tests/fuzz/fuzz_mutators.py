"""Structure-aware mutators, one per reader, over a shared toolbox (bytes, JSON, protobuf, HDF5, zip).

Blind bit flips mostly hit checksums and length fields and test only the first check of a format.
These mutators edit what the formats mean - HDF5 attributes, dataset shapes and dtypes and links;
zip member names, sizes and contents; protobuf fields through their descriptors (the project's own
protos for SavedModel/GraphDef/checkpoint, onnx's for ONNX); checkpoint index entries re-written as a
valid SSTable; layers-model manifests and shards - so the inputs get past the outer checks into the
code that trusts them.  A share of plain byte mutations stays in for the outer checks.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import resource
import struct
import tempfile
import warnings
import zipfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable

from cpu_limit import cpu_time_limit
from fuzz_cases import Case

Rng = random.Random

INTERESTING_INTS = (0, 1, -1, 2, 3, 7, 8, 16, 255, 256, 1023, 4096, 65535, 65536, 2 ** 31 - 1, 2 ** 31,
                    -2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 40, 10 ** 6, 10 ** 12, 2 ** 62, 2 ** 63 - 1,
                    -2 ** 63)
INTERESTING_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, 1e38, 3.5e38, -1e308, math.inf, -math.inf, math.nan)
INTERESTING_STRINGS = ("", "a", "..", "../escape", "/abs/path", "x" * 300, "\u00e9\u4e2d", "a/b:0", ":0",
                       "name:1", "^ctrl", "dense", "dense/kernel", "model.weights.h5", "config.json",
                       "variables/variables", "other.h5", "secret.bin", "nan", "null", "0", "-1")


# ----- bytes ------------------------------------------------------------------------------------------

def bytes_mutate(data: bytes, rng: Rng) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(9)
    if not buf:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))
    pos = rng.randrange(len(buf))
    if kind == 0:
        buf[pos] ^= 1 << rng.randrange(8)
    elif kind == 1:
        buf[pos] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
    elif kind == 2:
        size = rng.choice((1, 2, 4, 8))
        value = rng.choice(INTERESTING_INTS) & ((1 << (8 * size)) - 1)
        buf[pos:pos + size] = value.to_bytes(size, rng.choice(("little", "big")))
    elif kind == 3:
        end = min(len(buf), pos + rng.choice((1, 8, 64, 512, 4096)))
        buf[pos:end] = bytes(end - pos)
    elif kind == 4:
        del buf[pos:pos + rng.choice((1, 4, 16, 256))]
    elif kind == 5:
        chunk = buf[pos:pos + rng.choice((1, 8, 64, 1024))]
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = chunk
    elif kind == 6:
        del buf[rng.randrange(len(buf) + 1):]
    elif kind == 7:
        buf[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 16)))
    else:
        for _ in range(rng.randrange(2, 20)):
            buf[rng.randrange(len(buf))] = rng.getrandbits(8)
    return bytes(buf)


# ----- JSON -------------------------------------------------------------------------------------------

def _json_sites(obj: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value in a JSON document, without recursion."""
    sites: list[tuple[Any, Any]] = []
    stack = [obj]
    while stack and len(sites) < 20000:
        item = stack.pop()
        if isinstance(item, dict):
            keys: Any = list(item.keys())
        else:
            keys = range(len(item)) if isinstance(item, list) else ()
        for key in keys:
            sites.append((item, key))
            child = item[key]
            if isinstance(child, (dict, list)):
                stack.append(child)
    return sites


def _json_value(rng: Rng, pool: list[Any]) -> Any:
    kind = rng.randrange(8)
    if kind == 0 and pool:
        return rng.choice(pool)
    if kind == 1:
        return rng.choice(INTERESTING_INTS)
    if kind == 2:
        return rng.choice(INTERESTING_FLOATS[:9])  # JSON has no inf/nan (Python writes them anyway)
    if kind == 3:
        return rng.choice(INTERESTING_STRINGS)
    if kind == 4:
        return rng.choice((None, True, False))
    if kind == 5:
        return [rng.choice(INTERESTING_INTS[:12]) for _ in range(rng.randrange(0, 5))]
    if kind == 6:
        return {}
    return []


def json_mutate(obj: Any, rng: Rng, rounds: int = 1) -> Any:
    for _ in range(rounds):
        sites = _json_sites(obj)
        if not sites:
            return _json_value(rng, [])
        container, key = rng.choice(sites)
        value = container[key]
        pool = [c[k] for c, k in rng.sample(sites, min(8, len(sites)))
                if not isinstance(c[k], (dict, list))]
        action = rng.randrange(10)
        if action <= 2:
            container[key] = _json_value(rng, pool)
        elif action == 3 and isinstance(container, dict):
            del container[key]
        elif action == 3 and isinstance(container, list):
            del container[key]
        elif action == 4 and isinstance(container, list):
            container.insert(key, json.loads(json.dumps(value)))  # duplicate an element
        elif action == 5 and isinstance(value, (int, float)) and not isinstance(value, bool):
            container[key] = rng.choice((value + 1, value - 1, -value, value * 1000, value * 10 ** 9))
        elif action == 6 and isinstance(value, str):
            container[key] = value[:rng.randrange(len(value) + 1)] + rng.choice(("", "_1", "/x", ":0", "..",
                                                                                  "\u00e9"))
        elif action == 7 and isinstance(value, list):
            rng.shuffle(value)
        elif action == 8:
            # Move a value somewhere else: valid pieces in the wrong place.
            other, other_key = rng.choice(sites)
            container[key] = json.loads(json.dumps(other[other_key]))
        else:
            wrapped = {"class_name": rng.choice(("Sequential", "Functional", "Dense", "Bogus")),
                       "config": value}
            container[key] = wrapped if rng.random() < 0.5 else [value]
    return obj


def json_bytes_mutate(data: bytes, rng: Rng) -> bytes:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return bytes_mutate(data, rng)
    return json.dumps(json_mutate(obj, rng, rng.choice((1, 1, 2, 3)))).encode()


# ----- protobuf ---------------------------------------------------------------------------------------

def _int_range(fd: Any) -> tuple[int, int]:
    from google.protobuf.descriptor import FieldDescriptor as F

    if fd.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return -2 ** 31, 2 ** 31 - 1
    if fd.type in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return 0, 2 ** 32 - 1
    if fd.type in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return 0, 2 ** 64 - 1
    return -2 ** 63, 2 ** 63 - 1


def _scalar(fd: Any, current: Any, rng: Rng, strings: list[Any]) -> Any:
    from google.protobuf.descriptor import FieldDescriptor as F

    if fd.type == F.TYPE_BOOL:
        return not current if isinstance(current, bool) else rng.random() < 0.5
    if fd.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return rng.choice(INTERESTING_FLOATS)
    if fd.type == F.TYPE_ENUM:
        values = [v.number for v in fd.enum_type.values]
        return rng.choice(values) if rng.random() < 0.8 else rng.choice((-1, 999, 2 ** 31 - 1))
    if fd.type == F.TYPE_STRING:
        if strings and rng.random() < 0.6:
            choice = rng.choice(strings)
            return choice if isinstance(choice, str) else choice.decode("utf-8", "replace")
        base = current if isinstance(current, str) else ""
        return rng.choice((base + rng.choice(("_1", ":0", ":1", "/x", "^")), base[:len(base) // 2],
                           rng.choice(INTERESTING_STRINGS)))
    if fd.type == F.TYPE_BYTES:
        if strings and rng.random() < 0.3:
            choice = rng.choice(strings)
            return choice if isinstance(choice, bytes) else choice.encode()
        return bytes_mutate(current if isinstance(current, bytes) else b"", rng)
    low, high = _int_range(fd)
    if rng.random() < 0.6:
        value = rng.choice(INTERESTING_INTS)
    else:
        value = (current if isinstance(current, int) else 0) + rng.choice((-1, 1, -2, 2, 100))
    return min(max(value, low), high)


def _repeated(fd: Any) -> bool:
    flag = getattr(fd, "is_repeated", None)  # protobuf >= 5.29; older runtimes only have .label
    return bool(flag) if flag is not None else fd.label == fd.LABEL_REPEATED


def _present(msg: Any, fd: Any) -> bool:
    try:
        return bool(msg.HasField(fd.name))
    except ValueError:  # a proto3 scalar without presence: "unset" means the default value
        return getattr(msg, fd.name) != fd.default_value


# Per message type: (scalar fields that may be unset, [(field, kind, flags)]) - computed once, since
# walking a SavedModel's few thousand messages through the descriptors was most of a mutation's time.
_SHAPES: dict[Any, tuple[list[Any], dict[str, tuple[Any, int, bool]]]] = {}
_MAP, _REPEATED, _MESSAGE, _SCALAR = range(4)


def _shape(descriptor: Any) -> tuple[list[Any], dict[str, tuple[Any, int, bool]]]:
    from google.protobuf.descriptor import FieldDescriptor as F

    shape = _SHAPES.get(descriptor)
    if shape is None:
        scalars = [fd for fd in descriptor.fields if not _repeated(fd) and fd.type != F.TYPE_MESSAGE]
        fields: dict[str, tuple[Any, int, bool]] = {}
        for fd in descriptor.fields:
            textual = fd.type in (F.TYPE_STRING, F.TYPE_BYTES)
            if fd.type == F.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
                value_fd = fd.message_type.fields_by_name["value"]
                fields[fd.name] = (fd, _MAP, value_fd.type == F.TYPE_MESSAGE)
            elif _repeated(fd):
                fields[fd.name] = (fd, _REPEATED, textual)
            elif fd.type == F.TYPE_MESSAGE:
                fields[fd.name] = (fd, _MESSAGE, False)
            else:
                fields[fd.name] = (fd, _SCALAR, textual)
        shape = _SHAPES[descriptor] = (scalars, fields)
    return shape


def proto_mutate(message: Any, rng: Rng, max_sites: int = 1500) -> None:
    """One random edit somewhere in ``message``'s tree, chosen through the field descriptors.

    The walk visits messages in random order and stops after ``max_sites`` candidate edits: every
    part of the tree stays reachable over many mutations, and a mutation of a SavedModel costs
    a third of the full walk's time (4000 sites: 10.6 ms; 1500: 6 ms)."""
    from google.protobuf.descriptor import FieldDescriptor as F

    sites: list[tuple[Any, Any, Any]] = []  # (parent, field, index / map key / None)
    strings: list[Any] = []
    stack = [message]
    while stack and len(sites) < max_sites:
        msg = stack.pop(rng.randrange(len(stack)))
        scalars, fields = _shape(msg.DESCRIPTOR)
        if scalars and rng.random() < 0.1:  # sometimes set a field that is not set yet
            unset = [fd for fd in scalars if not _present(msg, fd)]
            if unset:
                sites.append((msg, rng.choice(unset), None))
        for fd, value in msg.ListFields():
            _, kind, flag = fields[fd.name]
            if kind == _MAP:
                for key in list(value)[:50]:
                    sites.append((msg, fd, ("map", key)))
                    strings.append(key)
                    if flag:
                        stack.append(value[key])
                sites.append((msg, fd, ("map", None)))
            elif kind == _REPEATED:
                sites.append((msg, fd, None))
                if fd.type == F.TYPE_MESSAGE:
                    for index, item in enumerate(value[:200]):
                        sites.append((msg, fd, index))
                        stack.append(item)
                elif flag:
                    strings.extend(value[:20])
            elif kind == _MESSAGE:
                sites.append((msg, fd, None))
                stack.append(value)
            else:
                sites.append((msg, fd, None))
                if flag and len(strings) < 2000:
                    strings.append(value)
    if not sites:
        return
    parent, fd, where = rng.choice(sites)
    field = getattr(parent, fd.name)
    try:
        if isinstance(where, tuple):  # a map entry
            _, key = where
            keys = list(field)
            if key is None or rng.random() < 0.3:
                if keys and rng.random() < 0.5:
                    del field[rng.choice(keys)]
                elif keys:
                    new_key = _scalar(fd.message_type.fields_by_name["key"], keys[0], rng, strings)
                    source = field[rng.choice(keys)]
                    if hasattr(source, "CopyFrom"):
                        field[new_key].CopyFrom(source)
                    else:
                        field[new_key] = source
            else:
                value_fd = fd.message_type.fields_by_name["value"]
                if value_fd.type != F.TYPE_MESSAGE:
                    field[key] = _scalar(value_fd, field[key], rng, strings)
                else:
                    field[key].Clear() if rng.random() < 0.3 else proto_mutate(field[key], rng, 200)
        elif _repeated(fd) and where is None:
            action = rng.randrange(5)
            if action == 0 and len(field):
                del field[rng.randrange(len(field))]
            elif action == 1 and len(field) and fd.type == F.TYPE_MESSAGE:
                field.add().CopyFrom(field[rng.randrange(len(field))])
            elif action == 1 and len(field):
                field.append(field[rng.randrange(len(field))])
            elif action == 2 and fd.type != F.TYPE_MESSAGE:
                field.append(_scalar(fd, None, rng, strings))
            elif action == 3 and len(field) > 1 and fd.type != F.TYPE_MESSAGE:
                items = list(field)
                rng.shuffle(items)
                del field[:]
                field.extend(items)
            elif action == 4 and len(field):
                del field[rng.randrange(len(field)):]
            elif fd.type == F.TYPE_MESSAGE:
                field.add()
        elif _repeated(fd):  # one element of a repeated message field
            if rng.random() < 0.5:
                del field[where]
            else:
                field[where].Clear()
        elif fd.type == F.TYPE_MESSAGE:
            parent.ClearField(fd.name)
        else:
            setattr(parent, fd.name, _scalar(fd, field, rng, strings))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        pass  # an edit the runtime refuses (e.g. a oneof clash): this round changes nothing


def proto_bytes_mutate(data: bytes, message_type: Callable[[], Any], rng: Rng) -> bytes:
    message = message_type()
    try:
        message.ParseFromString(data)
    except Exception:  # noqa: BLE001  (already broken: keep mutating its bytes)
        return bytes_mutate(data, rng)
    for _ in range(rng.choice((1, 1, 2, 3))):
        proto_mutate(message, rng)
    try:
        return message.SerializeToString()
    except Exception:  # noqa: BLE001  (an edit left an unserializable message)
        return data


# ----- HDF5 -------------------------------------------------------------------------------------------

def _h5_objects(handle: Any) -> list[tuple[str, Any]]:
    import h5py

    found: list[tuple[str, Any]] = [("/", handle)]

    def visit(name: str, obj: Any) -> None:
        if len(found) < 2000:
            found.append((name, obj))

    try:
        handle.visititems(visit)
    except Exception:  # noqa: BLE001  (a damaged file: edit what was found)
        pass
    return [(n, o) for n, o in found if isinstance(o, (h5py.Group, h5py.Dataset))]


def _mutate_attr(obj: Any, rng: Rng) -> None:
    import numpy as np

    names = list(obj.attrs)
    if not names:
        obj.attrs["junk"] = rng.choice(INTERESTING_STRINGS)
        return
    name = rng.choice(names)
    value = obj.attrs[name]
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    action = rng.randrange(6)
    if isinstance(text, str) and text[:1] in "{[" and action < 4:
        try:
            obj.attrs[name] = json.dumps(json_mutate(json.loads(text), rng, rng.choice((1, 2, 3))))
            return
        except (ValueError, RecursionError):
            pass
    array = np.asarray(value)
    if action == 0:
        del obj.attrs[name]
    elif action == 1 and array.ndim == 1 and array.size:
        items = list(array)
        op = rng.randrange(4)
        if op == 0:
            del items[rng.randrange(len(items))]
        elif op == 1:
            items.append(rng.choice(items))
        elif op == 2:
            rng.shuffle(items)
        else:
            items[rng.randrange(len(items))] = rng.choice(INTERESTING_STRINGS).encode()
        try:
            obj.attrs[name] = np.array(items)
        except (TypeError, ValueError):
            obj.attrs[name] = np.array([str(i) for i in items], dtype="S")
    elif action == 2:
        obj.attrs[name] = rng.choice((np.arange(rng.randrange(0, 5)), np.zeros(0), 7, 1.5, b"",
                                      np.array([b"a", b"b"]), np.array([[1, 2], [3, 4]])))
    elif action == 3:
        obj.attrs[name] = rng.choice(INTERESTING_STRINGS)
    else:
        chunked = rng.randrange(4)
        obj.attrs[f"{name}{chunked}"] = value  # Keras' split-attribute spelling


def _mutate_dataset(group: Any, name: str, dataset: Any, rng: Rng) -> None:
    import numpy as np

    shape = tuple(dataset.shape or ())
    action = rng.randrange(7)
    parent = dataset.parent
    leaf = dataset.name.rsplit("/", 1)[-1]
    if action == 0:
        del parent[leaf]
        return
    try:
        small = dataset.size * dataset.dtype.itemsize < (1 << 20)
        data = dataset[()] if small else np.zeros((2, 2), np.float32)  # a mutant may declare terabytes
    except Exception:  # noqa: BLE001
        data = np.zeros((2, 2), np.float32)
    del parent[leaf]
    if action == 1:  # another shape, same dtype
        dims = list(shape) or [1]
        index = rng.randrange(len(dims))
        dims[index] = rng.choice((0, 1, dims[index] + 1, max(dims[index] - 1, 0)))
        if rng.random() < 0.3:
            dims.append(rng.choice((1, 2)))
        parent.create_dataset(leaf, data=np.resize(np.asarray(data), dims).astype(np.asarray(data).dtype))
    elif action == 2:  # another dtype
        dtype = rng.choice(("<f2", "<f8", "<i8", "<i4", "|b1", "<u2", "|S4", "<c8"))
        try:
            parent.create_dataset(leaf, data=np.asarray(data).astype(dtype))
        except (TypeError, ValueError):
            parent.create_dataset(leaf, data=np.zeros(shape, dtype))
    elif action == 3:  # a declared shape with no storage written (reads as the fill value)
        dims = [rng.choice((2, 1000, 10 ** 5, 10 ** 6)) for _ in range(rng.randrange(1, 4))]
        parent.create_dataset(leaf, shape=dims, dtype=rng.choice(("<f4", "<f8", "|u1")))
    elif action == 4:  # scalar / empty / string
        parent.create_dataset(leaf, data=rng.choice((np.float32(1.0), np.zeros(0, np.float32), "text",
                                                     np.array([b"a", b"bc"]))))
    elif action == 5:  # chunked and compressed: declared bytes differ from stored ones
        parent.create_dataset(leaf, data=np.asarray(data), chunks=True, compression="gzip")
    else:
        parent.create_dataset(leaf, data=np.asarray(data))
        parent[leaf].attrs["dtype"] = rng.choice(("bfloat16", "float8", "float32"))


def _mutate_links(handle: Any, objects: list[tuple[str, Any]], rng: Rng) -> None:
    import h5py

    groups = [(n, o) for n, o in objects if isinstance(o, h5py.Group)]
    name, group = rng.choice(groups)
    other_name = "/" + rng.choice(objects)[0].lstrip("/")
    new = f"link_{rng.randrange(1000)}"
    action = rng.randrange(6)
    if action == 0:
        group[new] = h5py.SoftLink(other_name)
    elif action == 1:
        group[new] = h5py.SoftLink(rng.choice(("/nowhere", other_name + "/deeper", "..", new)))
    elif action == 2:
        group[new] = h5py.ExternalLink(rng.choice(("other.h5", "missing.h5", "/etc/passwd")), "/kernel")
    elif action == 3:
        group[new] = handle[other_name] if other_name in handle else group  # a hard link, maybe a cycle
    elif action == 4 and name != "/":
        # Replace a member by a link with its name: the reader follows what it thinks is data.
        members = list(group)
        if members:
            victim = rng.choice(members)
            del group[victim]
            group[victim] = rng.choice((h5py.SoftLink(other_name), h5py.ExternalLink("other.h5", "/kernel")))
    else:
        members = list(group)
        if members:
            del group[rng.choice(members)]


_SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None  # h5py edits a file: keep it in memory
EDIT_SECONDS = 2.0  # CPU time an h5py edit may take before the mutator falls back to a byte edit


class _SlowEdit(Exception):
    """Raised by the CPU timer when h5py spends too long editing a damaged file."""


def _cpu_limit(seconds: float) -> AbstractContextManager[None]:
    """h5py, editing a mutant of a mutant, can spin for many seconds inside HDF5 (rare, seen once in
    ~3000 edits): time spent in the mutator is not a reader finding, and a silent worker looks like a
    hang to the supervisor, so an edit gets ``seconds`` of CPU time."""
    return cpu_time_limit(seconds, _SlowEdit)


def _h5_edit(path: str, rng: Rng) -> None:
    import h5py

    with _cpu_limit(EDIT_SECONDS), h5py.File(path, "r+") as handle:
        objects = _h5_objects(handle)
        for _ in range(rng.choice((1, 1, 2, 3))):
            kind = rng.randrange(10)
            name, obj = rng.choice(objects)
            if kind < 5:
                _mutate_attr(obj, rng)
            elif kind < 8:
                datasets = [(n, o) for n, o in objects if isinstance(o, h5py.Dataset) and o.id.valid]
                if datasets:
                    _mutate_dataset(handle, *rng.choice(datasets), rng)
            else:
                _mutate_links(handle, objects, rng)
            objects = _h5_objects(handle)


def _h5_edit_in_child(path: str, seed: int) -> bool:
    """The h5py edit in a forked child; True when it finished.  HDF5 writing into a damaged file can
    crash or corrupt the heap of the process doing it (seen: SIGSEGV in H5Gunlink on a corrupt B-tree),
    and a worker so damaged would crash later on an innocent case and blame the converter for it."""
    pid = os.fork()
    if pid == 0:  # the child: edit, then leave without running the parent's cleanup
        code = 1
        try:
            limit = int(EDIT_SECONDS) + 3  # a backstop for a loop in C, where the CPU timer cannot act
            resource.setrlimit(resource.RLIMIT_CPU, (limit, limit))
            _h5_edit(path, random.Random(seed))
            code = 0
        except BaseException:  # noqa: BLE001  (any failure: the parent falls back to a byte edit)
            pass
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def h5_mutate(data: bytes, rng: Rng) -> bytes:
    from tfjsconv.errors import InputError
    from tfjsconv.readers.keras.h5_guard import check_global_heaps

    with tempfile.NamedTemporaryFile(suffix=".h5", dir=_SCRATCH) as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            check_global_heaps(Path(tmp.name))  # damage that makes HDF5 itself loop: no h5py here
        except InputError:
            return bytes_mutate(data, rng)
        if not _h5_edit_in_child(tmp.name, rng.getrandbits(64)):
            return bytes_mutate(data, rng)  # h5py could not edit this file (in time): mutate its bytes
        return Path(tmp.name).read_bytes()


# ----- zip (.keras) -----------------------------------------------------------------------------------

def zip_mutate(data: bytes, rng: Rng) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [(info, archive.read(info)) for info in archive.infolist()]
    except Exception:  # noqa: BLE001
        return bytes_mutate(data, rng)
    action = rng.randrange(9)
    names = [info.filename for info, _ in members]
    if action == 0 and members:  # rename
        index = rng.randrange(len(members))
        members[index][0].filename = rng.choice(("../../escape.txt", "/abs.txt", "C:/x", "model.weights.h5",
                                                 "config.json", "a/../../b", names[index].upper(),
                                                 "model.weights.npz", "assets/x"))
    elif action == 1 and members:  # drop
        del members[rng.randrange(len(members))]
    elif action == 2 and members:  # duplicate a member name
        info, content = rng.choice(members)
        members.append((zipfile.ZipInfo(rng.choice(names)), content))
    elif action in (3, 4):  # mutate a JSON member
        candidates = [i for i, (info, _) in enumerate(members) if info.filename.endswith(".json")]
        if candidates:
            index = rng.choice(candidates)
            members[index] = (members[index][0], json_bytes_mutate(members[index][1], rng))
    elif action in (5, 6):  # mutate the weights file
        candidates = [i for i, (info, _) in enumerate(members) if info.filename.endswith(".h5")]
        if candidates:
            index = rng.choice(candidates)
            mutate = h5_mutate if action == 5 else bytes_mutate
            members[index] = (members[index][0], mutate(members[index][1], rng))
    elif action == 7:
        name = rng.choice(INTERESTING_STRINGS) or "empty"
        members.append((zipfile.ZipInfo(name), b"x" * rng.randrange(100)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate member names are one of the mutations
        for info, content in members:
            info.compress_type = rng.choice((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED))
            try:
                archive.writestr(info, content)
            except (ValueError, OSError):
                pass
    blob = bytearray(out.getvalue())
    if action == 8 and len(blob) > 30:
        # Lie about a declared size in a local or central header (zip-bomb and truncation shapes).
        signature = rng.choice((b"PK\x03\x04", b"PK\x01\x02"))
        at = blob.find(signature)
        if at >= 0:
            offset = at + (22 if signature == b"PK\x03\x04" else 24)
            struct.pack_into("<I", blob, offset, rng.choice((0, 1, 2 ** 31, 2 ** 32 - 1, 10 ** 9)))
    return bytes(blob)


# ----- the reader mutators ----------------------------------------------------------------------------

def _pick(case: Case, rng: Rng, suffixes: tuple[str, ...]) -> str:
    names = [n for n in case.files if n.endswith(suffixes)]
    return rng.choice(names or list(case.files))


def _mutate_h5_case(case: Case, rng: Rng) -> None:
    name = _pick(case, rng, (".h5",))
    mutate = h5_mutate if rng.random() < 0.7 else bytes_mutate
    case.files[name] = mutate(case.files[name], rng)


def _mutate_zip_case(case: Case, rng: Rng) -> None:
    mutate = zip_mutate if rng.random() < 0.8 else bytes_mutate
    case.files["model.keras"] = mutate(case.files["model.keras"], rng)


def _keras_metadata_mutate(data: bytes, rng: Rng) -> bytes:
    """keras_metadata.pb: a SavedMetadata whose nodes carry layer configs as JSON strings. Mostly
    edit one node's JSON (what the keras_saved_model reader interprets), else the proto's fields."""
    from tfjsconv._proto.saved_metadata_pb2 import SavedMetadata

    message = SavedMetadata()
    try:
        message.ParseFromString(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends: fall back to bytes
        return bytes_mutate(data, rng)
    if message.nodes and rng.random() < 0.7:
        node = rng.choice(list(message.nodes))
        node.metadata = json_bytes_mutate(node.metadata.encode(), rng).decode("utf-8", "replace")
        return message.SerializeToString()
    return proto_bytes_mutate(data, SavedMetadata, rng)


def _mutate_saved_model_case(case: Case, rng: Rng) -> None:
    from tfjsconv._proto import graph_pb2, saved_model_pb2

    roll = rng.random()
    metadata = f"{case.entry}/keras_metadata.pb"
    if metadata in case.files and roll < 0.3:
        case.files[metadata] = _keras_metadata_mutate(case.files[metadata], rng)
    elif roll < 0.8:
        name = _pick(case, rng, ("saved_model.pb", "model.pb"))
        kind = graph_pb2.GraphDef if name.endswith("model.pb") and not name.endswith("saved_model.pb") \
            else saved_model_pb2.SavedModel
        case.files[name] = proto_bytes_mutate(case.files[name], kind, rng)
    elif roll < 0.9 and any("variables/" in n for n in case.files):
        _mutate_checkpoint_case(case, rng, prefix=f"{case.entry}/variables/variables")
    else:
        name = rng.choice(list(case.files))
        case.files[name] = bytes_mutate(case.files[name], rng)


def _mutate_checkpoint_case(case: Case, rng: Rng, prefix: str = "variables/variables") -> None:
    from tfjsconv._proto.tensor_bundle_pb2 import BundleEntryProto, BundleHeaderProto
    from tfjsconv.errors import InputError
    from tfjsconv.readers.tf.sstable import read_table
    from tfjsconv.writers.tf.sstable import build_table

    index_name = prefix + ".index"
    if index_name not in case.files:
        return
    roll = rng.random()
    if roll < 0.6:
        try:
            entries = read_table(case.files[index_name], Path(index_name))
        except InputError:
            case.files[index_name] = bytes_mutate(case.files[index_name], rng)
            return
        index = rng.randrange(len(entries))
        key, value = entries[index]
        action = rng.randrange(6)
        if action <= 2:
            kind = BundleHeaderProto if key == b"" else BundleEntryProto
            entries[index] = (key, proto_bytes_mutate(value, kind, rng))
        elif action == 3 and key:
            del entries[index]
        elif action == 4 and key:
            entries[index] = (bytes_mutate(key, rng) or b"k", value)
        else:
            entries.append((rng.choice((b"\x00" + key, key + b"/x", b"_CHECKPOINTABLE_OBJECT_GRAPH")), value))
        unique = dict(sorted(entries))
        if b"" not in unique:
            unique[b""] = BundleHeaderProto(num_shards=1).SerializeToString()
        case.files[index_name] = build_table(sorted(unique.items()))
    else:
        shards = [n for n in case.files if n.startswith(prefix + ".data-")]
        name = rng.choice(shards or [index_name])
        case.files[name] = bytes_mutate(case.files[name], rng)


def _mutate_onnx_case(case: Case, rng: Rng) -> None:
    roll = rng.random()
    if roll < 0.8:
        try:
            import onnx
        except ImportError:
            case.files["model.onnx"] = bytes_mutate(case.files["model.onnx"], rng)
            return
        case.files["model.onnx"] = proto_bytes_mutate(case.files["model.onnx"], onnx.ModelProto, rng)
    else:
        name = rng.choice(list(case.files))
        case.files[name] = bytes_mutate(case.files[name], rng)


def _mutate_layers_case(case: Case, rng: Rng) -> None:
    roll = rng.random()
    if roll < 0.75:
        data = case.files[case.entry]
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            case.files[case.entry] = bytes_mutate(data, rng)
            return
        manifest = document.get("weightsManifest") if isinstance(document, dict) else None
        if isinstance(manifest, list) and manifest and rng.random() < 0.6:
            target = rng.choice(manifest)  # aim at the manifest: shapes, dtypes, quantization, paths
            json_mutate(target, rng, rng.choice((1, 2)))
        else:
            json_mutate(document, rng, rng.choice((1, 2, 3)))
        case.files[case.entry] = json.dumps(document).encode()
    else:
        shards = [n for n in case.files if n.endswith(".bin")]
        name = rng.choice(shards or [case.entry])
        action = rng.randrange(3)
        if action == 0:
            case.files[name] = case.files[name][:rng.randrange(len(case.files[name]) + 1)]
        elif action == 1:
            case.files[name] += bytes(rng.randrange(1, 64))
        else:
            case.files[name] = bytes_mutate(case.files[name], rng)


MUTATORS: dict[str, Callable[[Case, Rng], None]] = {
    "h5": _mutate_h5_case,
    "zip": _mutate_zip_case,
    "saved_model": _mutate_saved_model_case,
    "checkpoint": _mutate_checkpoint_case,
    "onnx": _mutate_onnx_case,
    "layers": _mutate_layers_case,
    "graph_model": _mutate_layers_case,  # the same model.json + shards shape: topology and manifest
}


def mutate(reader: str, case: Case, rng: Rng, rounds: int = 0) -> Case:
    """A mutated copy of ``case`` (1-3 edits unless ``rounds`` says how many)."""
    out = case.copy()
    for _ in range(rounds or rng.choice((1, 1, 1, 2, 3))):
        MUTATORS[reader](out, rng)
    return out
