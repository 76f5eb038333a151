"""The weight-gradient products: where they copy transposes (XLA, no AVX-512, no accelerator), and that
their values and gradients are the plain products' everywhere (math: the same sums)."""
import numpy as np
import pytest
import tensorflow as tf

from gpt_keras import TFOpenAIGPTLMHeadModel, _cpu
from gpt_keras.layers import products
from helpers import tiny_config


@pytest.fixture
def without_avx512(monkeypatch):
    """XLA as on a CPU without AVX-512: the products copy their transposes."""
    monkeypatch.setattr(_cpu, "xla_runs_avx512", lambda: False)


@pytest.fixture
def with_avx512(monkeypatch):
    monkeypatch.setattr(_cpu, "xla_runs_avx512", lambda: True)


def _chosen(jit_compile):
    return tf.function(lambda: tf.constant(products.transposed_copies_pay()), jit_compile=jit_compile)().numpy()


def test_copies_only_while_tracing_for_xla_without_avx512(without_avx512):
    assert products.transposed_copies_pay() is False  # eager
    assert not _chosen(jit_compile=False)  # a TF graph: oneDNN reads transposes as they are
    assert _chosen(jit_compile=True)


def test_no_copies_for_xla_with_avx512(with_avx512):
    assert not _chosen(jit_compile=True)


def _hlo(function, *args):
    return function.experimental_get_compiler_ir(*args)(stage="hlo")


def test_the_compiled_gradient_holds_a_barrier_only_where_copies_pay(monkeypatch):
    x, kernel = tf.ones((2, 3, 4)), tf.ones((4, 5))

    def gradient_program():
        @tf.function(jit_compile=True)
        def gradient(x, kernel):
            with tf.GradientTape() as tape:
                tape.watch(kernel)
                loss = tf.reduce_sum(products.dense_product(x, kernel))
            return tape.gradient(loss, kernel)

        return _hlo(gradient, x, kernel)

    monkeypatch.setattr(_cpu, "xla_runs_avx512", lambda: False)
    assert "opt-barrier" in gradient_program()
    monkeypatch.setattr(_cpu, "xla_runs_avx512", lambda: True)
    assert "opt-barrier" not in gradient_program()


def _values_and_gradients(product, left, right, weights, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def run(left, right):
        with tf.GradientTape() as tape:
            tape.watch([left, right])
            outputs = product(left, right)
            loss = tf.reduce_sum(outputs * weights)
        return [outputs, *tape.gradient(loss, [left, right])]

    return [value.numpy() for value in run(left, right)]


def _float64(rng, *shape):
    return tf.constant(rng.standard_normal(shape))


@pytest.mark.parametrize("copies", [True, False], ids=["copies", "plain"])
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)], ids=["2d", "3d"])
def test_dense_product_equals_the_plain_product_and_its_gradients(monkeypatch, copies, shape):
    monkeypatch.setattr(_cpu, "xla_runs_avx512", lambda: not copies)
    rng = np.random.default_rng(0)
    inputs, kernel = _float64(rng, *shape), _float64(rng, 4, 5)
    weights = _float64(rng, *shape[:-1], 5)  # a loss whose gradient is not all ones
    ours = _values_and_gradients(products.dense_product, inputs, kernel, weights, jit_compile=True)
    plain = _values_and_gradients(lambda a, b: tf.einsum("...i,io->...o", a, b), inputs, kernel, weights, jit_compile=False)
    for name, got, want in zip(("outputs", "d inputs", "d kernel"), ours, plain):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("classes", [7, 10, 3], ids=["uneven-slices", "even-slices", "one-slice"])
def test_attend_product_equals_the_plain_product_and_its_gradients(without_avx512, monkeypatch, classes):
    monkeypatch.setattr(products, "TABLE_SLICE", 5 if classes != 10 else 2)
    rng = np.random.default_rng(1)
    inputs, table = _float64(rng, 6, 4), _float64(rng, classes, 4)
    weights = _float64(rng, 6, classes)
    ours = _values_and_gradients(products.attend_product, inputs, table, weights, jit_compile=True)
    plain = _values_and_gradients(lambda a, b: tf.einsum("ri,ci->rc", a, b), inputs, table, weights, jit_compile=False)
    for name, got, want in zip(("scores", "d inputs", "d table"), ours, plain):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)


def _model_gradients(model, batch):
    @tf.function(jit_compile=True)
    def gradients(batch):
        with tf.GradientTape() as tape:
            loss = model(batch, training=False)["loss"]
        return [loss] + [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]

    return [value.numpy() for value in gradients(batch)]


def test_the_models_compiled_gradients_are_the_same_with_and_without_copies(monkeypatch):
    config = tiny_config()
    model = TFOpenAIGPTLMHeadModel(config)
    ids = np.random.default_rng(2).integers(0, config.vocab_size, (3, 9)).astype("int32")
    batch = {"input_ids": tf.constant(ids), "labels": tf.constant(ids)}
    model(batch)
    monkeypatch.setattr(products, "TABLE_SLICE", 16)  # the tied table's gradient in four slices
    monkeypatch.setattr(_cpu, "xla_runs_avx512", lambda: False)
    copied = _model_gradients(model, batch)
    monkeypatch.setattr(_cpu, "xla_runs_avx512", lambda: True)
    plain = _model_gradients(model, batch)
    names = ["loss"] + [variable.path for variable in model.trainable_variables]
    assert len(copied) == len(plain) == len(names)
    for name, got, want in zip(names, copied, plain):
        # float32 products summed in another order
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=name)
        assert np.any(got != 0), name
