"""pytorch_model.bin without torch: views of storages, and pickles that try to run code."""

import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from gpt_keras.checkpoints import torch_bin
from gpt_keras.checkpoints.torch_bin import TorchCheckpointError, UnsafeCheckpointError


class PickleWriter:
    """Assembles a protocol-2 pickle of a torch state dict, opcode by opcode (torch is not available here)."""

    def __init__(self):
        self.out = io.BytesIO()
        self.out.write(b"\x80\x02")

    def op(self, raw):
        self.out.write(raw)

    def string(self, text):
        data = text.encode()
        self.op(b"X" + struct.pack("<I", len(data)) + data)

    def integer(self, value):
        self.op(b"J" + struct.pack("<i", value))

    def int_tuple(self, values):
        self.op(b"(")
        for value in values:
            self.integer(value)
        self.op(b"t")

    def global_(self, module, name):
        self.op(f"c{module}\n{name}\n".encode())

    def tensor(self, storage_type, key, numel, offset, size, stride):
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.op(b"((")
        self.string("storage")
        self.global_("torch", storage_type)
        self.string(key)
        self.string("cpu")
        self.integer(numel)
        self.op(b"tQ")  # persistent id tuple → BINPERSID
        self.integer(offset)
        self.int_tuple(size)
        self.int_tuple(stride)
        self.op(b"\x89")  # requires_grad=False
        self.global_("collections", "OrderedDict")
        self.op(b")R")
        self.op(b"tR")

    def state_dict(self, tensors):
        self.op(b"}(")
        for name, spec in tensors.items():
            self.string(name)
            self.tensor(*spec)
        self.op(b"u.")
        return self.out.getvalue()


