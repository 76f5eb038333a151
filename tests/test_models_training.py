"""Training with Keras: the internal losses under `fit` (also jit-compiled), compiled losses, mixed precision."""
import keras
import numpy as np
import pytest
from helpers import tiny_config

from gpt_keras import (
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)

# The sizes the loss thresholds below were set with (lm_data's tokens are < 40); a pad token so that
# the classifier finds where each row of a batch ends without a mask.
SIZES = dict(vocab_size=40, n_embd=32, n_head=4, pad_token_id=0)


def lm_data(n=32, seq=12):
    # A repeated pattern: next-token loss can fall far below log(vocab).
    ids = np.tile(np.arange(1, seq + 1), (n, 1)) % 40
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": ids}


def test_lm_trains_on_its_internal_loss_under_xla():
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    data = lm_data()
    first = model.evaluate(data, batch_size=8, verbose=0)
    history = model.fit(data, batch_size=8, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * first, (first, history.history["loss"])
    assert model.evaluate(data, batch_size=8, verbose=0) < 0.5 * first
    predictions = model.predict({"input_ids": data["input_ids"]}, batch_size=8, verbose=0)
    assert predictions["logits"].shape == (32, 12, 40)


def test_double_heads_trains_on_mc_plus_weighted_lm_loss():
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES), lm_coef=0.5)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 40, (16, 2, 8))
    data = {"input_ids": ids, "mc_token_ids": np.full((16, 2), 7), "labels": ids, "mc_labels": rng.integers(0, 2, 16)}
    out = model(**data)
    np.testing.assert_allclose(
        model.compute_loss(y_pred=out), float(out["mc_loss"]) + 0.5 * float(out["loss"]), rtol=1e-6
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    history = model.fit(data, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # Both parts show in the progress bar next to the total.
    for epoch in range(2):
        parts = history.history["mc_loss"][epoch] + 0.5 * history.history["lm_loss"][epoch]
        np.testing.assert_allclose(history.history["loss"][epoch], parts, rtol=1e-5)


def test_classifier_with_compiled_keras_loss_and_metrics_on_y():
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTForSequenceClassification(tiny_config(**SIZES))
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 64)
    ids = np.where(labels[:, None] == 1, 5, 9) + rng.integers(0, 3, (64, 6))  # separable by token range
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,
    )
    history = model.fit({"input_ids": ids}, labels, batch_size=16, epochs=8, verbose=0)
    assert history.history["accuracy"][-1] >= 0.95


def test_compiling_without_loss_and_without_labels_explains_what_is_missing():
    model = TFOpenAIGPTModel(tiny_config(**SIZES))
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="compiled without a loss and got no labels"):
        model.fit({"input_ids": np.ones((4, 5), np.int32)}, batch_size=2, epochs=1, verbose=0)


def test_class_weights_without_a_compiled_loss_need_class_labels_as_y():
    # Keras derives class weights from y, one class per example: not from labels in the input dict,
    # and not for the LM's token labels (sample_weight weights those: tests/test_migration_model_api.py).
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    model.compile(optimizer="sgd")
    data = lm_data(n=4)
    with pytest.raises(ValueError, match="class_weight was given but no loss was compiled, and Keras derives class weights from y"):
        model.fit(data, batch_size=2, verbose=0, class_weight={0: 1.0})
    ids = data["input_ids"]
    with pytest.raises(ValueError, match="the LM's labels are tokens"):
        model.fit(ids, ids, batch_size=2, verbose=0, class_weight={0: 1.0})
    with pytest.raises(ValueError, match="the LM's labels are tokens"):
        model.train_on_batch(ids, ids, class_weight={0: 1.0})


def test_lm_metrics_with_the_internal_loss_score_next_tokens_and_skip_ignored_labels():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    metric = keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="ce")
    model.compile(optimizer="sgd", metrics=[metric])
    data = lm_data(n=4, seq=6)
    data["labels"] = data["labels"].copy()
    data["labels"][:, 3:] = -100  # only the predictions of tokens 1 and 2 count
    logits = model.predict({"input_ids": data["input_ids"]}, verbose=0)["logits"].astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = data["labels"][:, 1:3]
    expected = -np.take_along_axis(log_probs[:, :2], targets[..., None], -1).mean()
    logs = model.evaluate(data, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["ce"], expected, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)  # the same tokens as the loss
    model.compile("sgd", None, None, [keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="ce")])
    np.testing.assert_allclose(model.evaluate(data, batch_size=4, verbose=0, return_dict=True)["ce"], expected, rtol=1e-5)


