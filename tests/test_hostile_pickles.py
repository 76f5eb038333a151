"""A hostile pytorch_model.bin cannot change how later, genuine checkpoints are read: the loader's
allow-list is made anew for each load, and a pickle BUILD on an allowed global is refused."""
import io
import pickle
import shutil

import numpy as np
import pytest

from gpt_keras.checkpoints import torch_bin
from gpt_keras.checkpoints.torch_bin import UnsafeCheckpointError
from test_checkpoint_torch_bin import PickleWriter, write_bin


def _build_on_global(module, name, state):
    """A pickle that applies BUILD with `state` to the global `module.name`, then returns an empty dict."""
    writer = PickleWriter()
    writer.global_(module, name)
    writer.op(pickle.dumps(state, protocol=2)[2:-1])  # the state object, without PROTO and STOP
    writer.op(b"b0")  # BUILD, then drop the result
    writer.op(b"}.")
    return writer.out.getvalue()


# States made of plain values only (any other global is refused before BUILD runs).
HOSTILE_BUILDS = [
    ("torch", "FloatStorage", {"dtype": "i1"}),
    ("torch", "FloatStorage", (None, {"dtype": "i1"})),
    ("torch._utils", "_rebuild_tensor_v2", (None, {"__defaults__": (True, None, None)})),
    ("torch._utils", "_rebuild_tensor_v2", {"__call__": 0}),
    ("collections", "OrderedDict", (None, {"fromkeys": 0})),
]


@pytest.mark.parametrize("module, name, state", HOSTILE_BUILDS, ids=lambda v: str(v)[:40])
def test_build_on_an_allowed_global_is_refused_and_changes_nothing(tiny_dir, tmp_path, module, name, state):
    hostile = write_bin(tmp_path / "hostile.bin", _build_on_global(module, name, state), {})
    with pytest.raises(UnsafeCheckpointError, match=r"hostile\.bin: refusing to change the state"):
        torch_bin.load_torch_bin(hostile)
    genuine = tmp_path / "pytorch_model.bin"
    shutil.copyfile(tiny_dir / "lm" / "pytorch_model.bin", genuine)
    tensors = torch_bin.load_torch_bin(genuine)
    assert all(array.dtype == np.float32 for array in tensors.values())
    assert "transformer.tokens_embed.weight" in tensors


def test_each_load_gets_its_own_allow_list():
    first = torch_bin._RestrictedUnpickler(io.BytesIO(), "a.bin", None)
    second = torch_bin._RestrictedUnpickler(io.BytesIO(), "b.bin", None)
    for key in (("torch", "FloatStorage"), ("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict")):
        assert first.find_class(*key) is not second.find_class(*key)