def write_bin(path, data_pkl, storages, byteorder="little", compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", byteorder)
        for key, raw in storages.items():
            archive.writestr(f"archive/data/{key}", raw)
        archive.writestr("archive/version", "3\n")
    return path


def strided_reference(storage, offset, size, stride):
    """What torch shows for a view: element [i, j, ...] is storage[offset + i*stride0 + j*stride1 + ...]."""
    flat_index = offset + sum(index * step for index, step in zip(np.indices(size), stride))
    return storage[flat_index]


VIEWS = {
    "whole": ("FloatStorage", "0", 24, 0, (4, 6), (6, 1)),
    "transposed": ("FloatStorage", "0", 24, 0, (6, 4), (1, 6)),
    "block": ("FloatStorage", "0", 24, 8, (2, 3), (6, 1)),
    "every_other": ("FloatStorage", "0", 24, 1, (2, 3), (12, 2)),
    "broadcast": ("FloatStorage", "0", 24, 5, (3, 2), (0, 1)),
    "scalar": ("FloatStorage", "0", 24, 23, (), ()),
    "empty": ("FloatStorage", "0", 24, 0, (0, 5), (5, 1)),
    "halves": ("HalfStorage", "1", 6, 2, (2, 2), (1, 2)),
    "longs": ("LongStorage", "2", 5, 1, (4,), (1,)),
}


def view_storages():
    return {
        "0": np.arange(24, dtype=np.float32) * 0.5,
        "1": np.arange(6, dtype=np.float16) - 2,
        "2": np.array([7, -1, 2**40, -(2**40), 3], dtype=np.int64),
    }


@pytest.mark.parametrize("byteorder", ["little", "big"])
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_views_of_shared_storages(tmp_path, byteorder, compression):
    storages = view_storages()
    order = "<" if byteorder == "little" else ">"
    raw = {key: array.astype(array.dtype.newbyteorder(order)).tobytes() for key, array in storages.items()}
    path = write_bin(tmp_path / "views.bin", PickleWriter().state_dict(VIEWS), raw, byteorder, compression)
    loaded = torch_bin.load_torch_bin(path)
    assert list(loaded) == list(VIEWS)
    for name, (_, key, _, offset, size, stride) in VIEWS.items():
        expected = strided_reference(storages[key], offset, size, stride)
        assert loaded[name].dtype == storages[key].dtype, name
        assert loaded[name].shape == size, name
        assert np.array_equal(loaded[name], expected), name
        assert loaded[name].flags.c_contiguous and loaded[name].flags.writeable, name
    assert not np.shares_memory(loaded["whole"], loaded["block"])


def test_view_beyond_its_storage_is_refused(tmp_path):
    tensors = {"too_far": ("FloatStorage", "0", 4, 2, (2, 2), (2, 1))}
    path = write_bin(tmp_path / "bad.bin", PickleWriter().state_dict(tensors), {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(TorchCheckpointError, match=r"bad\.bin: tensor 'too_far'.*reach element 5.*has 4"):
        torch_bin.load_torch_bin(path)


def test_storage_of_the_wrong_size_is_refused(tmp_path):
    tensors = {"w": ("FloatStorage", "0", 4, 0, (4,), (1,))}
    path = write_bin(tmp_path / "bad.bin", PickleWriter().state_dict(tensors), {"0": b"\x00" * 12})
    with pytest.raises(TorchCheckpointError, match=r"archive/data/0' holds 12 bytes, expected 4 × 4"):
        torch_bin.load_torch_bin(path)


def test_missing_storage_record_is_named(tmp_path):
    tensors = {"w": ("FloatStorage", "7", 4, 0, (4,), (1,))}
    path = write_bin(tmp_path / "bad.bin", PickleWriter().state_dict(tensors), {})
    with pytest.raises(TorchCheckpointError, match=r"storage record 'archive/data/7', which is missing"):
        torch_bin.load_torch_bin(path)


class Payload:
    """Pickles as a call of ``function(argument)``: what a malicious checkpoint does."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def malicious_pickles(marker):
    """Case → (the global it calls, the pickle): each would create ``marker``."""
    import builtins
    import os

    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "exec-protocol-2": ("__builtin__.exec", pickle.dumps({"w": Payload(builtins.exec, touch)}, protocol=2)),
        "eval-protocol-4": ("builtins.eval", pickle.dumps({"w": Payload(builtins.eval, touch)}, protocol=4)),
        "system": (
            f"{os.system.__module__}.system",
            pickle.dumps({"w": Payload(os.system, f"touch {marker}")}, protocol=2),
        ),
        "os-system-by-hand": ("os.system", f"cos\nsystem\n(Vtouch {marker}\ntR.".encode()),
    }


@pytest.mark.parametrize("case", ["exec-protocol-2", "eval-protocol-4", "system", "os-system-by-hand"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, case):
    marker = tmp_path / "pwned"
    global_name, payload = malicious_pickles(marker)[case]

    # The payload is live: plain pickle would run it.
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()

    path = write_bin(tmp_path / "evil.bin", payload, {})
    with pytest.raises(UnsafeCheckpointError) as error:
        torch_bin.load_torch_bin(path)
    assert str(path) in str(error.value)
    assert f"global {global_name}" in str(error.value)
    assert not marker.exists()


def test_unknown_persistent_id_is_refused(tmp_path):
    payload = b"\x80\x02}(X\x01\x00\x00\x00w(X\x04\x00\x00\x00evilX\x01\x00\x00\x00xtQu."
    path = write_bin(tmp_path / "evil.bin", payload, {})
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.bin: unexpected persistent id \('evil', 'x'\)"):
        torch_bin.load_torch_bin(path)


def test_legacy_format_asks_for_a_re_save(tmp_path):
    path = tmp_path / "old.bin"
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    path.write_bytes(magic + pickle.dumps(1001, protocol=2))
    with pytest.raises(TorchCheckpointError, match=r"old\.bin: this is the legacy torch\.save format.*torch>=1\.6"):
        torch_bin.load_torch_bin(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.bin"
    path.write_bytes(b"hello world, not a zip")
    with pytest.raises(TorchCheckpointError, match=r"notes\.bin: not a PyTorch checkpoint: expected a zip archive"):
        torch_bin.load_torch_bin(path)


def test_a_truncated_checkpoint_is_called_truncated(tiny_dir, tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes((tiny_dir / "lm" / "pytorch_model.bin").read_bytes()[:-200])  # the zip directory is at the end
    with pytest.raises(TorchCheckpointError, match=r"pytorch_model\.bin: truncated or damaged"):
        torch_bin.load_torch_bin(path)


def test_non_tensor_values_are_refused(tmp_path):
    path = write_bin(tmp_path / "odd.bin", pickle.dumps({"epoch": 3}, protocol=2), {})
    with pytest.raises(
        TorchCheckpointError, match=r"odd\.bin: expected a flat dict name → tensor, but 'epoch' holds int"
    ):
        torch_bin.load_torch_bin(path)