def test_classifier_and_double_heads_metrics_with_the_internal_loss_read_labels_from_inputs():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    classifier = TFOpenAIGPTForSequenceClassification(tiny_config(**SIZES))
    classifier.compile(optimizer="sgd", metrics=["accuracy"])
    ids = rng.integers(1, 40, (8, 6))
    labels = rng.integers(0, 2, 8)
    labels[:2] = -100
    predicted = classifier.predict({"input_ids": ids}, verbose=0)["logits"].argmax(-1)
    logs = classifier.evaluate({"input_ids": ids, "labels": labels}, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["accuracy"], (predicted == labels)[2:].mean(), atol=1e-6)

    double = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES))
    double.compile(optimizer="sgd", metrics=["accuracy"])
    choices = rng.integers(1, 40, (8, 3, 6))
    mc_labels = rng.integers(0, 3, 8)
    predicted = double.predict({"input_ids": choices}, verbose=0)["mc_logits"].argmax(-1)
    logs = double.evaluate({"input_ids": choices, "mc_labels": mc_labels}, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["accuracy"], (predicted == mc_labels).mean(), atol=1e-6)
    history = double.fit({"input_ids": choices, "mc_labels": mc_labels}, batch_size=4, epochs=1, verbose=0)
    assert 0.0 <= history.history["accuracy"][0] <= 1.0
    with pytest.raises(ValueError, match="compiled metrics of TFOpenAIGPTDoubleHeadsModel need targets for 'mc_logits'"):
        double.evaluate({"input_ids": choices, "labels": choices}, batch_size=8, verbose=0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("cls", [TFOpenAIGPTModel, TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification])
def test_mixed_precision_is_finite_and_close_to_float32(tiny_dir, expected, policy, cls):
    source = {TFOpenAIGPTDoubleHeadsModel: "double-heads", TFOpenAIGPTForSequenceClassification: "seq-cls"}.get(cls, "lm")
    reference = cls.from_pretrained(tiny_dir / source)
    mixed = cls.from_pretrained(tiny_dir / source, dtype=policy)
    if cls is TFOpenAIGPTDoubleHeadsModel:
        inputs = {"input_ids": expected["dh.input_ids"], "mc_token_ids": expected["dh.mc_token_ids"]}
    else:
        inputs = {"input_ids": expected["input_ids"], "attention_mask": expected["attention_mask"]}
    key = "last_hidden_state" if cls is TFOpenAIGPTModel else "logits"
    want, got = np.asarray(reference(**inputs)[key], np.float32), np.asarray(mixed(**inputs)[key], np.float32)
    assert np.isfinite(got).all()
    # bfloat16 keeps 8 mantissa bits, float16 11: errors relative to the output's scale.
    tolerance = 0.1 if policy == "mixed_bfloat16" else 0.02
    assert np.abs(got - want).max() <= tolerance * np.abs(want).max()
    assert mixed.transformer.blocks[0].attn.c_attn.kernel.dtype == "float32"


def test_float16_survives_query_key_products_and_activations_past_its_range(tiny_dir, expected):
    import tensorflow as tf

    from gpt_keras.layers import gelu_tanh

    x = tf.constant([300.0, -300.0, 200.0], tf.float16)  # x * x overflows float16 (max 65504)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = gelu_tanh(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [1.0, 0.0, 1.0], atol=1e-3)
    np.testing.assert_allclose(y.numpy(), [300.0, 0.0, 200.0], atol=1e-3)
    # Queries and keys 64x the fixture's: their products reach ~1.6e5, past float16's range.
    models = [TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", dtype=policy) for policy in ("float32", "mixed_float16")]
    for model in models:
        for block in model.transformer.blocks:
            kernel = block.attn.c_attn.kernel
            width = kernel.shape[0]
            kernel.assign(np.concatenate([kernel.numpy()[:, : 2 * width] * 64, kernel.numpy()[:, 2 * width :]], axis=1))
    inputs = {"input_ids": expected["input_ids"], "attention_mask": expected["attention_mask"]}
    want, got = (np.asarray(model(**inputs)["logits"], np.float32) for model in models)
    assert np.isfinite(want).all() and np.isfinite(got).all()


def test_layer_norm_is_float64_at_inference_and_float32_in_training():
    import tensorflow as tf

    from gpt_keras.layers import LayerNorm

    rng = np.random.default_rng(0)
    # Rows with a common offset 10x their spread: a one-pass float32 variance would lose digits.
    x = (10.0 + rng.standard_normal((4, 7, 96))).astype(np.float32)
    norm = LayerNorm(epsilon=1e-5)
    norm.build(x.shape)
    norm.gamma.assign(rng.uniform(0.5, 1.5, 96).astype(np.float32))
    norm.beta.assign(rng.standard_normal(96).astype(np.float32))
    gamma, beta = (np.asarray(v, np.float64) for v in (norm.gamma, norm.beta))
    x64 = x.astype(np.float64)
    centered = x64 - x64.mean(-1, keepdims=True)
    exact = centered / np.sqrt((centered**2).mean(-1, keepdims=True) + 1e-5) * gamma + beta

    def compiled(layer, training):
        return tf.function(lambda t: layer(t, training=training), jit_compile=True)

    for training, dtype in ((False, "f64"), (None, "f64"), (True, "f32")):
        program = compiled(norm, training)
        hlo = program.experimental_get_compiler_ir(tf.constant(x))(stage="hlo")
        assert ("f64[" in hlo) == (dtype == "f64"), (training, dtype)
        got = program(tf.constant(x)).numpy()
        # float64: rounded once to float32 (|y| < ~6). float32: centring costs a few ulps of the inputs
        # (|x| < ~15), which normalizing by the spread (~1) and gamma (< 1.5) carry into y.
        atol = 4e-7 if dtype == "f64" else 8 * np.finfo(np.float32).eps * np.abs(x).max()
        error = np.abs(got - exact).max()
        assert error <= atol, (training, error, atol)
    # Both paths have the same gradients, to float32 round-off.
    upstream = tf.constant(rng.standard_normal(x.shape).astype(np.float32))
    gradients = []
    for training in (False, True):
        with tf.GradientTape() as tape:
            inputs = tf.constant(x)
            tape.watch(inputs)
            loss = tf.reduce_sum(norm(inputs, training=training) * upstream)
        gradients.append([g.numpy() for g in tape.gradient(loss, [inputs, norm.gamma, norm.beta])])
    for inference, training in zip(*gradients):
        np.testing.assert_allclose(training, inference, rtol=0, atol=2e-5 * np.abs(inference).max())
    # A float64 model stays float64 in training.
    norm64 = LayerNorm(epsilon=1e-5, dtype="float64")
    norm64.build(x.shape)
    assert "f64[" in compiled(norm64, True).experimental_get_compiler_ir(tf.constant(x64))(stage="hlo")


def test_bfloat16_on_cpu_compiles_without_xla_by_default_float32_with():
    bf16 = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES), dtype="mixed_bfloat16")
    bf16.compile(optimizer="adam")
    assert bf16.jit_compile is False
    bf16.compile(optimizer="adam", jit_compile=True)
    assert bf16.jit_compile is True
    fp32 = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    fp32.compile(optimizer="adam")
    assert fp32.jit_compile is True


def test_classifier_dropout_acts_only_while_training(tiny_dir, expected):
    with pytest.raises(ValueError, match="classifier_dropout must be in"):
        TFOpenAIGPTForSequenceClassification(tiny_config(**SIZES), classifier_dropout=1.0)
    model = TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls", classifier_dropout=0.5)
    assert model.classifier_dropout == 0.5 and "classifier_dropout" not in model.config.to_dict()
    ids = expected["sc.input_ids"]
    np.testing.assert_allclose(model(ids).logits, expected["sc.logits"], atol=1e-5)
    assert not np.allclose(model(ids, training=True).logits, expected["sc.logits"], atol=1e-3)
    rebuilt = TFOpenAIGPTForSequenceClassification.from_config(model.get_config())
    assert rebuilt.classifier_dropout == 0.5
