"""PyTorch state dicts (``.pth``) read into numpy arrays without torch and without running pickle code.

A ``.pth`` file is a pickle whose tensors point at raw storages: either the legacy format (a
magic number, a protocol version and system information, the pickle, the list of storage keys,
then each storage as an int64 element count and its bytes) or the zip format of torch ≥ 1.6
(``data.pkl`` and one ``data/KEY`` file per storage). Pickle runs whatever globals the file
names; :class:`_Restricted` admits exactly the ones a state dict needs — ``OrderedDict``,
``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` and the storage classes — mapped to
stand-ins here, and refuses every other global by name. Tensors are rebuilt with their stored
offset, shape and strides (weights converted from TensorFlow are often not contiguous).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["load_state_dict", "StateDictError", "UnsafePickle"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
            "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
            "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class StateDictError(ValueError):
    """The file is not a state dict of tensors this reader understands; the message names the file."""


class UnsafePickle(StateDictError):
    """The pickle names a global a state dict never needs (so it could run arbitrary code)."""


class _Storage:
    def __init__(self, name: str):
        self.dtype = np.dtype(STORAGES[name])


class _Tensor:
    """A tensor as the pickle describes it, before its storage is read."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)


def _rebuild_tensor(storage, offset, shape, stride, *args):
    return _Tensor(storage, offset, shape, stride)


def _rebuild_parameter(tensor, *args):
    return tensor


class _Restricted(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGES:
            return ("storage-type", name)
        raise UnsafePickle(f"{self.path}: the pickle calls {module}.{name}, which a state dict never needs; "
                           f"refusing to run it")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count[, view metadata])
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage" \
                or not (isinstance(pid[1], tuple) and pid[1][:1] == ("storage-type",)):
            raise StateDictError(f"{self.path}: unexpected persistent id {pid!r} in the pickle")
        return {"type": pid[1][1], "key": str(pid[2]), "count": int(pid[4])}


def _unpickle(data: bytes, path: Path):
    try:
        return _Restricted(io.BytesIO(data), path).load()
    except StateDictError:
        raise
    except Exception as error:  # noqa: BLE001 — a corrupt pickle raises many types
        raise StateDictError(f"{path}: not a readable state dict ({type(error).__name__}: {error})") from None


def _tensors(obj, path: Path) -> dict:
    if not isinstance(obj, dict):
        raise StateDictError(f"{path}: holds a {type(obj).__name__}, not a state dict (a mapping of names to tensors)")
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):  # a training checkpoint
        obj = obj["state_dict"]
    bad = [k for k, v in obj.items() if not isinstance(v, _Tensor)]
    if bad:
        raise StateDictError(f"{path}: entry {bad[0]!r} is a {type(obj[bad[0]]).__name__}, not a tensor")
    return obj


def _build(tensors: dict, storages: dict, path: Path) -> dict[str, np.ndarray]:
    out = {}
    for name, t in tensors.items():
        flat = storages.get(t.storage["key"])
        if flat is None:
            raise StateDictError(f"{path}: tensor {name!r} points at storage {t.storage['key']!r}, which is missing")
        extent = t.offset + sum((n - 1) * s for n, s in zip(t.shape, t.stride)) + 1 if all(t.shape) else t.offset
        if extent > flat.size or t.offset < 0 or any(s < 0 for s in t.stride):
            raise StateDictError(f"{path}: tensor {name!r} {list(t.shape)} reaches past its storage "
                                 f"({flat.size} elements)")
        view = np.lib.stride_tricks.as_strided(flat[t.offset:], t.shape, [s * flat.itemsize for s in t.stride])
        out[name] = np.ascontiguousarray(view).copy()  # contiguous, writable, detached from the file's bytes
    return out


def _legacy(data: bytes, path: Path) -> dict[str, np.ndarray]:
    stream = io.BytesIO(data)
    try:
        magic = pickle.load(stream)
    except Exception:  # noqa: BLE001
        magic = None
    if magic != LEGACY_MAGIC:
        raise StateDictError(f"{path}: not a PyTorch file (neither the zip format nor the legacy magic number)")
    for _ in range(2):  # protocol version, system information: plain values
        _Restricted(stream, path).load()
    unpickler = _Restricted(stream, path)
    try:
        obj = unpickler.load()
        keys = _Restricted(stream, path).load()
    except StateDictError:
        raise
    except Exception as error:  # noqa: BLE001
        raise StateDictError(f"{path}: truncated or corrupt ({type(error).__name__}: {error})") from None
    tensors = _tensors(obj, path)
    types = {t.storage["key"]: t.storage["type"] for t in tensors.values()}
    storages = {}
    for key in keys:
        header = stream.read(8)
        if len(header) < 8:
            raise StateDictError(f"{path}: truncated: storage {key!r} is missing")
        count = struct.unpack("<q", header)[0]
        dtype = np.dtype(STORAGES[types.get(str(key), "FloatStorage")])
        raw = stream.read(count * dtype.itemsize)
        if len(raw) < count * dtype.itemsize:
            raise StateDictError(f"{path}: truncated: storage {key!r} holds {len(raw)} of {count * dtype.itemsize} bytes")
        storages[str(key)] = np.frombuffer(raw, dtype=dtype)
    return _build(tensors, storages, path)


def _zipped(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise StateDictError(f"{path}: a damaged zip archive ({error})") from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise StateDictError(f"{path}: a zip archive without data.pkl, not a PyTorch file")
        root = pickles[0][: -len("data.pkl")]
        tensors = _tensors(_unpickle(archive.read(pickles[0]), path), path)
        storages = {}
        for t in tensors.values():
            key = t.storage["key"]
            if key not in storages:
                member = f"{root}data/{key}"
                if member not in names:
                    raise StateDictError(f"{path}: storage {member} is missing from the archive")
                storages[key] = np.frombuffer(archive.read(member), dtype=STORAGES[t.storage["type"]])
    return _build(tensors, storages, path)


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """{name: array} of a ``.pth`` state dict, in the file's order; refuses any pickle that calls
    something a state dict does not need (:class:`UnsafePickle`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StateDictError(f"{path}: cannot read ({error.strerror})") from None
    if zipfile.is_zipfile(io.BytesIO(data)):
        return _zipped(path)
    return _legacy(data, path)
