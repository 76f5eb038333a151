"""This machine's own limits, measured in the same run as a benchmark, and the timing helper they share.

Every benchmark reports its figure as a fraction of one of these: the float32 matmul rate for
compute-bound work, the bandwidth of a large matrix-vector product for batch-1 generation.
"""
import time

import tensorflow as tf


def best_time(function, repeats, warmup=True):
    """The fastest of `repeats` calls of `function`, in seconds (after one untimed call if `warmup`)."""
    if warmup:
        function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(dtype=tf.float32, size=2048, chain=4, repeats=5):
    """FLOP/s of `chain` chained size x size matmuls in one XLA-compiled call (best of `repeats`)."""
    a = tf.cast(tf.random.normal((size, size), stddev=size**-0.5), dtype)

    @tf.function(jit_compile=True)
    def chained(x):
        for _ in range(chain):
            x = tf.matmul(x, a)
        return x

    return 2.0 * size**3 * chain / best_time(lambda: chained(a).numpy(), repeats)


def gemv_bandwidth(repeats, size=8192):
    """Bytes per second of an XLA float32 (size x size) matrix-vector product (256 MB of weights)."""
    matrix = tf.Variable(tf.random.normal((size, size)))
    vector = tf.random.normal((1, size))
    product = tf.function(lambda x: tf.matmul(x, matrix), jit_compile=True)
    calls = 20
    seconds = best_time(lambda: [product(vector) for _ in range(calls)][-1].numpy(), repeats) / calls
    return size * size * 4 / seconds
