"""Checkpoints (from_pretrained / save_pretrained) and Keras-native saving of every model class."""
import json
import logging
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import TINY, tiny_config

from gpt_keras import (
    OpenAIGPTConfig,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)
from gpt_keras.checkpoints import CheckpointMismatchError, load_state_dict

# Three classes, and a pad token so that the classifier finds where each row of a batch ends without a mask.
HEADS = dict(num_labels=3, pad_token_id=0)
CLASSES = [TFOpenAIGPTModel, TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification]


def sample_inputs(cls):
    rng = np.random.default_rng(0)
    if cls is TFOpenAIGPTDoubleHeadsModel:
        return {"input_ids": rng.integers(1, 60, (2, 3, 7)), "mc_token_ids": np.full((2, 3), 6)}
    return {"input_ids": rng.integers(1, 60, (2, 7))}


def main_outputs(model, inputs):
    out = model(**inputs)
    return {key: np.asarray(value) for key, value in out.items() if key in ("last_hidden_state", "logits", "mc_logits")}


def assert_same_outputs(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_keras_file_round_trip(tmp_path, cls):
    model = cls(tiny_config(**HEADS))
    inputs = sample_inputs(cls)
    before = main_outputs(model, inputs)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is cls and loaded.config == model.config
    assert_same_outputs(before, main_outputs(loaded, inputs))


@pytest.mark.parametrize("cls", [TFOpenAIGPTLMHeadModel, TFOpenAIGPTForSequenceClassification], ids=lambda c: c.__name__)
def test_a_compiled_model_reloads_compiled_with_its_optimizer_state(tmp_path, cls):
    # As ModelCheckpoint(".keras") resumes: the optimizer's moments and step come back, and the two
    # models continue identically.
    keras.utils.set_random_seed(0)
    config = tiny_config(**HEADS, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    model = cls(config)
    data = dict(sample_inputs(cls), labels=sample_inputs(cls)["input_ids"] if cls is TFOpenAIGPTLMHeadModel else np.array([0, 2]))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    model.fit(data, batch_size=2, epochs=2, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    for mine, theirs in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    logs = [m.fit(data, batch_size=2, epochs=1, verbose=0).history for m in (model, loaded)]
    np.testing.assert_allclose(logs[1]["loss"], logs[0]["loss"], rtol=1e-6)
    np.testing.assert_allclose(logs[1]["accuracy"], logs[0]["accuracy"])
    assert loaded.evaluate(data, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_weights_and_config_round_trip(tmp_path, cls):
    model = cls(tiny_config(**HEADS))
    inputs = sample_inputs(cls)
    model.save_weights(tmp_path / "model.weights.h5")
    rebuilt = cls.from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    rebuilt.load_weights(tmp_path / "model.weights.h5")
    assert_same_outputs(main_outputs(model, inputs), main_outputs(rebuilt, inputs))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_from_config_takes_a_config_object_as_the_reference(cls):
    # The reference's from_config(config, **kwargs) is cls(config, **kwargs): fresh weights, same sizes.
    model = cls(tiny_config(**HEADS))
    rebuilt = cls.from_config(model.config, dtype="bfloat16", name="rebuilt")
    assert rebuilt.config.to_dict() == model.config.to_dict() and rebuilt.name == "rebuilt"
    assert [v.shape for v in rebuilt.weights] == [v.shape for v in model.weights]
    assert {v.dtype for v in rebuilt.weights} == {"bfloat16"}
    with pytest.raises(TypeError, match="keyword arguments go with an OpenAIGPTConfig object"):
        cls.from_config(model.get_config(), dtype="bfloat16")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_class_for_a_saved_checkpoint_comes_from_its_architectures(tmp_path, cls):
    from gpt_keras.models import model_class_for

    cls(tiny_config(**HEADS)).save_pretrained(tmp_path / "ckpt")
    assert model_class_for(OpenAIGPTConfig.from_pretrained(tmp_path / "ckpt")) is cls
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert model_class_for(config) is cls
    assert model_class_for({"architectures": ["SomethingElse", cls.__name__]}) is cls  # the TF name, first known


def test_architectures_that_name_no_model_are_an_error_unless_a_default_is_given():
    from gpt_keras.models import model_class_for

    for config in ({"architectures": ["GPT2LMHeadModel"]}, {}, tiny_config()):
        with pytest.raises(ValueError, match="names none of the gpt_keras models; expected one of .*OpenAIGPTLMHeadModel"):
            model_class_for(config)
        assert model_class_for(config, default=TFOpenAIGPTLMHeadModel) is TFOpenAIGPTLMHeadModel


def test_each_model_declares_its_lm_head_and_what_it_serves():
    declared = {cls: (cls.has_tied_lm_head, cls.serving_inputs) for cls in CLASSES}
    pair, triple = ("input_ids", "attention_mask"), ("input_ids", "attention_mask", "mc_token_ids")
    assert declared == {
        TFOpenAIGPTModel: (False, pair),
        TFOpenAIGPTLMHeadModel: (True, pair),
        TFOpenAIGPTDoubleHeadsModel: (True, triple),
        TFOpenAIGPTForSequenceClassification: (False, pair),
    }


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_save_pretrained_round_trip(tmp_path, cls):
    model = cls(tiny_config(**HEADS))
    model.save_pretrained(tmp_path / "ckpt")
    loaded = cls.from_pretrained(tmp_path / "ckpt")
    inputs = sample_inputs(cls)
    assert_same_outputs(main_outputs(model, inputs), main_outputs(loaded, inputs))
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["architectures"] == [cls.reference_name] and config["model_type"] == "openai-gpt"


def test_sharded_save_pretrained_round_trip(tmp_path):
    model = TFOpenAIGPTLMHeadModel(tiny_config(**HEADS))
    model.save_pretrained(tmp_path / "ckpt", max_shard_size=4000)
    assert (tmp_path / "ckpt" / "model.safetensors.index.json").is_file()
    assert len(list((tmp_path / "ckpt").glob("model-*-of-*.safetensors"))) > 1
    loaded = TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "ckpt")
    inputs = sample_inputs(TFOpenAIGPTLMHeadModel)
    assert_same_outputs(main_outputs(model, inputs), main_outputs(loaded, inputs))


@pytest.mark.parametrize(
    "cls, fixture",
    [(TFOpenAIGPTLMHeadModel, "lm"), (TFOpenAIGPTDoubleHeadsModel, "double-heads"), (TFOpenAIGPTForSequenceClassification, "seq-cls")],
)
def test_saved_checkpoint_has_the_reference_layout(tmp_path, tiny_dir, cls, fixture):
    """What we write holds exactly the tensors (names, shapes, values) the reference saved."""
    cls.from_pretrained(tiny_dir / fixture).save_pretrained(tmp_path / "ckpt")
    ours, _ = load_state_dict(tmp_path / "ckpt")
    reference, _ = load_state_dict(tiny_dir / fixture / "model.safetensors")
    assert sorted(ours) == sorted(reference)
    for name in reference:
        np.testing.assert_array_equal(ours[name], reference[name], err_msg=name)


def test_base_model_saves_without_prefix_like_the_reference(tmp_path, tiny_dir):
    TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm").save_pretrained(tmp_path / "base")
    from gpt_keras.checkpoints.safetensors import SafetensorsFile

    names = list(SafetensorsFile(tmp_path / "base" / "model.safetensors").keys())
    assert "tokens_embed.weight" in names and not any(name.startswith("transformer.") for name in names)


def test_base_checkpoint_into_head_model_initializes_the_head(tmp_path, tiny_dir, expected, caplog):
    TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm").save_pretrained(tmp_path / "base")
    with caplog.at_level(logging.WARNING, logger="gpt_keras"):
        model = TFOpenAIGPTDoubleHeadsModel.from_pretrained(tmp_path / "base")
    assert "multiple_choice_head.summary.weight" in caplog.text and "newly initialized" in caplog.text
    hidden = model.transformer.forward(expected["input_ids"])["last_hidden_state"]
    np.testing.assert_allclose(hidden, expected["base.last_hidden_state"], atol=1e-5)


def test_head_checkpoint_into_base_model_ignores_the_head(tiny_dir, expected, caplog):
    with caplog.at_level(logging.INFO, logger="gpt_keras"):
        model = TFOpenAIGPTModel.from_pretrained(tiny_dir / "seq-cls")
    assert "score.weight" in caplog.text
    state, _ = load_state_dict(tiny_dir / "seq-cls")
    ours = model.get_state_dict()
    assert sorted("transformer." + name for name in ours) == sorted(name for name in state if name != "score.weight")
    for name, value in ours.items():
        np.testing.assert_array_equal(value, state["transformer." + name], err_msg=name)


def test_shape_mismatch_names_the_tensor_and_leaves_model_untouched(tiny_dir):
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=1000, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    before = model.get_state_dict()
    state, _ = load_state_dict(tiny_dir / "lm")
    state["transformer.h.1.mlp.c_fc.weight"] = np.zeros((32, 100), np.float32)
    with pytest.raises(CheckpointMismatchError, match=r"transformer\.h\.1\.mlp\.c_fc\.weight: checkpoint has \(32, 100\), model expects \(32, 128\)"):
        model.load_state_dict(state)
    after = model.get_state_dict()
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_config_disagreeing_with_checkpoint(tiny_dir):
    with pytest.raises(CheckpointMismatchError, match="transformer.positions_embed.weight"):
        TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", n_positions=32)


def test_missing_tensors_are_listed(tiny_dir):
    state, _ = load_state_dict(tiny_dir / "lm")
    del state["transformer.h.0.ln_1.bias"]
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig.from_pretrained(tiny_dir / "lm"))
    with pytest.raises(CheckpointMismatchError, match=r"missing 1 tensors: \['transformer\.h\.0\.ln_1\.bias'\]"):
        model.load_state_dict(state)


def test_missing_config_and_missing_checkpoint(tmp_path, tiny_dir):
    with pytest.raises(FileNotFoundError):
        TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "nothing-here")
    (tmp_path / "noconfig").mkdir()
    shutil.copy(tiny_dir / "lm" / "model.safetensors", tmp_path / "noconfig")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "noconfig")


