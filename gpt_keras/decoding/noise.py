"""The randomness of sampling: Gumbel noise hashed from (seed, step, element index).

TensorFlow's stateless RNG kernels draw different streams on CPU and under XLA, so the noise is hashed
from integers here: the same seed gives the same tokens eagerly, compiled and exported. Adding Gumbel
noise to log-probabilities and taking the argmax (top-k) draws one token (k without replacement) from
their softmax.
"""
import tensorflow as tf


def _hash32(x):
    """An avalanching 32-bit integer hash (Wellons' "lowbias32")."""
    x ^= tf.bitwise.right_shift(x, 16)
    x *= tf.constant(0x7FEB352D, tf.uint32)
    x ^= tf.bitwise.right_shift(x, 15)
    x *= tf.constant(0x846CA68B, tf.uint32)
    return x ^ tf.bitwise.right_shift(x, 16)


def gumbel_noise(shape, seed, step):
    """Gumbel noise of `shape` that is a pure function of (seed, step, element index)."""
    golden = tf.constant(0x9E3779B9, tf.uint32)
    key = _hash32(tf.cast(seed, tf.uint32) + _hash32(tf.cast(step, tf.uint32) + golden))
    index = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
    bits = _hash32(index * golden + key)
    uniform = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) / float(1 << 24)  # in (0, 1)
    return -tf.math.log(-tf.math.log(uniform))
