"""safetensors files through the `safetensors` package, with errors that name the file and the tensor.

The package writes the format (the reference's own writer) and reads it: `safe_open` opens a file once and
copies each tensor out as it is asked for, bfloat16 included (through ml_dtypes). What this module adds:

- a check of the header before the package sees a file, whose messages say which file, which tensor and
  what was expected (the package's say "invalid header length" or "InvalidOffset", naming no file);
- one open file per :class:`SafetensorsFile`, so that every tensor of a load comes from one version of
  the file even when a save replaces it by name meanwhile;
- atomic writes (a temporary sibling renamed over the target).

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then one data section.
The JSON maps each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative
to the data section) plus an optional ``"__metadata__"`` dict of strings. Sharded checkpoints (the index
and its shards) are in :mod:`gpt_keras.checkpoints.shards`.
"""

import json
import math
import os
import struct
from pathlib import Path

import ml_dtypes
import numpy as np
from safetensors import SafetensorError as _PackageError
from safetensors import safe_open
from safetensors.numpy import save_file

from gpt_keras import _fs
from gpt_keras.checkpoints import _files

SAFE_WEIGHTS_NAME = "model.safetensors"

# Headers beyond this are corrupted files, not checkpoints (the reference's reader uses the same bound).
_MAX_HEADER_BYTES = 100_000_000

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


class CheckpointChangedError(SafetensorsError):
    """A file or a set of shards that a save replaced while it was being opened."""


class SafetensorsFile:
    """A validated safetensors file whose tensors are read on demand, all from one open file.

    The header is read and checked when the object is made; tensor data is touched only by
    :meth:`get_tensor`. The file stays open for the object's lifetime and the package reads tensors out of
    it, so a save that replaces the file by name meanwhile changes nothing that is read through it.

    Args:
        path: the ``.safetensors`` file.

    Raises:
        FileNotFoundError: the file does not exist.
        SafetensorsError: the header is truncated, not JSON, or describes tensors that do not fit the file.
        CheckpointChangedError: the file was replaced while it was being opened.

    Example:
        >>> f = SafetensorsFile("model.safetensors")  # doctest: +SKIP
        >>> f.shape("transformer.tokens_embed.weight")  # doctest: +SKIP
        (40478, 768)
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._handle = open(self.path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"safetensors file not found: {self.path}") from None
        try:
            self.metadata, self._entries, self._data_start = _read_header(self._handle, self.path)
            self._tensors = _open_with_package(self.path, self._handle)
        except BaseException:
            self._handle.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Closes the file (arrays already read stay valid)."""
        self._tensors = None
        self._handle.close()

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
            copy: True (default) returns an array of its own (the package reads it out of the open
                file); False returns a read-only ``np.memmap`` view, paged in as it is used.

        Returns:
            The tensor as a numpy array of its stored dtype and shape.
        """
        dtype, shape, begin, end = self._entry(name)
        if end == begin:
            return np.zeros(shape, dtype)
        if not copy:
            return np.memmap(self._handle, dtype=dtype, mode="r", offset=self._data_start + begin, shape=shape)
        try:
            return self._tensors.get_tensor(name)
        except _PackageError as error:
            raise SafetensorsError(f"{self.path}: tensor {name!r}: {error}") from None

    def _entry(self, name):
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path} (it has {len(self._entries)} tensors)") from None


def _open_with_package(path, handle):
    """Opens `path` with the package, checking that it is the file `handle` has open."""
    try:
        opened = _safe_open(path)
    except FileNotFoundError:
        opened = None
    except _PackageError as error:
        raise SafetensorsError(f"{path}: the safetensors package refuses the file: {error}") from None
    # A save replaces a file, never rewrites it: if the name still gives the file `handle` reads after the
    # package has opened it, the package opened that file too.
    status = os.fstat(handle.fileno())
    if opened is None or _fs.file_identity(path) != (status.st_dev, status.st_ino):
        raise CheckpointChangedError(f"{path} was replaced while it was being opened (a save is running); open it again")
    return opened


def _safe_open(path):
    try:
        # pread copies each tensor out of the open file without mapping it: a mapping keeps every tensor
        # already read resident until the file is closed (200 MB read tensor by tensor: 231 MB peak RSS
        # with "mmap", 41 MB with "pread").
        return safe_open(path, framework="np", backend="pread")
    except TypeError:  # safetensors before 0.8 only maps
        return safe_open(path, framework="np")


def _read_header(handle, path):
    file_size = os.fstat(handle.fileno()).st_size
    if file_size < 8:
        raise SafetensorsError(
            f"{path}: truncated safetensors file: expected at least 8 bytes (the header length), got {file_size}"
        )
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
    header = _files.parse_json(raw_header, SafetensorsError, f"{path}: corrupted safetensors header")
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
        if not isinstance(code, str) or code not in _DTYPES:
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
    with SafetensorsFile(path) as reader:
        return {name: reader.get_tensor(name, copy=copy) for name in reader.keys()}, reader.metadata


def save_safetensors(tensors, path, *, metadata=None):
    """Writes tensors to one safetensors file the reference reads unchanged, atomically.

    The package lays the tensors out as the reference does: by decreasing alignment, then by name.

    Args:
        tensors: a mapping name → array-like (numpy, or anything ``np.asarray`` takes).
        path: the file to write.
        metadata: extra string entries for ``__metadata__``; ``{"format": "pt"}`` is always included,
            because the reference refuses files without it.

    Returns:
        The number of bytes written.
    """
    path = Path(path)
    arrays = as_arrays(tensors, path)
    with _fs.atomic_path(path) as temporary:
        save_file(arrays, temporary, metadata=header_metadata(metadata))
    return path.stat().st_size


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


def as_arrays(tensors, path):
    """The tensors as C-ordered little-endian numpy arrays of a safetensors dtype, checked by name.

    Args:
        tensors: a mapping name → array-like.
        path: where they are going, for the messages.

    Returns:
        A dict name → numpy array.
    """
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"cannot write tensor name {name!r} to {path}: expected a str other than '__metadata__'")
        array = np.asarray(value)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        # The package writes each array's buffer as it lies in memory: it must be C-ordered and dense.
        array = array if array.flags.c_contiguous else array.copy(order="C")
        if array.dtype not in _CODES:
            raise TypeError(
                f"cannot write tensor {name!r} to {path}: dtype {array.dtype} has no safetensors code "
                f"(supported: {sorted(str(d) for d in _CODES)})"
            )
        arrays[name] = array
    return arrays
