"""Quantization through Keras' own machinery: every mode on the Dense layers and the embeddings (the
tied LM head too), quantized dtype policies, and quantized models through forward, fit, generate,
`.keras` files and export; `save_pretrained` refuses them."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from gpt_keras import (
    TFOpenAIGPT,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
    export_saved_model,
)
from gpt_keras.decoding import DecodingOptions, build_generate_fn
from gpt_keras.models import _keras_compat
from gpt_keras.models.quantization import quantized_layers

IDS = np.random.default_rng(0).integers(1, 60, (2, 6)).astype(np.int32)


@pytest.fixture(scope="module")
def float_logits(tiny_dir, expected):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    return np.asarray(model(expected["input_ids"], attention_mask=expected["attention_mask"]).logits)


@pytest.mark.parametrize(
    "mode, stored, bound",
    [("int8", "int8", 1.0), ("int4", "int8", 11.0), ("float8", "float32", 5.0)],  # int4 is packed in int8
)
def test_each_mode_quantizes_the_projections_and_the_tables_and_changes_the_logits(tiny_dir, expected, float_logits, mode, stored, bound):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    model.quantize(mode)
    assert model.quantized
    block = model.transformer.blocks[0]
    for dense in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
        assert dense.quantization_mode == mode
    table = model.transformer.embeddings.tokens_embed
    # Keras' Embedding has int8 and int4 only: under float8 the tables (and the tied head) stay float.
    assert table.quantization_mode == (None if mode == "float8" else mode)
    if mode != "float8":
        assert keras.backend.standardize_dtype(_keras_compat.stored_weight(block.attn.c_attn).dtype) == stored
    logits = np.asarray(model(expected["input_ids"], attention_mask=expected["attention_mask"]).logits)
    real = expected["attention_mask"].astype(bool)
    drift = np.abs(logits - float_logits)[real].max()
    assert 0.0 < drift < bound, drift
    with pytest.raises(ValueError, match="none is left unquantized"):
        model.quantize(mode)


def test_quantized_models_round_trip_keras_files_with_identical_outputs(tmp_path):
    ids3 = IDS.reshape(1, 2, 6)
    cases = [
        (lambda: TFOpenAIGPTLMHeadModel(tiny_config()), "int4", lambda m: m(IDS).logits),
        (lambda: TFOpenAIGPTDoubleHeadsModel(tiny_config()), "int8", lambda m: m(ids3).mc_logits),
        (lambda: TFOpenAIGPTForSequenceClassification(tiny_config(num_labels=3)), "int8", lambda m: m(IDS[:1]).logits),
        (lambda: TFOpenAIGPTModel(tiny_config()), "float8", lambda m: m(IDS).last_hidden_state),
        (lambda: TFOpenAIGPT(tiny_config()), "int8", lambda m: m(IDS)["last_hidden_state"]),
    ]
    for build, mode, output in cases:
        model = build()
        model.quantize(mode)
        if hasattr(model, "score") or hasattr(model, "multiple_choice_head"):
            head = getattr(model, "score", None) or model.multiple_choice_head.summary
            assert head.quantization_mode == mode  # the heads' Dense layers quantize too
        path = tmp_path / f"{type(model).__name__}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert sorted(l.path for l in quantized_layers(loaded)) == sorted(l.path for l in quantized_layers(model))
        np.testing.assert_array_equal(np.asarray(output(loaded)), np.asarray(output(model)), err_msg=type(model).__name__)


def test_a_quantized_dtype_builds_the_quantized_layout_and_from_pretrained_quantizes_the_checkpoint(tmp_path, tiny_dir):
    quantized = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    quantized.quantize("int8")
    quantized.save_weights(tmp_path / "int8.weights.h5")
    config = quantized.config
    placeholders = TFOpenAIGPTLMHeadModel(config, dtype="int8_from_float32")
    assert placeholders.transformer.blocks[1].mlp.c_fc.quantization_mode == "int8"
    assert placeholders.transformer.embeddings.tokens_embed.quantization_mode == "int8"
    assert placeholders.transformer.blocks[1].ln_2.quantization_mode is None
    placeholders.load_weights(tmp_path / "int8.weights.h5")
    np.testing.assert_array_equal(np.asarray(placeholders(IDS).logits), np.asarray(quantized(IDS).logits))
    loaded = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", dtype="int8_from_float32")
    np.testing.assert_array_equal(np.asarray(loaded(IDS).logits), np.asarray(quantized(IDS).logits))
    assert loaded.dtype_policy.compute_dtype == "float32"


def test_save_pretrained_and_state_dicts_refuse_a_quantized_model(tmp_path):
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    model.quantize("int8")
    with pytest.raises(ValueError, match=r"no place for quantized weights.*model\.save.*from_pretrained\(path, dtype="):
        model.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="load_state_dict: .* is quantized"):
        model.load_state_dict({})


def test_quantized_generation_is_the_same_under_xla_and_as_a_graph():
    model = TFOpenAIGPTLMHeadModel(tiny_config(initializer_range=0.5))
    model.quantize("int8")
    assert model.transformer.embeddings.tokens_embed.quantization_mode == "int8"  # the tied head too
    prompt = tf.constant(IDS[:1, :4])
    controls = [tf.constant(6), tf.constant(1.0), tf.constant(0), tf.constant(1.0), tf.constant(0), tf.constant(False)]
    xla = build_generate_fn(model, 16, DecodingOptions())(prompt, tf.ones_like(prompt), *controls)["sequences"]
    graph = tf.function(build_generate_fn(model, 16, DecodingOptions(), jit_compile=False))(prompt, tf.ones_like(prompt), *controls)
    np.testing.assert_array_equal(np.asarray(graph["sequences"]), np.asarray(xla))
    # generate runs the XLA program: the faster of the two for every mode on CPU (README "Quantization").
    np.testing.assert_array_equal(np.asarray(model.generate(IDS[:1, :4], max_new_tokens=6))[0], np.asarray(xla)[0, :10])


def test_a_quantized_model_fits(tmp_path):
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    model.quantize("int8")
    frozen = {w.path: np.asarray(w) for w in model.weights if not w.trainable}
    model.compile(optimizer="adam", jit_compile=True)
    history = model.fit({"input_ids": IDS, "labels": IDS}, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for weight in model.weights:
        if weight.path in frozen:  # the int8 kernels and tables and their scales
            np.testing.assert_array_equal(np.asarray(weight), frozen[weight.path], err_msg=weight.path)

    # float8 trains with delayed scaling: the amax histories follow the data.
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    model.quantize("float8")
    model.compile(optimizer="adam", jit_compile=True)
    model.fit({"input_ids": IDS, "labels": IDS}, epochs=1, verbose=0)
    history = np.asarray(model.transformer.blocks[0].attn.c_attn.inputs_amax_history)
    assert history.max() > 0


def test_an_exported_int8_model_serves_its_logits_and_tokens(tmp_path):
    model = TFOpenAIGPTLMHeadModel(tiny_config(initializer_range=0.5))
    model.quantize("int8")
    assert model.quantized
    version = export_saved_model(model, tmp_path / "export", max_length=16, max_new_tokens=6)
    loaded = tf.saved_model.load(str(version))
    mask = np.ones_like(IDS)
    served = loaded.signatures["serving_default"](input_ids=tf.constant(IDS), attention_mask=tf.constant(mask))
    np.testing.assert_allclose(served["logits"].numpy(), np.asarray(model(IDS).logits), atol=1e-5)
    controls = dict(max_new_tokens=tf.constant(6), temperature=tf.constant(1.0), top_k=tf.constant(0),
                    top_p=tf.constant(1.0), seed=tf.constant(0), do_sample=tf.constant(False))
    sequences = loaded.signatures["generate"](input_ids=tf.constant(IDS[:1, :4]), attention_mask=tf.constant(mask[:1, :4]), **controls)
    np.testing.assert_array_equal(sequences["sequences"].numpy(), np.asarray(model.generate(IDS[:1, :4], max_new_tokens=6)))
    metadata = json.loads((version / "assets.extra" / "gpt_keras_export.json").read_text())
    assert metadata["model_class"] == "TFOpenAIGPTLMHeadModel"


def test_gptq_and_awq_calibrate_the_blocks_on_the_data_and_round_trip(tmp_path, tiny_dir):
    def calibrated(mode, seed):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
        dataset = [np.random.default_rng(seed + i).integers(0, 1000, 48) for i in range(8)]
        make = keras.quantizers.GPTQConfig if mode == "gptq" else keras.quantizers.AWQConfig
        # Keras needs a tokenizer object even for token-id data (it only calls it on text).
        model.quantize(mode, config=make(dataset, object(), num_samples=8, sequence_length=24, group_size=16))
        return model

    for mode in ("awq", "gptq"):
        model = calibrated(mode, 0)
        assert model.transformer.blocks[1].mlp.c_proj.quantization_mode == mode
        assert model.transformer.embeddings.tokens_embed.quantization_mode is None  # the blocks only
        model.save(tmp_path / f"{mode}.keras")
        loaded = keras.saving.load_model(tmp_path / f"{mode}.keras")
        np.testing.assert_array_equal(np.asarray(loaded(IDS).logits), np.asarray(model(IDS).logits))
    # Calibration reads the layers' inputs: other data, other weights. (Keras wraps a layer's `call` to
    # see them, which a quantized Keras layer's call skips; gpt_keras' Dense goes through it, else
    # GPTQ and AWQ would round every weight the same whatever the data.)
    kernel = lambda m: np.asarray(m.transformer.blocks[0].attn.c_attn.quantized_kernel)
    assert not np.array_equal(kernel(calibrated("gptq", 100)), kernel(model))
    with pytest.raises(ValueError, match="GPTQConfig"):
        TFOpenAIGPTLMHeadModel(tiny_config()).quantize("gptq")
    with pytest.raises(ValueError, match="Invalid quantization mode"):
        TFOpenAIGPTLMHeadModel(tiny_config()).quantize("int2")
