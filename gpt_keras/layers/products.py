"""Matrix products whose weight gradients XLA computes at the full matmul rate on CPUs without AVX-512.

A weight's gradient contracts the rows of two matrices, `inputs^T @ grad_outputs`. XLA folds that
transpose into the dot, and on a CPU without AVX-512 (or with XLA capped below it) its dot with a
transposed left operand runs at half the rate of a plain one: 220-230 vs 415-430 GFLOP/s for the
1024 x 768 x 3072 products of an 8 x 128 batch on Zen 5 capped at AVX2. There, `dense_product` and
`attend_product` copy the transposed operand first, behind an optimization barrier that XLA cannot fold
through, and the gradient is a plain dot: `fit` at 8 x 128 takes ~14% less time per step. With AVX-512
the folded dot is fast enough that the copies (XLA's transposes are slow) cost more than they save, and
outside XLA (TensorFlow's graph kernels, or a GPU) nothing is copied: `transposed_copies_pay` decides,
per trace. The numbers are the same products, summed in another order (README, "Benchmarks").
"""
import keras
import tensorflow as tf

from gpt_keras import _cpu
from gpt_keras.layers.xla_cpu import barrier, tracing_xla_for_cpu

# Classes per slice of the LM head's table gradient: each slice's transposed copy stays in the caches
# (the whole 1024 x 40478 one does not). Zen 5 capped at AVX2: 2048-2560 classes a slice, 470 ms for
# the head's forward and backward at 8 x 128, against 555 ms unsliced.
TABLE_SLICE = 2048


def transposed_copies_pay():
    """True while tracing an XLA program for a CPU whose XLA dots lack AVX-512, with no GPU or TPU."""
    return tracing_xla_for_cpu() and not _cpu.xla_runs_avx512()


def rows_product(left, right):
    """`left^T @ right` for (rows, m) and (rows, n) matrices, as a plain (m, rows) @ (rows, n) dot."""
    return tf.linalg.matmul(barrier(tf.transpose(left)), right)


def dense_product(inputs, kernel):
    """`inputs @ kernel` for (..., in) inputs and an (in, out) kernel, as `keras.ops.matmul`.

    In an XLA program for a CPU without AVX-512, its kernel gradient is a `rows_product`.
    """
    if not transposed_copies_pay():
        return keras.ops.matmul(inputs, kernel)
    return _dense_product(inputs, kernel)


@tf.custom_gradient
def _dense_product(inputs, kernel):
    kernel_in, kernel_out = kernel.shape
    flat = tf.reshape(inputs, (-1, kernel_in))
    outputs = tf.reshape(tf.linalg.matmul(flat, kernel), tf.concat([tf.shape(inputs)[:-1], [kernel_out]], axis=0))

    def gradient(grad_outputs):
        grad_flat = tf.reshape(grad_outputs, (-1, kernel_out))
        grad_inputs = tf.reshape(tf.linalg.matmul(grad_flat, kernel, transpose_b=True), tf.shape(inputs))
        return grad_inputs, rows_product(flat, grad_flat)

    return outputs, gradient


def attend_product(inputs, table):
    """`inputs @ table^T` for (rows, width) inputs and a (classes, width) table: the tied LM head.

    The table is read as stored (no transposed copy of it in the forward). In an XLA program for a CPU
    without AVX-512, its gradient is computed `TABLE_SLICE` classes at a time, each a `rows_product`.
    """
    if not transposed_copies_pay():
        return tf.linalg.matmul(inputs, table, transpose_b=True)
    return _attend_product(inputs, table)


@tf.custom_gradient
def _attend_product(inputs, table):
    classes = table.shape[0]

    def gradient(grad_scores):
        grad_inputs = tf.linalg.matmul(grad_scores, table)
        slices = [
            rows_product(grad_scores[:, start : start + TABLE_SLICE], inputs) for start in range(0, classes, TABLE_SLICE)
        ]
        return grad_inputs, slices[0] if len(slices) == 1 else tf.concat(slices, axis=0)

    return tf.linalg.matmul(inputs, table, transpose_b=True), gradient