def test_truncated_safetensors_is_refused_naming_the_file(tmp_path, tiny_dir):
    shutil.copytree(tiny_dir / "lm", tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    weights.chmod(0o644)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors"):
        TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "ckpt")


def test_from_pretrained_routes_model_arguments_to_the_model_not_the_config(tiny_dir):
    model = TFOpenAIGPTDoubleHeadsModel.from_pretrained(tiny_dir / "double-heads", lm_coef=0.25)
    assert model.lm_coef == 0.25 and "lm_coef" not in model.config.to_dict()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_config_json_states_the_dtype_of_the_saved_tensors(tmp_path, dtype):
    # The reference reads config.json's dtype to know what the file holds.
    model = TFOpenAIGPTLMHeadModel(tiny_config(**HEADS), dtype=dtype)
    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["dtype"] == dtype
    state_dict, _ = load_state_dict(tmp_path / "m")
    assert {np.dtype(tensor.dtype).name for tensor in dict(state_dict).values()} == {dtype}


def test_the_backbone_inside_a_users_functional_model(tmp_path):
    # Given only some of its inputs symbolically, with its own dtype policy, saved and reloaded.
    from gpt_keras import TFOpenAIGPT

    backbone = TFOpenAIGPT(tiny_config(**HEADS), dtype="mixed_bfloat16")
    assert backbone.dtype_policy.name == backbone.get_config()["dtype"] == "mixed_bfloat16"
    assert TFOpenAIGPT.from_config(backbone.get_config()).dtype_policy.name == "mixed_bfloat16"
    ids, mask = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    hidden = backbone({"input_ids": ids, "attention_mask": mask})["last_hidden_state"]
    assert tuple(hidden.shape) == (None, None, 16) and hidden.dtype == "bfloat16"
    assert tuple(backbone(ids)["last_hidden_state"].shape) == (None, None, 16)
    model = keras.Model([ids, mask], keras.layers.Dense(3)(hidden[:, -1]))
    x = np.random.default_rng(0).integers(1, 60, (2, 5)).astype(np.int32)
    model.compile(optimizer="adam", loss="mse")
    model.fit([x, np.ones_like(x)], np.zeros((2, 3)), verbose=0)
    model.save(tmp_path / "user.keras")
    loaded = keras.saving.load_model(tmp_path / "user.keras")
    np.testing.assert_array_equal(loaded([x, np.ones_like(x)]), model([x, np.ones_like(x)]))


