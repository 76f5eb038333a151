"""The safetensors format, read and written with numpy and json only.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then one data section.
The JSON maps each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative
to the data section) plus an optional ``"__metadata__"`` dict of strings. Tensors are read through one
``np.memmap`` per tensor, so a checkpoint is paged in tensor by tensor and a mapping is released as soon
as its copy is made: loading holds the checkpoint in memory about once, not twice.

Sharded checkpoints are the reference's layout: ``model.safetensors.index.json`` holding
``{"metadata": {"total_size": N}, "weight_map": {name: shard_file}}`` beside
``model-00001-of-0000K.safetensors`` files.
"""

import json
import math
import os
import re
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

from gpt_keras.checkpoints._files import read_json_file

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"

# Headers beyond this are corrupted files, not checkpoints (the reference's reader uses the same bound).
_MAX_HEADER_BYTES = 100_000_000
_HEADER_ALIGNMENT = 8

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}


class SafetensorsError(ValueError):
    """A safetensors file or index that is truncated, corrupted or inconsistent."""


class SafetensorsFile:
    """A validated safetensors file whose tensors are read on demand.

    The header is read and checked when the object is made; tensor data is touched only by
    :meth:`get_tensor`.

    Args:
        path: the ``.safetensors`` file.

    Raises:
        FileNotFoundError: the file does not exist.
        SafetensorsError: the header is truncated, not JSON, or describes tensors that do not fit the file.

    Example:
        >>> f = SafetensorsFile("model.safetensors")  # doctest: +SKIP
        >>> f.shape("transformer.tokens_embed.weight")  # doctest: +SKIP
        (40478, 768)
    """

    def __init__(self, path):
        self.path = Path(path)
        self.metadata, self._entries, self._data_start = _read_header(self.path)

    def keys(self):
        """The tensor names.

        Returns:
            A list of names, in data-offset order.
        """
        return list(self._entries)

    def shape(self, name):
        """The shape of one tensor, from the header.

        Args:
            name: a tensor name of this file.

        Returns:
            The tensor's shape as a tuple.
        """
        return self._entry(name)[1]

    def dtype(self, name):
        """The dtype of one tensor, from the header.

        Args:
            name: a tensor name of this file.

        Returns:
            The tensor's numpy dtype.
        """
        return self._entry(name)[0]

    def get_tensor(self, name, *, copy=True):
        """Reads one tensor.

        Args:
            name: a tensor name of this file.
            copy: True (default) returns an array that owns its memory and releases the file mapping
                at once; False returns a read-only ``np.memmap`` view, paged in as it is used.

        Returns:
            The tensor as a numpy array of its stored dtype and shape.
        """
        dtype, shape, begin, end = self._entry(name)
        if end == begin:
            return np.zeros(shape, dtype)
        mapped = np.memmap(self.path, dtype=dtype, mode="r", offset=self._data_start + begin, shape=shape)
        return np.array(mapped) if copy else mapped

    def _entry(self, name):
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path} (it has {len(self._entries)} tensors)") from None


