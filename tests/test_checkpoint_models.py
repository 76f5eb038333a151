"""Checkpoints at the model level: every format into every model, preference, bad files, atomic saves, resizing."""
import json
import logging
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import keras

import numpy as np
import pytest
from helpers import assert_matches, tiny_config

from gpt_keras import (
    OpenAIGPTConfig,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)
from gpt_keras import checkpoints
from gpt_keras.checkpoints import load_state_dict, safetensors
from gpt_keras.checkpoints.torch_bin import UnsafeCheckpointError

CLASSES = [TFOpenAIGPTModel, TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification]
RELEASE_LAYER_PARAMS = [
    "attn/c_attn/w", "attn/c_attn/b", "attn/c_proj/w", "attn/c_proj/b", "ln_1/g", "ln_1/b",
    "mlp/c_fc/w", "mlp/c_fc/b", "mlp/c_proj/w", "mlp/c_proj/b", "ln_2/g", "ln_2/b",
]  # fmt: skip


def assert_lm_matches(model, expected):
    out = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"])
    assert_matches(out["logits"], expected["lm.logits"], "lm.logits")


def copy_alone(source_dir, names, target_dir):
    """A directory holding only `names` from `source_dir`."""
    target_dir.mkdir(parents=True)
    for name in names:
        shutil.copyfile(source_dir / name, target_dir / name)
    return target_dir


def directory_snapshot(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


# --- every format ----------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin", "tf_model.h5"])
def test_lm_from_each_format_alone_matches_reference(tiny_dir, tmp_path, expected, caplog, weights):
    directory = copy_alone(tiny_dir / "lm", [weights, "config.json"], tmp_path / "ckpt")
    fmt = checkpoints.detect_format(directory)
    with caplog.at_level(logging.INFO, logger="gpt_keras"):
        lm = TFOpenAIGPTLMHeadModel.from_pretrained(directory)
    assert f"({fmt})" in caplog.text
    assert_lm_matches(lm, expected)
    base = TFOpenAIGPTModel.from_pretrained(directory)
    out = base(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"])
    assert_matches(out["last_hidden_state"], expected["base.masked.last_hidden_state"], "base.masked")


def write_release_names(directory, n_layer):
    names = ["model/we:0"] + [f"model/h{i}/{param}:0" for i in range(n_layer) for param in RELEASE_LAYER_PARAMS]
    (directory / "parameters_names.json").write_text(json.dumps(names))


@pytest.mark.parametrize("with_names", [False, True], ids=["shapes-only", "with-parameters_names"])
def test_original_release_with_the_fixture_config_matches_reference(tiny_dir, tmp_path, expected, with_names):
    directory = tmp_path / "release"
    shutil.copytree(tiny_dir / "lm-original-format", directory)
    if with_names:
        write_release_names(directory, n_layer=2)
    config = OpenAIGPTConfig.from_json_file(tiny_dir / "lm" / "config.json")
    model = TFOpenAIGPTLMHeadModel.from_pretrained(directory, config=config)
    assert model.config == config
    assert_lm_matches(model, expected)


def test_original_release_infers_sizes_and_takes_n_head(tiny_dir, expected):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm-original-format", n_head=4)
    fixture = OpenAIGPTConfig.from_json_file(tiny_dir / "lm" / "config.json")
    for field in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "layer_norm_epsilon"):
        assert getattr(model.config, field) == getattr(fixture, field), field
    # The release trained with the tanh GELU, which is what "gelu" computes here.
    assert model.config.afn == "gelu"
    assert_lm_matches(model, expected)


def test_original_release_default_heads_do_not_divide_a_tiny_width(tiny_dir):
    # 12 heads (the release's) cannot split 32 features: the error says to pass n_head.
    with pytest.raises(ValueError, match="n_head"):
        TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm-original-format")


def test_double_heads_and_sequence_classification_from_h5_alone(tiny_dir, tmp_path, expected):
    e = expected
    dh_dir = copy_alone(tiny_dir / "double-heads", ["tf_model.h5", "config.json"], tmp_path / "dh")
    dh = TFOpenAIGPTDoubleHeadsModel.from_pretrained(dh_dir)
    out = dh(input_ids=e["dh.input_ids"], mc_token_ids=e["dh.mc_token_ids"])
    assert_matches(out["logits"], e["dh.logits"], "dh.logits")
    assert_matches(out["mc_logits"], e["dh.mc_logits"], "dh.mc_logits")
    sc_dir = copy_alone(tiny_dir / "seq-cls", ["tf_model.h5", "config.json"], tmp_path / "sc")
    sc = TFOpenAIGPTForSequenceClassification.from_pretrained(sc_dir)
    assert_matches(sc(input_ids=e["sc.input_ids"])["logits"], e["sc.logits"], "sc.logits")


@pytest.mark.parametrize(
    "present, used",
    [
        (["model.safetensors", "tf_model.h5", "pytorch_model.bin"], "safetensors"),
        (["tf_model.h5", "pytorch_model.bin"], "tf-h5"),
    ],
)
def test_preferred_format_is_used_and_said(tiny_dir, tmp_path, expected, caplog, present, used):
    directory = copy_alone(tiny_dir / "lm", present + ["config.json"], tmp_path / "ckpt")
    # The formats that lose are made unreadable: loading succeeds only if they are never read.
    for name in present[1:]:
        (directory / name).write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.INFO, logger="gpt_keras"):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(directory)
    assert_lm_matches(model, expected)
    messages = [r.getMessage() for r in caplog.records if r.name == "gpt_keras"]
    assert any(f"reading {used}" in m and "by preference" in m for m in messages), messages
    assert any(m.startswith("Loaded TFOpenAIGPTLMHeadModel") and f"({used})" in m for m in messages), messages


