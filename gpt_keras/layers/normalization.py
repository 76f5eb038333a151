"""`LayerNorm`: Keras' LayerNormalization, in float64 at inference to round like the PyTorch reference."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="gpt_keras")
class LayerNorm(keras.layers.LayerNormalization):
    """LayerNorm over the last axis: float64 statistics and normalization at inference (float32 and
    float64 models), float32 in training.

    PyTorch's kernel rounds differently from Keras' `x * (rstd * gamma) + ...`; neither float32 order
    reproduces it, but an (almost) exactly rounded result keeps GPT's logits within 1e-5 of the
    PyTorch checkpoints' outputs, where Keras' order drifts just past that.

    In training (`training=True`, as in `fit`) a float32 model normalizes in float32 instead: there the
    outputs carry dropout noise and float32 gradients, the reference trains in float32 too, and float64
    costs ~7% of `fit`'s speed at 8x128 on a 2-core CPU (the conversions and the float64 reductions of
    24 LayerNorms and their gradients). Inference (`training` False or None: `predict`, `evaluate`,
    `generate`, export) keeps float64.
    """

    def call(self, inputs, training=None):
        # float64 buys exactness only for float32 (and float64) models; half-precision ones normalize in
        # float32, and so do float32 models in training.
        if self.compute_dtype == "float64" or (self.compute_dtype == "float32" and not training):
            precise = "float64"
        else:
            precise = "float32"
        x = ops.cast(inputs, precise)
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        normalized = (x - mean) / ops.sqrt(variance + self.epsilon)
        outputs = normalized * ops.cast(self.gamma, precise) + ops.cast(self.beta, precise)
        return ops.cast(outputs, self.compute_dtype)
