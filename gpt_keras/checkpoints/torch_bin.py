"""PyTorch ``torch.save`` checkpoints (``pytorch_model.bin``), read without torch and without running pickles.

Since torch 1.6 a checkpoint is a zip archive ``<archive>/data.pkl`` (a pickle of the state dict in which
each tensor is ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` and each storage is
a persistent id ``("storage", torch.FloatStorage, key, location, numel)``), ``<archive>/data/<key>`` (the
raw bytes of each storage) and ``<archive>/byteorder``.

The pickle is read by an unpickler that resolves only the globals a state dict needs to names of its own:
any other global (``os.system``, ``builtins.eval``, ...) is refused before it could be called, so loading an
untrusted file never runs its code.
"""

import collections
import io
import numbers
import pickle
import pickletools
import struct
import zipfile
import zlib
from pathlib import Path

import ml_dtypes
import numpy as np

WEIGHTS_NAME = "pytorch_model.bin"
WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"

# A state dict's pickle holds names, shapes and storage keys, not data: the reference's 147 tensors
# take 25 kB. A bigger one is not a state dict, and is refused before it is read into memory.
_MAX_PICKLE_BYTES = 100_000_000
# numpy's limit is 64; a weight has at most 4 dimensions.
_MAX_DIMENSIONS = 32
# Copyreg extension codes name globals through a process-wide registry; torch.save never writes them.
_EXTENSION_OPCODES = ("EXT1", "EXT2", "EXT4")

# The first bytes of the legacy (torch < 1.6) format: a pickled magic number.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"

_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("f8"),
    "FloatStorage": np.dtype("f4"),
    "HalfStorage": np.dtype("f2"),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype("i8"),
    "IntStorage": np.dtype("i4"),
    "ShortStorage": np.dtype("i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A pickle asked for something a state dict never needs (a global or persistent id outside the allow-list)."""


class TorchCheckpointError(ValueError):
    """A PyTorch checkpoint that is in an unsupported format, truncated or inconsistent."""


class _Unbuildable:
    """What the unpickler hands out for an allowed global: a fresh object per load that a pickle's BUILD
    opcode cannot change (BUILD calls ``__setstate__``), so a hostile file cannot alter what a later,
    genuine checkpoint is read with."""

    __slots__ = ()

    def __setstate__(self, state):
        raise UnsafeCheckpointError(
            f"refusing to change the state of {self!r} (a pickle BUILD on an allowed global): a PyTorch state "
            "dict never does this; the file may be malicious"
        )


class _StorageType(_Unbuildable):
    """Stands for ``torch.<Name>Storage`` in the pickle: only its dtype matters."""

    __slots__ = ("name", "dtype")

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]

    def __repr__(self):
        return f"torch.{self.name}"


class _AllowedCallable(_Unbuildable):
    """An allowed function (or class) of the pickle, called through this wrapper."""

    __slots__ = ("qualified_name", "function")

    def __init__(self, qualified_name, function):
        self.qualified_name = qualified_name
        self.function = function

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def __repr__(self):
        return self.qualified_name


class _Tensor:
    """What ``_rebuild_tensor_v2`` returns while unpickling: a view to cut from a storage afterwards
    (its arguments are checked then, by `_check_view`, when the tensor's name is known)."""

    def __init__(self, storage, storage_offset, size, stride):
        self.storage, self.storage_offset, self.size, self.stride = storage, storage_offset, size, stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