def _read_header(path):
    try:
        file_size = path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"safetensors file not found: {path}") from None
    if file_size < 8:
        raise SafetensorsError(
            f"{path}: truncated safetensors file: expected at least 8 bytes (the header length), got {file_size}"
        )
    with open(path, "rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        if header_size > _MAX_HEADER_BYTES:
            raise SafetensorsError(
                f"{path}: corrupted safetensors file: header length field says {header_size} bytes, "
                f"expected at most {_MAX_HEADER_BYTES}"
            )
        if 8 + header_size > file_size:
            raise SafetensorsError(
                f"{path}: truncated safetensors file: header length field says {header_size} bytes, "
                f"but only {file_size - 8} bytes follow it"
            )
        raw_header = handle.read(header_size)
    try:
        header = json.loads(raw_header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SafetensorsError(f"{path}: corrupted safetensors header: not valid UTF-8 JSON ({error})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(
            f"{path}: corrupted safetensors header: expected a JSON object, got {type(header).__name__}"
        )
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{path}: __metadata__ must be an object of strings, got {metadata!r}")
    data_start = 8 + header_size
    entries = _validate_entries(path, header, file_size - data_start)
    return metadata, entries, data_start


def _validate_entries(path, header, data_size):
    entries = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(
                f"{path}: tensor {name!r}: expected an object with dtype, shape and data_offsets, got {entry!r}"
            )
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in _DTYPES:
            raise SafetensorsError(
                f"{path}: tensor {name!r}: unknown dtype {code!r}, expected one of {sorted(_DTYPES)}"
            )
        if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
            raise SafetensorsError(f"{path}: tensor {name!r}: shape must be a list of non-negative ints, got {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
            raise SafetensorsError(f"{path}: tensor {name!r}: data_offsets must be [begin, end], got {offsets!r}")
        dtype = _DTYPES[code]
        begin, end = offsets
        expected_bytes = math.prod(shape) * dtype.itemsize
        if end - begin != expected_bytes:
            raise SafetensorsError(
                f"{path}: tensor {name!r}: {code} {shape} needs {expected_bytes} bytes, "
                f"but data_offsets {offsets} span {end - begin}"
            )
        entries[name] = (dtype, tuple(shape), begin, end)
    ordered = dict(sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])))
    position = 0
    for name, (_, _, begin, end) in ordered.items():
        if begin != position:
            problem = "overlaps the previous tensor" if begin < position else "leaves a gap after the previous tensor"
            raise SafetensorsError(
                f"{path}: tensor {name!r}: data_offsets start at {begin}, expected {position} ({problem})"
            )
        position = end
    if position > data_size:
        raise SafetensorsError(
            f"{path}: truncated safetensors file: the header describes {position} bytes of tensor data, "
            f"but the file holds only {data_size}"
        )
    if position < data_size:
        raise SafetensorsError(
            f"{path}: corrupted safetensors file: the header describes {position} bytes of tensor data, "
            f"but the file holds {data_size} (trailing bytes)"
        )
    return ordered


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def load_safetensors(path, *, copy=True):
    """Reads every tensor of one safetensors file.

    Args:
        path: the ``.safetensors`` file.
        copy: as in :meth:`SafetensorsFile.get_tensor`.

    Returns:
        ``(tensors, metadata)``: a dict name → numpy array in the file's order, and the ``__metadata__`` dict.
    """
    reader = SafetensorsFile(path)
    return {name: reader.get_tensor(name, copy=copy) for name in reader.keys()}, reader.metadata


def read_index(index_path):
    """Reads and checks a sharded checkpoint's index.

    Args:
        index_path: the ``model.safetensors.index.json`` file; shard files are looked up beside it.

    Returns:
        A dict name → shard path, in the index's order.

    Raises:
        FileNotFoundError: the index or one of its shards is missing.
        SafetensorsError: the index is not JSON or has no ``weight_map`` of strings.
    """
    index_path = Path(index_path)
    index = read_json_file(index_path, SafetensorsError, "checkpoint index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise SafetensorsError(
            f"{index_path}: expected an object with a 'weight_map' of name → file, got {index!r:.200}"
        )
    shard_paths = {}
    for shard_name in sorted(set(weight_map.values())):
        if Path(shard_name).name != shard_name:
            raise SafetensorsError(f"{index_path}: shard {shard_name!r} must be a file name beside the index")
        shard_paths[shard_name] = index_path.parent / shard_name
        if not shard_paths[shard_name].is_file():
            raise FileNotFoundError(
                f"{index_path} lists shard {shard_name!r}, but {shard_paths[shard_name]} does not exist"
            )
    return {name: shard_paths[shard_name] for name, shard_name in weight_map.items()}


def open_sharded(index_path):
    """Opens every shard of a sharded checkpoint and checks it against the index.

    Args:
        index_path: the ``model.safetensors.index.json`` file.

    Returns:
        A dict name → (:class:`SafetensorsFile`, name in that file), in the index's order.

    Raises:
        SafetensorsError: a shard lacks a tensor the index puts in it, or holds one the index does not list.
    """
    locations = read_index(index_path)
    readers = {path: SafetensorsFile(path) for path in dict.fromkeys(locations.values())}
    for path, reader in readers.items():
        listed = {name for name, where in locations.items() if where == path}
        stored = set(reader.keys())
        if listed - stored:
            raise SafetensorsError(
                f"{path}: the index {index_path} puts tensors here that the shard lacks: {sorted(listed - stored)}"
            )
        if stored - listed:
            raise SafetensorsError(
                f"{path}: the shard holds tensors that the index {index_path} does not list: {sorted(stored - listed)}"
            )
    return {name: (readers[path], name) for name, path in locations.items()}


def save_safetensors(tensors, path, *, metadata=None):
    """Writes tensors to one safetensors file the reference reads unchanged.

    Tensors are laid out like the reference's writer does: by decreasing alignment, then by name.

    Args:
        tensors: a mapping name → array-like (numpy, or anything ``np.asarray`` takes).
        path: the file to write.
        metadata: extra string entries for ``__metadata__``; ``{"format": "pt"}`` is always included,
            because the reference refuses files without it.

    Returns:
        The number of bytes written.
    """
    arrays = _as_arrays(tensors, path)
    order = sorted(arrays, key=lambda name: (-arrays[name].dtype.itemsize, name))
    header = {"__metadata__": header_metadata(metadata)}
    position = 0
    for name in order:
        array = arrays[name]
        header[name] = {
            "dtype": _CODES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [position, position + array.nbytes],
        }
        position += array.nbytes
    raw_header = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw_header += b" " * (-len(raw_header) % _HEADER_ALIGNMENT)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw_header)))
        handle.write(raw_header)
        for name in order:
            _write_array(handle, arrays[name])
        handle.flush()
        os.fsync(handle.fileno())
    return 8 + len(raw_header) + position