def test_frozen_layers_stay_frozen_through_a_keras_file(tmp_path):
    # Head-only fine-tuning resumed from a .keras checkpoint must not start training the backbone.
    model = TFOpenAIGPTForSequenceClassification(tiny_config(**HEADS))
    model.transformer.trainable = False
    partly = TFOpenAIGPTLMHeadModel(tiny_config(**HEADS))
    partly.transformer.blocks[0].trainable = False
    for original, name in ((model, "head_only.keras"), (partly, "block_frozen.keras")):
        original.save(tmp_path / name)
        loaded = keras.saving.load_model(tmp_path / name)
        assert [w.path for w in loaded.trainable_weights] == [w.path for w in original.trainable_weights]
        assert len(loaded.trainable_weights) < len(loaded.weights)


@pytest.mark.parametrize("freeze", ["whole", "one_block"])
def test_a_frozen_backbone_in_a_users_model_stays_frozen(tmp_path, freeze):
    from gpt_keras import TFOpenAIGPT

    backbone = TFOpenAIGPT(tiny_config(**HEADS))
    if freeze == "whole":
        backbone.trainable = False
    else:
        backbone.blocks[1].trainable = False
    ids = keras.Input((None,), dtype="int32")
    model = keras.Model(ids, keras.layers.Dense(3)(backbone(ids)["last_hidden_state"][:, -1]))
    model.save(tmp_path / "user.keras")
    loaded = keras.saving.load_model(tmp_path / "user.keras")
    assert [w.path for w in loaded.trainable_weights] == [w.path for w in model.trainable_weights]
    assert len(loaded.trainable_weights) < len(loaded.weights)


