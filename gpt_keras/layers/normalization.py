"""`LayerNorm`: Keras' LayerNormalization, normalizing in float64 to round like the PyTorch reference."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="gpt_keras")
class LayerNorm(keras.layers.LayerNormalization):
    """LayerNorm over the last axis with float64 statistics and normalization (float32 and float64 models).

    PyTorch's kernel rounds differently from Keras' `x * (rstd * gamma) + ...`; neither float32 order
    reproduces it, but an (almost) exactly rounded result keeps GPT's logits within 1e-5 of the
    PyTorch checkpoints' outputs, where Keras' order drifts just past that.
    """

    def call(self, inputs):
        # float64 buys exactness only for float32 (and float64) models; half-precision ones normalize in float32.
        precise = "float64" if self.compute_dtype in ("float32", "float64") else "float32"
        x = ops.cast(inputs, precise)
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        normalized = (x - mean) / ops.sqrt(variance + self.epsilon)
        outputs = normalized * ops.cast(self.gamma, precise) + ops.cast(self.beta, precise)
        return ops.cast(outputs, self.compute_dtype)