def test_hub_cache_root_and_snapshot_load_like_a_directory(tiny_dir, tmp_path, expected):
    root = tmp_path / "models--openai-community--openai-gpt"
    snapshot = root / "snapshots" / "5e3f0c1a"
    (root / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copyfile(tiny_dir / "lm" / name, root / "blobs" / f"blob-{name}")
        os.symlink(os.path.join("..", "..", "blobs", f"blob-{name}"), snapshot / name)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("5e3f0c1a\n")
    for path in (root, snapshot):
        assert_lm_matches(TFOpenAIGPTLMHeadModel.from_pretrained(path), expected)


# --- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("max_shard_size", [None, "40KB"])
def test_fixture_through_save_pretrained_loads_equal(tiny_dir, tmp_path, expected, max_shard_size):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    info = model.save_pretrained(tmp_path / "saved", max_shard_size=max_shard_size)
    assert info.format == ("safetensors" if max_shard_size is None else "safetensors-sharded")
    if max_shard_size is not None:
        assert len(info.files) > 2  # the index and several shards
    saved, _ = load_state_dict(tmp_path / "saved")
    original, _ = load_state_dict(tiny_dir / "lm")
    assert saved.keys() == original.keys()
    for name in original:
        np.testing.assert_array_equal(saved[name], original[name], err_msg=name)
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["architectures"] == ["OpenAIGPTLMHeadModel"] and config["vocab_size"] == 1000
    assert_lm_matches(TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "saved"), expected)


# --- bad files -------------------------------------------------------------------------------------


def test_unexpected_extra_tensor_warns_listing_it(tiny_dir, tmp_path, expected):
    state_dict, _ = load_state_dict(tiny_dir / "lm")
    state_dict["transformer.h.0.attn.masked_bias"] = np.float32(-1e4) * np.ones((1, 1, 4, 4), np.float32)
    shutil.copyfile(tiny_dir / "lm" / "config.json", tmp_path / "config.json")
    checkpoints.save_state_dict(state_dict, tmp_path / "ckpt", extra_files={"config.json": (tmp_path / "config.json").read_text()})
    with pytest.warns(UserWarning, match=r"unexpected tensors: \['transformer\.h\.0\.attn\.masked_bias'\]"):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "ckpt")
    assert_lm_matches(model, expected)


class RunsShellCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_bin_with_forbidden_global_is_refused_before_running_anything(tiny_dir, tmp_path):
    directory = copy_alone(tiny_dir / "lm", ["config.json"], tmp_path / "ckpt")
    marker = tmp_path / "code-ran"
    payload = pickle.dumps({"transformer.tokens_embed.weight": RunsShellCommand(f"touch {marker}")}, protocol=2)
    with zipfile.ZipFile(directory / "pytorch_model.bin", "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
    before = directory_snapshot(directory)
    with pytest.raises(UnsafeCheckpointError, match=r"pytorch_model\.bin.*system"):
        TFOpenAIGPTLMHeadModel.from_pretrained(directory)
    assert not marker.exists()
    assert directory_snapshot(directory) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_corrupted_safetensors_header_names_the_file(tiny_dir, tmp_path):
    directory = copy_alone(tiny_dir / "lm", ["model.safetensors", "config.json"], tmp_path / "ckpt")
    data = bytearray((directory / "model.safetensors").read_bytes())
    data[8:20] = b"#garbage#!!#"  # the start of the JSON header
    (directory / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.safetensors.*header"):
        TFOpenAIGPTLMHeadModel.from_pretrained(directory)


def test_interrupted_save_pretrained_keeps_the_previous_checkpoint(tiny_dir, tmp_path, expected, monkeypatch):
    directory = tmp_path / "ckpt"
    TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm").save_pretrained(directory)
    before = directory_snapshot(directory)
    other = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig.from_json_file(tiny_dir / "lm" / "config.json"))
    writes = []

    def fail_part_way(tensors, filename, metadata=None):
        # The disk fills up after 1000 bytes of the new weights file.
        writes.append(filename)
        Path(filename).write_bytes(b"\0" * 1000)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors, "save_file", fail_part_way)
    with pytest.raises(OSError, match="No space left"):
        other.save_pretrained(directory)
    assert len(writes) == 1
    assert directory_snapshot(directory) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    monkeypatch.undo()
    assert_lm_matches(TFOpenAIGPTLMHeadModel.from_pretrained(directory), expected)


# --- resize_token_embeddings -----------------------------------------------------------------------

# Three classes, and a pad token so that the classifier finds where each row of a batch ends without a mask.
HEADS = dict(num_labels=3, pad_token_id=0)


def sample_inputs(cls, high):
    rng = np.random.default_rng(0)
    if cls is TFOpenAIGPTDoubleHeadsModel:
        return {"input_ids": rng.integers(1, high, (2, 3, 7)), "mc_token_ids": np.full((2, 3), 6)}
    return {"input_ids": rng.integers(1, high, (2, 7))}


def main_outputs(model, inputs):
    out = model(**inputs)
    return {key: np.asarray(out[key]) for key in ("last_hidden_state", "logits", "mc_logits") if key in out}


def token_table(model):
    return keras.ops.convert_to_numpy(model.transformer.embeddings.tokens_embed.embeddings)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_resize_token_embeddings_grows_in_place(tmp_path, cls):
    model = cls(tiny_config(**HEADS))
    old_table = token_table(model)
    old_outputs = main_outputs(model, sample_inputs(cls, 60))
    added = 400
    layer = model.resize_token_embeddings(60 + added, mean_resizing=False)

    assert layer is model.transformer.embeddings.tokens_embed
    table = token_table(model)
    assert table.shape == (60 + added, 16)
    np.testing.assert_array_equal(table[:60], old_table)
    # 6400 draws from N(0, 0.02): their std is within 0.02 +- 0.0018 (10 standard errors).
    new_rows = table[60:]
    assert abs(new_rows.std() - 0.02) < 0.0018 and abs(new_rows.mean()) < 0.0025
    assert model.config.vocab_size == 60 + added and model.get_config()["config"]["vocab_size"] == 60 + added
    # Old ids give the old outputs; the new ids are valid inputs, and the next one is not.
    for key, value in main_outputs(model, sample_inputs(cls, 60)).items():
        if key != "logits":
            np.testing.assert_array_equal(value, old_outputs[key], err_msg=key)
        else:
            np.testing.assert_array_equal(value[..., :60], old_outputs[key], err_msg=key)
    inputs = sample_inputs(cls, 60 + added)
    inputs["input_ids"][..., 0] = 60 + added - 1
    outputs = main_outputs(model, inputs)
    bad = dict(inputs, input_ids=np.full_like(inputs["input_ids"], 60 + added))
    with pytest.raises(ValueError, match=f"input_ids must be in \\[0, {60 + added}\\)"):
        model(**bad)

    model.save_pretrained(tmp_path / "ckpt")
    reloaded = cls.from_pretrained(tmp_path / "ckpt")
    assert reloaded.config.vocab_size == 60 + added
    for key, value in main_outputs(reloaded, inputs).items():
        np.testing.assert_array_equal(value, outputs[key], err_msg=key)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert type(restored) is cls and restored.config.vocab_size == 60 + added
    for key, value in main_outputs(restored, inputs).items():
        np.testing.assert_array_equal(value, outputs[key], err_msg=key)


@pytest.mark.parametrize("cls", [TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel], ids=lambda c: c.__name__)
def test_resized_lm_head_stays_tied_to_the_new_rows(cls):
    model = cls(tiny_config(**HEADS))
    model.resize_token_embeddings(63)
    table = token_table(model)
    table[60:] = np.random.default_rng(1).normal(0.0, 3.0, (3, 16))
    model.transformer.embeddings.tokens_embed.embeddings.assign(table)
    # Only input_ids: the models' call refuses tensor kwargs mixed with the output_* flags (Keras).
    out = model(sample_inputs(cls, 63)["input_ids"], output_hidden_states=True)
    hidden = np.asarray(out["hidden_states"][-1], np.float64)
    logits = np.asarray(out["logits"])
    assert logits.shape[-1] == 63
    np.testing.assert_allclose(logits[..., 60:], hidden @ table[60:].T.astype(np.float64), rtol=0, atol=1e-4)