def test_every_layer_rebuilds_from_its_config_with_the_same_outputs():
    from gpt_keras import layers

    x = np.random.default_rng(0).normal(size=(2, 5, 16)).astype(np.float32)
    ids = np.random.default_rng(0).integers(0, 60, (2, 5)).astype(np.int32)
    cases = [
        (layers.Embedding(60, 16, initializer_range=0.3, name="e"), ids),
        (layers.GPTEmbeddings(60, 12, 16, dropout=0.2, initializer_range=0.3, name="g"), ids),
        (layers.CausalSelfAttention(4, attention_dropout=0.2, residual_dropout=0.3, initializer_range=0.3, name="a"), x),
        (layers.MLP(24, activation="silu", dropout=0.2, initializer_range=0.3, name="m"), x),
        (layers.TransformerBlock(4, 24, activation="relu", attention_dropout=0.1, residual_dropout=0.2, layer_norm_epsilon=1e-3, initializer_range=0.3, name="t"), x),
    ]
    for layer, inputs in cases:
        before = np.asarray(layer(inputs))
        config = layer.get_config()
        rebuilt = type(layer).from_config(config)
        assert rebuilt.get_config() == config, type(layer).__name__
        rebuilt(inputs)
        rebuilt.set_weights(layer.get_weights())
        np.testing.assert_array_equal(np.asarray(rebuilt(inputs)), before, err_msg=type(layer).__name__)


def test_load_state_dict_can_keep_the_initialization_of_tensors_of_another_shape(tiny_dir, caplog):
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=1000, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    before = model.get_state_dict()
    state, _ = load_state_dict(tiny_dir / "lm")
    state["transformer.h.1.mlp.c_fc.weight"] = np.zeros((32, 100), np.float32)
    with caplog.at_level(logging.WARNING, logger="gpt_keras"):
        assert model.load_state_dict(state, ignore_mismatched_sizes=True) == []
    assert "transformer.h.1.mlp.c_fc.weight: found shape (32, 100) in the checkpoint and (32, 128) in the model" in caplog.text
    after = model.get_state_dict()
    np.testing.assert_array_equal(after["transformer.h.1.mlp.c_fc.weight"], before["transformer.h.1.mlp.c_fc.weight"])
    for name in state:
        if name != "transformer.h.1.mlp.c_fc.weight":
            np.testing.assert_array_equal(after[name], state[name], err_msg=name)


# --- the reference's TF port: save_pretrained(saved_model=True), resize_token_embeddings(None) -------

REFERENCE_TF = json.loads((Path(__file__).parent / "fixtures" / "reference_loading.json").read_text())["tensorflow"]