_ALLOWED_CALLABLES = (
    ("torch._utils", "_rebuild_tensor_v2", _rebuild_tensor_v2),
    ("torch._utils", "_rebuild_parameter", _rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state", _rebuild_parameter),
    ("collections", "OrderedDict", collections.OrderedDict),
)


def _allowed_globals():
    """The allow-list, built anew for each load: nothing a file does can outlive its own load."""
    allowed = {(module, name): _AllowedCallable(f"{module}.{name}", function) for module, name, function in _ALLOWED_CALLABLES}
    allowed.update({("torch", name): _StorageType(name) for name in _STORAGE_DTYPES})
    return allowed


class _Storage:
    """One ``<archive>/data/<key>`` record, as a flat numpy array over the archive's bytes.

    A big-endian record is kept as big-endian unsigned ints of the element size (numpy has no big-endian
    bfloat16) and reinterpreted as ``dtype`` once cut and swapped to native order.
    """

    def __init__(self, array, key, dtype):
        self.array, self.key, self.dtype = array, key, dtype


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, handle, path, load_storage):
        super().__init__(handle)
        self._path = path
        self._load_storage = load_storage
        self._globals = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self._globals[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"{self._path}: refusing to load global {module}.{name}: a PyTorch state dict only needs "
                f"tensor-rebuild functions, storage types and OrderedDict. The file may be malicious; it was "
                f"not executed"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnsafeCheckpointError(
                f"{self._path}: unexpected persistent id {pid!r:.200}: expected ('storage', <torch storage type>, "
                f"key, location, numel)"
            )
        _, storage_type, key, _, numel = pid
        if not isinstance(key, (str, int)) or isinstance(key, bool) or not _is_count(numel):
            raise TorchCheckpointError(
                f"{self._path}: persistent id {pid!r:.200}: expected a str key and an integer element count >= 0"
            )
        return self._load_storage(storage_type.dtype, str(key), numel)


def load_torch_bin(path):
    """Reads a ``torch.save`` zip checkpoint into numpy arrays, without torch and without running pickled code.

    Tensors that are views (offsets, strides, several tensors on one storage) come out as the values
    PyTorch would show, each as its own contiguous array.

    Args:
        path: the ``pytorch_model.bin`` (any torch>=1.6 ``torch.save`` of a dict of tensors).

    Returns:
        A dict name → numpy array, in the pickle's order.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the pickle names a global outside the allow-list (the call never happens).
        TorchCheckpointError: the legacy (torch < 1.6) format, a corrupt archive, or a storage too small
            for the tensors cut from it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PyTorch checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            head = handle.read(len(_LEGACY_MAGIC))
        if head == _LEGACY_MAGIC or _looks_like_tar(path):
            raise TorchCheckpointError(
                f"{path}: this is the legacy torch.save format (torch < 1.6), which is not supported: re-save it "
                f"with torch>=1.6 (torch.save(torch.load(path), path)) or convert it to safetensors"
            )
        truncated = head.startswith(b"PK\x03\x04")  # a zip's first entry, but no readable directory at its end
        raise TorchCheckpointError(
            f"{path}: truncated or damaged: it starts as a zip archive but its directory cannot be read"
            if truncated
            else f"{path}: not a PyTorch checkpoint: expected a zip archive (torch>=1.6 torch.save)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return _load_from_archive(path, archive)
    except (zipfile.BadZipFile, EOFError, struct.error) as error:
        raise TorchCheckpointError(f"{path}: corrupted PyTorch checkpoint archive ({error})") from None


def _looks_like_tar(path):
    with open(path, "rb") as handle:
        handle.seek(257)
        return handle.read(5) == b"ustar"


def _load_from_archive(path, archive):
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise TorchCheckpointError(f"{path}: expected exactly one '<archive>/data.pkl' record, got {pickles or 'none'}")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = _read_byteorder(path, archive, prefix)
    storages = {}

    def load_storage(dtype, key, numel):
        if key not in storages:
            array = _storage_array(path, archive, f"{prefix}data/{key}", dtype, byteorder, numel)
            storages[key] = _Storage(array, key, dtype)
        return storages[key]

    state = _unpickle(path, pickles[0], _read_pickle(path, archive, pickles[0]), load_storage)
    if not isinstance(state, dict):
        raise TorchCheckpointError(f"{path}: expected the pickle to hold a dict of tensors, got {type(state).__name__}")
    for name, value in state.items():
        if not isinstance(value, _Tensor):
            raise TorchCheckpointError(
                f"{path}: expected a flat dict name → tensor, but {name!r} holds {type(value).__name__}"
            )
        _check_view(path, name, value)
    # Unmap each storage once its last tensor is copied out, so the file is not held twice in memory.
    uses = collections.Counter(value.storage.key for value in state.values())
    storages.clear()
    tensors = {}
    for name, value in state.items():
        tensors[name] = _cut_view(path, name, value)
        uses[value.storage.key] -= 1
        if not uses[value.storage.key]:
            value.storage.array = None
    return tensors


def _read_member(path, archive, record):
    """The bytes of one archive record, with the errors of a damaged or odd record named."""
    try:
        return archive.read(record)
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error, EOFError) as error:
        # RuntimeError: an encrypted record; NotImplementedError: a compression zipfile cannot read.
        raise TorchCheckpointError(f"{path}: record {record!r} cannot be read ({error})") from None


def _read_pickle(path, archive, record):
    size = archive.getinfo(record).file_size
    if size > _MAX_PICKLE_BYTES:
        raise TorchCheckpointError(
            f"{path}: {record!r} says it holds {size:,} bytes; a state dict's pickle holds names and shapes "
            f"only (expected at most {_MAX_PICKLE_BYTES:,})"
        )
    return _read_member(path, archive, record)


def _scan_pickle(path, record, data):
    """Reads every opcode of the pickle without running it: a count that claims more bytes than follow
    (a BINBYTES8 of 64 GiB) would make the unpickler allocate it first."""
    try:
        for opcode, _, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name in _EXTENSION_OPCODES:
                raise UnsafeCheckpointError(
                    f"{path}: {record} uses a copyreg extension code ({opcode.name}), which a torch.save state "
                    "dict never does; the file was not executed"
                )
    except UnicodeDecodeError as error:
        raise TorchCheckpointError(f"{path}: {record} holds a name that is not UTF-8 ({error})") from None
    except (ValueError, EOFError) as error:
        raise TorchCheckpointError(f"{path}: {record} is not a readable pickle ({error})") from None


def _unpickle(path, record, data, load_storage):
    _scan_pickle(path, record, data)
    try:
        return _RestrictedUnpickler(io.BytesIO(data), path, load_storage).load()
    except (UnsafeCheckpointError, TorchCheckpointError) as error:
        if str(path) in str(error):
            raise
        raise type(error)(f"{path}: {error}") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError, EOFError) as error:
        # What the opcodes of a hostile pickle make the unpickler raise (a REDUCE with the wrong arguments,
        # a SETITEMS on a list, ...): none of them was a state dict.
        raise TorchCheckpointError(f"{path}: {record} is not a torch state dict ({type(error).__name__}: {error})") from None


def _is_count(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _read_byteorder(path, archive, prefix):
    try:
        archive.getinfo(f"{prefix}byteorder")
    except KeyError:
        return "little"
    try:
        byteorder = _read_member(path, archive, f"{prefix}byteorder").decode("ascii").strip()
    except UnicodeDecodeError:
        byteorder = "not ASCII"
    if byteorder not in ("little", "big"):
        raise TorchCheckpointError(f"{path}: byteorder record says {byteorder!r}, expected 'little' or 'big'")
    return byteorder


def _storage_array(path, archive, record, dtype, byteorder, numel):
    try:
        info = archive.getinfo(record)
    except KeyError:
        raise TorchCheckpointError(
            f"{path}: the pickle refers to storage record {record!r}, which is missing"
        ) from None
    if info.file_size != numel * dtype.itemsize:
        raise TorchCheckpointError(
            f"{path}: storage record {record!r} holds {info.file_size} bytes, expected {numel} × {dtype.itemsize}"
        )
    if info.flag_bits & 0x1:
        raise TorchCheckpointError(f"{path}: storage record {record!r} is encrypted; torch.save writes plain records")
    if byteorder == "big" and dtype.itemsize > 1:
        dtype = np.dtype(f">u{dtype.itemsize}")
    if numel == 0:
        return np.zeros(0, dtype)
    if info.compress_type == zipfile.ZIP_STORED:
        # torch writes storages uncompressed: map them in place instead of reading them into memory.
        return np.memmap(path, dtype=dtype, mode="r", offset=_member_data_offset(path, info), shape=(numel,))
    file_bytes = path.stat().st_size
    if info.file_size > file_bytes:
        raise TorchCheckpointError(
            f"{path}: storage record {record!r} would need {info.file_size:,} bytes once decompressed, more than the "
            f"whole file's {file_bytes:,}; expected uncompressed storages (as torch.save writes them)"
        )
    return np.frombuffer(_read_member(path, archive, record), dtype=dtype)


def _member_data_offset(path, info):
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local_header = handle.read(30)
    if len(local_header) != 30 or local_header[:4] != b"PK\x03\x04":
        raise TorchCheckpointError(f"{path}: corrupted zip local header for record {info.filename!r}")
    name_length, extra_length = struct.unpack("<HH", local_header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def _check_view(path, name, tensor):
    """Checks the arguments a pickle gave `_rebuild_tensor_v2` for tensor `name` (and makes size and
    stride tuples)."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(tensor.storage, _Storage):
        raise TorchCheckpointError(f"{where}: expected a storage, got {type(tensor.storage).__name__}")
    for argument in ("size", "stride"):
        value = getattr(tensor, argument)
        if not isinstance(value, (tuple, list)) or not all(_is_count(n) or argument == "stride" and _is_int(n) for n in value):
            raise TorchCheckpointError(f"{where}: {argument} must be a tuple of integers, got {value!r:.200}")
        setattr(tensor, argument, tuple(int(n) for n in value))
    if len(tensor.size) > _MAX_DIMENSIONS:
        raise TorchCheckpointError(f"{where}: {len(tensor.size)} dimensions, expected at most {_MAX_DIMENSIONS}")
    if not _is_count(tensor.storage_offset):
        raise TorchCheckpointError(f"{where}: storage offset must be an integer >= 0, got {tensor.storage_offset!r:.100}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _cut_view(path, name, tensor):
    storage = tensor.storage.array
    if len(tensor.size) != len(tensor.stride):
        raise TorchCheckpointError(
            f"{path}: tensor {name!r}: size {tensor.size} and stride {tensor.stride} have different lengths"
        )
    if 0 in tensor.size:
        return np.zeros(tensor.size, tensor.storage.dtype)
    numel = int(np.prod(tensor.size, dtype=object))
    if numel > storage.size:
        # Only a stride of 0 repeats elements: a tensor of a state dict never holds more than its storage,
        # and copying one that does could take any amount of memory (10**10 elements from 4 bytes).
        raise TorchCheckpointError(
            f"{path}: tensor {name!r}: size {tensor.size} has {numel:,} elements, more than its storage "
            f"{tensor.storage.key!r} holds ({storage.size:,}): it would need {numel * storage.itemsize:,} bytes"
        )
    last = tensor.storage_offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride))
    if min(tensor.stride, default=0) < 0 or last >= storage.size:
        raise TorchCheckpointError(
            f"{path}: tensor {name!r}: offset {tensor.storage_offset}, size {tensor.size} and stride {tensor.stride} "
            f"reach element {last}, but its storage {tensor.storage.key!r} has {storage.size}"
        )
    view = np.lib.stride_tricks.as_strided(
        storage[tensor.storage_offset :],
        shape=tensor.size,
        strides=[s * storage.itemsize for s in tensor.stride],
        writeable=False,
    )
    copy = np.array(view, dtype=storage.dtype.newbyteorder("="), order="C")
    return copy if copy.dtype == tensor.storage.dtype else copy.view(tensor.storage.dtype)