def _write_array(handle, array):
    if array.nbytes:
        handle.write(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)


def header_metadata(metadata):
    """The ``__metadata__`` this package writes.

    Args:
        metadata: a dict of str → str, or None.

    Returns:
        ``{"format": "pt"}`` (the reference refuses files without it) updated with ``metadata``.
    """
    merged = {"format": "pt"}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"safetensors metadata must map str → str, got {key!r}: {value!r}")
        merged[key] = value
    return merged


def _as_arrays(tensors, path):
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"cannot write tensor name {name!r} to {path}: expected a str other than '__metadata__'")
        array = np.asarray(value)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        if array.dtype not in _CODES:
            raise TypeError(
                f"cannot write tensor {name!r} to {path}: dtype {array.dtype} has no safetensors code "
                f"(supported: {sorted(str(d) for d in _CODES)})"
            )
        arrays[name] = array
    return arrays


def parse_shard_size(size):
    """Turns a shard size into bytes.

    Args:
        size: an int (bytes) or a string: digits and a unit, decimal (``"KB"``, ``"MB"``, ``"GB"``) or
            binary (``"KiB"``, ``"MiB"``, ``"GiB"``), case-insensitive, e.g. ``"200MB"``, ``"2GB"``.

    Returns:
        The size in bytes, a positive int.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        number = size
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(|B|KB|MB|GB|KIB|MIB|GIB)\s*", str(size), flags=re.IGNORECASE)
        if match is None:
            raise ValueError(
                f"max_shard_size: expected bytes as an int or a string like '200MB' or '2GiB', got {size!r}"
            )
        factors = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
        number = int(match.group(1)) * factors[match.group(2).upper()]
    if number <= 0:
        raise ValueError(f"max_shard_size must be positive, got {size!r}")
    return number


def plan_shards(tensors, max_shard_size):
    """Splits tensors into shards of at most ``max_shard_size`` bytes of tensor data.

    Tensors keep their order; a shard is closed when the next tensor would overflow it, and a tensor larger
    than the limit gets a shard of its own (like the reference's splitter).

    Args:
        tensors: a mapping name → numpy array.
        max_shard_size: bytes, or a string for :func:`parse_shard_size`.

    Returns:
        A list of lists of names, one per shard.
    """
    limit = parse_shard_size(max_shard_size)
    shards, current, current_size = [], [], 0
    for name, array in tensors.items():
        size = np.asarray(array).nbytes
        if current and current_size + size > limit:
            shards.append(current)
            current, current_size = [], 0
        current.append(name)
        current_size += size
    if current or not shards:
        shards.append(current)
    return shards


def shard_file_name(number, count):
    """The reference's name for one shard file.

    Args:
        number: the shard's 1-based number.
        count: how many shards there are.

    Returns:
        The file name, e.g. ``model-00001-of-00003.safetensors``.
    """
    return f"model-{number:05d}-of-{count:05d}.safetensors"


def save_sharded_safetensors(tensors, directory, *, max_shard_size, metadata=None):
    """Writes tensors as the reference's sharded layout, or as one file when they fit in one shard.

    Args:
        tensors: a mapping name → array-like.
        directory: an existing directory to write into.
        max_shard_size: bytes, or a string for :func:`parse_shard_size`.
        metadata: extra ``__metadata__`` strings for every shard.

    Returns:
        The list of file names written (the index last, when there is one).
    """
    directory = Path(directory)
    arrays = _as_arrays(tensors, directory)
    shards = plan_shards(arrays, max_shard_size)
    if len(shards) == 1:
        save_safetensors(arrays, directory / SAFE_WEIGHTS_NAME, metadata=metadata)
        return [SAFE_WEIGHTS_NAME]
    written, weight_map = [], {}
    for number, names in enumerate(shards, start=1):
        file_name = shard_file_name(number, len(shards))
        save_safetensors({name: arrays[name] for name in names}, directory / file_name, metadata=metadata)
        weight_map.update(dict.fromkeys(names, file_name))
        written.append(file_name)
    index = {
        "metadata": {"total_size": sum(array.nbytes for array in arrays.values())},
        "weight_map": dict(sorted(weight_map.items())),
    }
    with open(directory / SAFE_WEIGHTS_INDEX_NAME, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(index, indent=2, sort_keys=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    written.append(SAFE_WEIGHTS_INDEX_NAME)
    return written