@pytest.mark.parametrize("cls", [TFOpenAIGPTLMHeadModel, TFOpenAIGPTForSequenceClassification], ids=lambda c: c.__name__)
def test_save_pretrained_with_saved_model_writes_the_references_layout(tmp_path, cls):
    import tensorflow as tf

    model = cls(tiny_config(**HEADS))
    model.save_pretrained(tmp_path / "ckpt", saved_model=True)
    # Where the reference's TF port puts it (its other files there are Keras's own metadata).
    assert {"saved_model/1", "saved_model/1/saved_model.pb"} <= set(REFERENCE_TF["save_pretrained_saved_model"])
    assert (tmp_path / "ckpt" / "saved_model" / "1" / "saved_model.pb").is_file()
    served = tf.saved_model.load(str(tmp_path / "ckpt" / "saved_model" / "1")).signatures["serving_default"]
    ids = np.array([[5, 3, 9, 0]], np.int32)
    logits = served(input_ids=tf.constant(ids), attention_mask=tf.constant(np.array([[1, 1, 1, 0]], np.int32)))["logits"]
    np.testing.assert_allclose(logits.numpy(), np.asarray(model(input_ids=ids, attention_mask=np.array([[1, 1, 1, 0]]))["logits"]), atol=1e-5)
    assert type(cls.from_pretrained(tmp_path / "ckpt")) is cls


def test_saved_model_versions_are_replaced_or_kept(tmp_path):
    first, second = TFOpenAIGPTModel(tiny_config()), TFOpenAIGPTModel(tiny_config())
    first.save_pretrained(tmp_path, saved_model=True, version=1)
    first.save_pretrained(tmp_path, saved_model=True, version=2)
    second.save_pretrained(tmp_path, saved_model=True, version=1)
    assert sorted(p.name for p in (tmp_path / "saved_model").iterdir()) == ["1", "2"]
    import tensorflow as tf

    ids = np.array([[1, 2, 3]], np.int32)
    for version, model in (("1", second), ("2", first)):
        served = tf.saved_model.load(str(tmp_path / "saved_model" / version)).signatures["serving_default"]
        out = served(input_ids=tf.constant(ids), attention_mask=tf.ones_like(ids))["last_hidden_state"]
        np.testing.assert_allclose(out.numpy(), np.asarray(model(ids)["last_hidden_state"]), atol=1e-5, err_msg=version)
    with pytest.raises(ValueError, match="version must be an integer >= 0"):
        first.save_pretrained(tmp_path, saved_model=True, version="latest")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(safe_serialization=False), r"save_pretrained\(safe_serialization=False\) is not supported: .*safetensors"),
        (dict(signatures={"serving_default": None}), r"save_pretrained\(signatures\) is not supported: .*export_saved_model"),
        (dict(push_to_hub=True), r"save_pretrained\(push_to_hub=True\) is not supported: .*upload_folder"),
    ],
)
def test_save_pretrained_refuses_what_it_does_not_write(tmp_path, kwargs, message):
    model = TFOpenAIGPTModel(tiny_config())
    with pytest.raises(ValueError, match=message):
        model.save_pretrained(tmp_path / "ckpt", **kwargs)
    assert not (tmp_path / "ckpt").exists()
    model.save_pretrained(tmp_path / "ckpt", False, safe_serialization=True)  # the reference's positional saved_model
    assert (tmp_path / "ckpt" / "model.safetensors").is_file() and not (tmp_path / "ckpt" / "saved_model").exists()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_resize_token_embeddings_of_none_changes_nothing(cls):
    model = cls(tiny_config(**HEADS))
    before = np.asarray(model.transformer.embeddings.tokens_embed.embeddings)
    # The reference's TF port gives the table (a variable) for an unchanged size and its layer otherwise;
    # here it is always the layer (as the PyTorch reference and the TF port's Keras-embedding path).
    assert REFERENCE_TF["resize_token_embeddings"]["None"] == "ResourceVariable"
    assert model.resize_token_embeddings(None) is model.transformer.embeddings.tokens_embed
    assert model.config.vocab_size == TINY["vocab_size"]
    np.testing.assert_array_equal(np.asarray(model.transformer.embeddings.tokens_embed.embeddings), before)
    assert model.resize_token_embeddings(TINY["vocab_size"] + 3) is model.transformer.embeddings.tokens_embed
