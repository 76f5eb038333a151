"""Hostile checkpoints, made at test time from the fixtures: each is refused with an error that names the
file and the tensor, through `from_pretrained` and through `gpt-keras convert`, and nothing outside the
checkpoint is ever read into the weights."""
import json
import re
import shutil
import struct
import zipfile

import h5py
import numpy as np
import pytest

from gpt_keras import TFOpenAIGPTLMHeadModel, checkpoints
from gpt_keras.checkpoints import tf_h5, torch_bin
from gpt_keras.cli import main
from test_checkpoint_torch_bin import PickleWriter, write_bin

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


# === Malformed checkpoints of every format, each refused naming the file and what is wrong ===
# Each case turns a copy of the tiny LM (config.json + one weights file) into a hostile checkpoint; both
# `from_pretrained` and `gpt-keras convert` must refuse it with the message given, and convert must leave
# no DST behind.


@pytest.fixture
def tiny_lm(tiny_dir):
    state_dict, _ = checkpoints.load_state_dict(tiny_dir / "lm")
    return state_dict, json.loads((tiny_dir / "lm" / "config.json").read_text())


def _checkpoint(directory, config, write_weights=None):
    """Writes `config` (a dict, or raw text) and `write_weights(directory)` into a fresh `directory`."""
    directory.mkdir()
    if config is not None:  # the original release ships none
        (directory / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if write_weights is not None:
        write_weights(directory)
    return directory


# Writers of weights: each `writer(directory, state_dict, lm_dir)` puts one weights file in `directory`.


def _safetensors(changes=None):
    def write(directory, state_dict, lm_dir):
        checkpoints.save_state_dict({**state_dict, **(changes(state_dict) if changes else {})}, directory)

    return write


def _as_type(name, dtype):
    return _safetensors(lambda state_dict: {name: state_dict[name].astype(dtype)})


def _safetensors_with_header(header, data=b""):
    """`model.safetensors` with a header given as a dict (or raw JSON bytes), and its data."""

    def write(directory, state_dict, lm_dir):
        raw = header if isinstance(header, bytes) else json.dumps(header).encode()
        (directory / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data)

    return write


def _bin(data_pkl, storages, compression=zipfile.ZIP_STORED):
    def write(directory, state_dict, lm_dir):
        write_bin(directory / "pytorch_model.bin", data_pkl, storages, compression=compression)

    return write


def _one_tensor_pickle(numel=b"J\x04\x00\x00\x00", offset=b"J\x00\x00\x00\x00", size=(4,), stride=(1,), name=b"w"):
    """A state dict {name: tensor} over storage "0", with the persistent id's numel and the storage offset
    given as raw opcodes (J: a 4-byte int, G: a float, X: a string)."""
    writer = PickleWriter()
    writer.op(b"}(X" + struct.pack("<I", len(name)) + name)
    writer.global_("torch._utils", "_rebuild_tensor_v2")
    writer.op(b"((")
    writer.string("storage")
    writer.global_("torch", "FloatStorage")
    writer.string("0")
    writer.string("cpu")
    writer.op(numel + b"tQ" + offset)
    writer.int_tuple(size)
    writer.int_tuple(stride)
    writer.op(b"\x89")
    writer.global_("collections", "OrderedDict")
    writer.op(b")RtRu.")
    return writer.out.getvalue()


def _encrypted(record):
    """A pytorch_model.bin whose `record` is marked encrypted (bit 0 of the flags in both its headers)."""

    def write(directory, state_dict, lm_dir):
        path = write_bin(directory / "pytorch_model.bin", _one_tensor_pickle(), {"0": bytes(16)})
        raw, name = bytearray(path.read_bytes()), record.encode()
        for signature, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
            start = raw.find(signature)
            while start >= 0:
                if raw[start + name_at : start + name_at + len(name)] == name:
                    raw[start + flags_at] |= 0x1
                start = raw.find(signature, start + 4)
        path.write_bytes(bytes(raw))

    return write


def _h5_with_weight_names(names):
    def write(directory, state_dict, lm_dir):
        shutil.copyfile(lm_dir / "tf_model.h5", directory / "tf_model.h5")
        with h5py.File(directory / "tf_model.h5", "r+") as handle:
            handle["transformer"].attrs["weight_names"] = np.array(names)

    return write


def _original_release(shapes):
    def write(directory, state_dict, lm_dir):
        (directory / "params_shapes.json").write_text(json.dumps(shapes))

    return write


def _config(**changes):
    return lambda config: {**config, **changes}


def _raw_config(text):
    return lambda config: text


def _nested(depth):
    return b"[" * depth + b"]" * depth


TOKENS_NAME = "transformer.tokens_embed.weight"
ENTRY = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
SAME = _config()
UnsafeCheckpointError = torch_bin.UnsafeCheckpointError

# Case → (config.json from the tiny LM's, weights writer, error class, message pattern).
HOSTILE_CHECKPOINTS = {
    # Item 10: absurd configs.
    "layer_norm_epsilon_infinity": (_config(layer_norm_epsilon=float("inf")), _safetensors(), ValueError, "layer_norm_epsilon must be a finite number > 0, got inf"),
    "layer_norm_epsilon_nan": (_config(layer_norm_epsilon=float("nan")), _safetensors(), ValueError, "layer_norm_epsilon must be a finite number > 0, got nan"),
    "negative_num_labels": (_config(num_labels=-3), _safetensors(), ValueError, r"num_labels must be an integer in \[1, 100000\], got -3"),
    "num_labels_1e9": (_config(num_labels=10**9), _safetensors(), ValueError, r"num_labels must be an integer in \[1, 100000\], got 1000000000"),
    "pad_token_id_10_12": (_config(pad_token_id=10**12), _safetensors(), ValueError, r"pad_token_id must be None or an id in \[0, 2147483647\], got 1000000000000"),
    "eos_token_id_abc": (_config(eos_token_id="abc"), _safetensors(), ValueError, "eos_token_id must be None or an id or a list of ids .*, got 'abc'"),
    "bos_token_id_float": (_config(bos_token_id=1.5), _safetensors(), ValueError, "bos_token_id must be None or an id"),
    "initializer_range_abc": (_config(initializer_range="abc"), _safetensors(), ValueError, "initializer_range must be a finite number >= 0, got 'abc'"),
    "dropout_abc": (_config(attn_pdrop="abc"), _safetensors(), ValueError, r"attn_pdrop must be in \[0, 1\), got 'abc'"),
    "vocab_size_beyond_int32": (_config(vocab_size=2**31), _safetensors(), ValueError, r"vocab_size must be an integer in \[1, 2147483647\]"),
    "id2label_keys_not_ids": (_config(id2label={"x": "a", "y": "b"}), _safetensors(), ValueError, "id2label keys must be label ids"),
    # Item 12: JSON that the parser itself chokes on.
    "config_nested_too_deeply": (_raw_config('{"n_layer": 2, "task_specific_params": ' + _nested(100_000).decode() + "}"), _safetensors(), ValueError, "config.json is not a config: its JSON is nested too deeply"),
    "config_5000_digit_integer": (_raw_config('{"n_layer": 1' + "0" * 5000 + "}"), _safetensors(), ValueError, "config.json is not valid JSON: .*digits"),
    # Item 10: weights stored as another type than float are not cast.
    "bool_token_table": (SAME, _as_type(TOKENS_NAME, np.bool_), ValueError, rf"expected floating-point weights.*{TOKENS_NAME} \(bool\)"),
    "int64_token_table": (SAME, _as_type(TOKENS_NAME, np.int64), ValueError, rf"{TOKENS_NAME} \(int64\)"),
    "uint8_layer_norm": (SAME, _as_type("transformer.h.0.ln_1.weight", np.uint8), ValueError, r"transformer\.h\.0\.ln_1\.weight \(uint8\)"),
    # Item 12: safetensors headers.
    "dtype_as_list": (SAME, _safetensors_with_header({"w": {**ENTRY, "dtype": ["F32"]}}, bytes(4)), ValueError, r"model\.safetensors: tensor 'w': unknown dtype \['F32'\]"),
    "dtype_as_dict": (SAME, _safetensors_with_header({"w": {**ENTRY, "dtype": {"F32": 1}}}, bytes(4)), ValueError, r"tensor 'w': unknown dtype \{'F32': 1\}"),
    "header_nested_too_deeply": (SAME, _safetensors_with_header(b'{"w": ' + _nested(100_000) + b"}"), ValueError, r"model\.safetensors: corrupted safetensors header: not valid JSON \(nested too deeply\)"),
    "header_5000_digit_integer": (SAME, _safetensors_with_header(b'{"w": {"dtype": "F32", "shape": [1' + b"0" * 5000 + b'], "data_offsets": [0, 4]}}', bytes(4)), ValueError, r"model\.safetensors: corrupted safetensors header: .*digits"),
    # Item 12: pytorch_model.bin pickles.
    "bin_numel_a_string": (SAME, _bin(_one_tensor_pickle(numel=b"X\x02\x00\x00\x0012"), {"0": bytes(16)}), ValueError, r"pytorch_model\.bin: persistent id .*expected a str key and an integer element count"),
    "bin_numel_a_float": (SAME, _bin(_one_tensor_pickle(numel=b"G" + struct.pack(">d", 4.0)), {"0": bytes(16)}), ValueError, "persistent id .*integer element count"),
    "bin_offset_a_float": (SAME, _bin(_one_tensor_pickle(offset=b"G" + struct.pack(">d", 0.5)), {"0": bytes(16)}), ValueError, r"tensor 'w': storage offset must be an integer >= 0, got 0\.5"),
    "bin_100_dimensions": (SAME, _bin(_one_tensor_pickle(b"J\x01\x00\x00\x00", size=(1,) * 100, stride=(1,) * 100), {"0": bytes(4)}), ValueError, "tensor 'w': 100 dimensions, expected at most 32"),
    "bin_extension_code": (SAME, _bin(b"\x80\x02\x82\x01.", {}), UnsafeCheckpointError, r"data\.pkl uses a copyreg extension code \(EXT1\)"),
    "bin_binbytes8_of_64_gib": (SAME, _bin(b"\x80\x04\x8e" + struct.pack("<Q", 64 << 30) + b"x.", {}), ValueError, r"data\.pkl is not a readable pickle .*68719476736 bytes"),
    "bin_name_not_utf8": (SAME, _bin(_one_tensor_pickle(name=b"w\xff"), {"0": bytes(16)}), ValueError, "holds a name that is not UTF-8"),
    "bin_encrypted_pickle": (SAME, _encrypted("archive/data.pkl"), ValueError, r"record 'archive/data\.pkl' cannot be read \(.*encrypted"),
    "bin_encrypted_storage": (SAME, _encrypted("archive/data/0"), ValueError, r"storage record 'archive/data/0' is encrypted"),
    # Item 11: views and records that would expand far beyond the file.
    "bin_stride_0_view": (SAME, _bin(_one_tensor_pickle(b"J\x01\x00\x00\x00", size=(100_000, 100_000), stride=(0, 0)), {"0": bytes(4)}), ValueError, r"tensor 'w': size \(100000, 100000\) has 10,000,000,000 elements, more than its storage '0' holds \(1\): it would need 40,000,000,000 bytes"),
    "bin_deflate_bomb": (SAME, _bin(_one_tensor_pickle(b"J\x00\x00\x20\x00", size=(2**21,)), {"0": bytes(2**23)}, zipfile.ZIP_DEFLATED), ValueError, r"storage record 'archive/data/0' would need 8,388,608 bytes once decompressed, more than the whole file's"),
    # Item 12: tf_model.h5 names and the original release's layout.
    "h5_weight_name_not_utf8": (SAME, _h5_with_weight_names([b"m/transformer/tokens_embed/weight:0\xff"]), ValueError, r"tf_model\.h5: layer group 'transformer''s 'weight_names' holds a name that is not UTF-8"),
    "original_release_3d_positions": (lambda config: None, _original_release([[64, 32, 2], [1000, 32]]), ValueError, r"params_shapes\.json: shape 0 \(the positions table\) must be \[rows, n_embd\], got \[64, 32, 2\]"),
}


def _make_case(tmp_path, tiny_dir, tiny_lm, case):
    state_dict, config = tiny_lm
    make_config, write_weights, error, message = HOSTILE_CHECKPOINTS[case]
    directory = _checkpoint(tmp_path / "hostile", make_config(config), lambda d: write_weights(d, state_dict, tiny_dir / "lm"))
    return directory, error, message


@pytest.mark.parametrize("case", sorted(HOSTILE_CHECKPOINTS))
def test_a_malformed_checkpoint_is_refused_by_from_pretrained(tmp_path, tiny_dir, tiny_lm, case):
    directory, error, message = _make_case(tmp_path, tiny_dir, tiny_lm, case)
    with pytest.raises(error, match=message):
        TFOpenAIGPTLMHeadModel.from_pretrained(directory)


@pytest.mark.parametrize("case", sorted(HOSTILE_CHECKPOINTS))
def test_a_malformed_checkpoint_is_refused_by_convert_which_writes_nothing(tmp_path, tiny_dir, tiny_lm, capsys, case):
    directory, _, message = _make_case(tmp_path, tiny_dir, tiny_lm, case)
    destination = tmp_path / "out"
    code = main(["convert", str(directory), str(destination)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert re.search(message, err), err
    assert not destination.exists()


def test_convert_of_nan_weights_names_the_tensor_and_writes_nothing(tmp_path, tiny_lm, capsys):
    state_dict, config = tiny_lm
    poisoned = dict(state_dict)
    poisoned["transformer.h.0.attn.c_attn.weight"] = state_dict["transformer.h.0.attn.c_attn.weight"].copy()
    poisoned["transformer.h.0.attn.c_attn.weight"][0, :3] = [np.nan, np.inf, np.nan]
    directory = _checkpoint(tmp_path / "nan", config, lambda d: checkpoints.save_state_dict(poisoned, d))
    destination = tmp_path / "out"
    code = main(["convert", str(directory), str(destination)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "NaN or infinite" in err and "transformer.h.0.attn.c_attn.weight (3 of 3072 values)" in err, err
    assert not destination.exists()


# === Item 11: sizes in the config checked against the checkpoint before anything is built ===


@pytest.mark.parametrize(
    "changes, field, needs",
    [
        (dict(n_layer=100_000), r"n_layer=100000, but the checkpoint holds 2 layers \(transformer\.h\.0 … transformer\.h\.1\)", r"5\.1 GB"),
        (dict(n_positions=10**7), r"n_positions=10000000, but transformer\.positions_embed\.weight has shape \(64, 32\)", r"1\.3 GB"),
        (dict(n_embd=10**9, n_head=2), r"n_embd=1000000000, but transformer\.tokens_embed\.weight has shape \(1000, 32\)", r"96,000,004,360\.0 GB"),
        (dict(vocab_size=2 * 10**9), r"vocab_size=2000000000, but transformer\.tokens_embed\.weight has shape \(1000, 32\)", r"256\.0 GB"),
    ],
)
def test_config_sizes_are_checked_against_the_checkpoint_headers(tiny_dir, tiny_lm, changes, field, needs):
    from gpt_keras import OpenAIGPTConfig

    state_dict, info = checkpoints.load_state_dict(tiny_dir / "lm", lazy=True)
    config = OpenAIGPTConfig.from_dict({**tiny_lm[1], **changes})
    with pytest.raises(checkpoints.CheckpointMismatchError, match=rf"does not fit its config: .*{field}.*would need {needs} for its weights; the checkpoint holds 237\.8 kB"):
        checkpoints.check_config_fits(state_dict, config, source=info)
    checkpoints.check_config_fits(state_dict, OpenAIGPTConfig.from_dict(tiny_lm[1]), source=info)
    checkpoints.check_config_fits(state_dict, OpenAIGPTConfig.from_dict({**tiny_lm[1], "n_layer": 1}), source=info)


def test_from_pretrained_builds_nothing_before_the_config_fits(tmp_path, tiny_lm, monkeypatch):
    from gpt_keras.backbone import TFOpenAIGPT

    state_dict, config = tiny_lm
    directory = _checkpoint(tmp_path / "more-layers", {**config, "n_layer": 3}, lambda d: checkpoints.save_state_dict(state_dict, d))
    built = []
    monkeypatch.setattr(TFOpenAIGPT, "__init__", lambda self, *a, **k: built.append(a) or pytest.fail("a model was built"))
    with pytest.raises(checkpoints.CheckpointMismatchError, match="n_layer=3, but the checkpoint holds 2 layers.*would need"):
        TFOpenAIGPTLMHeadModel.from_pretrained(directory)
    assert built == []


def test_a_classification_csv_with_an_absurd_label_is_refused_at_its_line(tmp_path):
    from gpt_keras import data

    path = tmp_path / "train.csv"
    path.write_text("text,label\na good film,1\na bad film,99999999\n")
    with pytest.raises(data.DataFormatError, match=r"train\.csv:3: 'label' is 99999999: a classifier has at most 100000 classes"):
        data.read_classification(path)
    with pytest.raises(data.DataFormatError, match=r"train\.csv:2: 'label' is 1, but there are 1 classes \(num_labels\)"):
        data.read_classification(path, num_labels=1)