def test_resize_token_embeddings_shrinks_keeping_the_first_rows():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**HEADS))
    old_table = token_table(model)
    model.resize_token_embeddings(41)
    np.testing.assert_array_equal(token_table(model), old_table[:41])
    assert model.config.vocab_size == 41
    assert model(np.array([[1, 40]]))["logits"].shape == (1, 2, 41)
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 41\)"):
        model(np.array([[1, 41]]))


def test_resize_to_the_same_size_changes_nothing():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**HEADS))
    variable = model.transformer.embeddings.tokens_embed.embeddings
    model.resize_token_embeddings(60)
    assert model.transformer.embeddings.tokens_embed.embeddings is variable


@pytest.mark.parametrize("new_size", [0, -3, 2.5, True, "70"])
def test_resize_token_embeddings_refuses_nonsense(new_size):
    model = TFOpenAIGPTModel(tiny_config(**HEADS))
    with pytest.raises(ValueError, match=r"new_num_tokens must be an integer >= 1"):
        model.resize_token_embeddings(new_size)
    assert model.config.vocab_size == 60 and token_table(model).shape == (60, 16)


def test_mean_resizing_starts_new_rows_at_the_old_rows_mean():
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTModel(tiny_config(**HEADS))
    table = np.random.default_rng(0).normal(0.5, 1.0, (60, 16)).astype(np.float32)
    model.transformer.embeddings.tokens_embed.embeddings.assign(table)
    model.resize_token_embeddings(64)
    new_rows = token_table(model)[60:]
    # N(mean, 1e-9 * covariance): within 1e-3 of the mean (sd ~3e-5), yet not all equal.
    np.testing.assert_allclose(new_rows, np.broadcast_to(table.mean(axis=0), (4, 16)), atol=1e-3)
    assert np.ptp(new_rows, axis=0).max() > 0
    # Fewer rows than dimensions: a singular covariance, so the mean itself.
    small = TFOpenAIGPTModel(tiny_config(**dict(HEADS, vocab_size=4)))
    old = token_table(small)
    small.resize_token_embeddings(6)
    np.testing.assert_allclose(token_table(small)[4:], np.broadcast_to(old.mean(axis=0), (2, 16)), atol=1e-6)


def test_pad_to_multiple_of_rounds_the_size_up():
    model = TFOpenAIGPTModel(tiny_config(**HEADS))
    assert model.resize_token_embeddings(61, pad_to_multiple_of=8).input_dim == 64
    assert model.resize_token_embeddings(None, pad_to_multiple_of=48).input_dim == 96
    assert model.config.vocab_size == 96
    for bad in (0, 1.5, True, "8"):
        with pytest.raises(ValueError, match="pad_to_multiple_of must be an integer >= 1"):
            model.resize_token_embeddings(100, pad_to_multiple_of=bad)
    assert model.config.vocab_size == 96


def test_resized_model_trains_after_compile():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**HEADS))
    model.resize_token_embeddings(64)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    ids = np.array([[60, 61, 62, 63, 1, 2]] * 2)
    before = token_table(model)[60:].copy()
    model.fit({"input_ids": ids, "labels": ids}, epochs=1, batch_size=2, verbose=0)
    assert not np.array_equal(token_table(model)[60:], before)


def test_an_untied_lm_head_is_refused_and_a_tied_copy_is_not(tiny_dir):
    # GPT's LM head is the token embedding; a checkpoint with a head of its own (the reference's
    # tie_word_embeddings=false) would silently give other logits if its head were dropped.
    state_dict, _ = load_state_dict(tiny_dir / "lm")
    state_dict = dict(state_dict)
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    tied = dict(state_dict, **{"lm_head.weight": state_dict["transformer.tokens_embed.weight"].copy()})
    model.load_state_dict(tied)
    untied = dict(state_dict, **{"lm_head.weight": state_dict["transformer.tokens_embed.weight"] * 2})
    with pytest.raises(checkpoints.CheckpointMismatchError, match="untied LM head"):
        model.load_state_dict(untied)
    TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm").load_state_dict(untied)  # no LM head: nothing to lose
