"""`gpt_keras.layers.Dropout`: Keras' dropout law (keep with probability 1 - rate, scale by 1 / (1 - rate))
with ThreeFry masks in XLA programs for the CPU, and Keras' own layer everywhere else."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gpt_keras.layers import Dropout

SHAPE = (40, 50, 50)  # 100,000 units


def _run(layer, inputs, jit_compile, training=True, calls=1):
    function = tf.function(lambda x: layer(x, training=training), jit_compile=jit_compile)
    return [function(inputs).numpy() for _ in range(calls)]


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_in_xla_units_are_kept_at_the_rate_and_scaled(rate):
    inputs = tf.random.uniform(SHAPE, 1.0, 2.0)
    (outputs,) = _run(Dropout(rate, seed=1), inputs, jit_compile=True)
    kept = outputs != 0
    units = kept.size
    # Binomial: within 5 standard deviations of (1 - rate) * units.
    assert abs(kept.sum() - (1 - rate) * units) < 5 * np.sqrt(units * rate * (1 - rate))
    np.testing.assert_allclose(outputs[kept], inputs.numpy()[kept] * np.float32(1 / (1 - rate)), rtol=1e-6)


def test_in_xla_the_masks_come_from_threefry_and_change_every_call():
    layer, inputs = Dropout(0.3, seed=2), tf.ones(SHAPE)
    program = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    assert "rng_three_fry" in program.experimental_get_compiler_ir(inputs)(stage="hlo")
    first, second = (program(inputs).numpy() != 0 for _ in range(2))
    assert (first != second).mean() > 0.2  # independent masks differ in 2 * 0.3 * 0.7 of the units


def test_in_xla_a_seed_gives_the_same_masks():
    inputs = tf.ones(SHAPE)
    first, second = (_run(Dropout(0.2, seed=7), inputs, jit_compile=True)[0] for _ in range(2))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_not_training_or_no_rate_is_the_identity_and_rate_one_drops_all(jit_compile):
    inputs = tf.random.uniform(SHAPE)
    np.testing.assert_array_equal(_run(Dropout(0.4), inputs, jit_compile, training=False)[0], inputs.numpy())
    np.testing.assert_array_equal(_run(Dropout(0.0), inputs, jit_compile)[0], inputs.numpy())
    np.testing.assert_array_equal(_run(Dropout(1.0), inputs, jit_compile)[0], np.zeros(SHAPE, np.float32))


@pytest.mark.parametrize("jit_compile", [None, False], ids=["eager", "graph"])
def test_outside_xla_it_is_keras_dropout(jit_compile):
    inputs = tf.random.uniform(SHAPE)
    ours, theirs = Dropout(0.25, seed=5), keras.layers.Dropout(0.25, seed=5)
    if jit_compile is None:
        np.testing.assert_array_equal(ours(inputs, training=True), theirs(inputs, training=True))
    else:
        np.testing.assert_array_equal(_run(ours, inputs, jit_compile)[0], _run(theirs, inputs, jit_compile)[0])


def test_a_noise_shape_is_kept_in_xla():
    inputs = tf.ones(SHAPE)
    (outputs,) = _run(Dropout(0.5, noise_shape=(SHAPE[0], 1, SHAPE[2]), seed=3), inputs, jit_compile=True)
    # One mask for every position along the middle axis.
    np.testing.assert_array_equal(outputs, np.broadcast_to(outputs[:, :1], SHAPE))
    assert 0 < (outputs == 0).mean() < 1
