"""Hostile checkpoints, made at test time from the fixtures: each is refused with an error that names the
file and the tensor, through `from_pretrained` and through `gpt-keras convert`, and nothing outside the
checkpoint is ever read into the weights."""
import shutil

import h5py
import numpy as np
import pytest

from gpt_keras import TFOpenAIGPTLMHeadModel, checkpoints
from gpt_keras.checkpoints import tf_h5
from gpt_keras.cli import main

TOKENS = "tf_open_aigptlm_head_model/transformer/tokens_embed/weight:0"
SECRET = b"API_TOKEN=hunter2-do-not-leak\n"


@pytest.fixture
def h5_checkpoint(tiny_dir, tmp_path):
    """A copy of the tiny LM's config and tf_model.h5 that a test may rewrite."""
    directory = tmp_path / "ckpt"
    directory.mkdir()
    for name in ("config.json", "tf_model.h5"):
        shutil.copyfile(tiny_dir / "lm" / name, directory / name)
    return directory


def _replace_tokens(directory, make):
    """Deletes the token table from tf_model.h5 and lets `make(group, name, shape)` put something there."""
    with h5py.File(directory / "tf_model.h5", "r+") as handle:
        group = handle["transformer"]
        shape = group[TOKENS].shape
        del group[TOKENS]
        make(group, TOKENS, shape)


def _secret_file(tmp_path, nbytes):
    secret = tmp_path / "secret.env"
    secret.write_bytes((SECRET * (nbytes // len(SECRET) + 1))[:nbytes])
    return secret


def _external_storage(tmp_path):
    def make(group, name, shape):
        nbytes = int(np.prod(shape)) * 4
        group.create_dataset(name, shape=shape, dtype="f4", external=[(str(_secret_file(tmp_path, nbytes)), 0, nbytes)])

    return make, "external storage"


def _external_link(tmp_path):
    def make(group, name, shape):
        other = tmp_path / "other.h5"
        with h5py.File(other, "w") as handle:
            handle.create_dataset("stolen", data=np.zeros(shape, "f4"))
        group[name] = h5py.ExternalLink(str(other), "/stolen")

    return make, "external link"


def _virtual_dataset(tmp_path):
    def make(group, name, shape):
        other = tmp_path / "source.h5"
        with h5py.File(other, "w") as handle:
            handle.create_dataset("data", data=np.ones(shape, "f4"))
        layout = h5py.VirtualLayout(shape=shape, dtype="f4")
        layout[...] = h5py.VirtualSource(str(other), "data", shape=shape)
        group.create_virtual_dataset(name, layout)

    return make, "virtual dataset"


def _group_instead_of_dataset(tmp_path):
    return (lambda group, name, shape: group.create_group(name)), "expected a dataset"


def _string_dataset(tmp_path):
    def make(group, name, shape):
        group.create_dataset(name, data=np.array([b"abc"] * shape[0]))

    return make, "expected floating-point weights"


def _fill_value_giant(tmp_path):
    # Chunked, never written: HDF5 would hand back the fill value for 4 GB while the file stays tiny.
    def make(group, name, shape):
        group.create_dataset(name, shape=(2**20, 1024), dtype="f4", chunks=(1024, 1024), fillvalue=1.0)

    return make, "would need"


def _deflate_bomb(tmp_path):
    def make(group, name, shape):
        group.create_dataset(name, data=np.zeros((4096, 4096), "f4"), compression="gzip", compression_opts=9)

    return make, "would need"


HOSTILE_H5 = [
    _external_storage,
    _external_link,
    _virtual_dataset,
    _group_instead_of_dataset,
    _string_dataset,
    _fill_value_giant,
    _deflate_bomb,
]


@pytest.mark.parametrize("case", HOSTILE_H5, ids=lambda case: case.__name__.strip("_"))
def test_hostile_h5_is_refused_naming_file_and_weight(h5_checkpoint, tmp_path, case):
    make, message = case(tmp_path)
    _replace_tokens(h5_checkpoint, make)
    with pytest.raises(tf_h5.TFH5CheckpointError) as raised:
        tf_h5.load_tf_h5(h5_checkpoint / "tf_model.h5")
    text = str(raised.value)
    assert "tf_model.h5" in text and "tokens_embed" in text and message in text, text
    with pytest.raises(tf_h5.TFH5CheckpointError, match=message):
        TFOpenAIGPTLMHeadModel.from_pretrained(h5_checkpoint)


@pytest.mark.parametrize("case", HOSTILE_H5, ids=lambda case: case.__name__.strip("_"))
def test_convert_of_hostile_h5_fails_and_writes_nothing(h5_checkpoint, tmp_path, capsys, case):
    make, message = case(tmp_path)
    _replace_tokens(h5_checkpoint, make)
    destination = tmp_path / "out"
    code = main(["convert", str(h5_checkpoint), str(destination)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert message in err and "tokens_embed" in err, err
    assert not destination.exists()


def test_external_storage_never_reaches_the_weights(h5_checkpoint, tmp_path):
    """The leak itself: today's refusal must come before a single secret byte is read into a tensor."""
    make, _ = _external_storage(tmp_path)
    _replace_tokens(h5_checkpoint, make)
    read = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        read.append(self.name)
        return original(self, key)

    h5py.Dataset.__getitem__ = spy
    try:
        with pytest.raises(tf_h5.TFH5CheckpointError):
            tf_h5.load_tf_h5(h5_checkpoint / "tf_model.h5")
    finally:
        h5py.Dataset.__getitem__ = original
    assert read == []


@pytest.fixture
def shards_of_two_saves(tiny_dir, tmp_path):
    """The tiny LM saved twice as shards (the second time with other weights); one shard of the second
    save copied over its namesake in the first, as an interrupted in-place copy would leave them."""
    state_dict, _ = checkpoints.load_state_dict(tiny_dir / "lm")
    config = {"config.json": (tiny_dir / "lm" / "config.json").read_text()}
    first, second = tmp_path / "first", tmp_path / "second"
    checkpoints.save_state_dict(state_dict, first, max_shard_size=60_000, extra_files=config)
    checkpoints.save_state_dict({k: v * 2 for k, v in state_dict.items()}, second, max_shard_size=60_000, extra_files=config)
    shard = "model-00002-of-00003.safetensors"
    shutil.copyfile(second / shard, first / shard)
    return first, shard


def test_shards_of_two_saves_are_refused_naming_the_shard(shards_of_two_saves):
    directory, shard = shards_of_two_saves
    with pytest.raises(ValueError, match=rf"{shard}: written by save '\w+', but the index .* is of save '\w+'"):
        TFOpenAIGPTLMHeadModel.from_pretrained(directory)


def test_convert_of_shards_of_two_saves_fails_and_writes_nothing(shards_of_two_saves, tmp_path, capsys):
    directory, shard = shards_of_two_saves
    destination = tmp_path / "out"
    code = main(["convert", str(directory), str(destination)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert shard in err and "different saves" in err, err
    assert not destination.exists()
