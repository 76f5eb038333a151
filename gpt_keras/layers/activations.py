"""The MLP activations by their `config.afn` names: the one table that layers and the config read."""
import math

from keras import ops


def gelu_tanh(x):
    # The released checkpoints were trained with this tanh approximation (the reference's "gelu" and
    # "gelu_new"); the erf form differs by up to ~1e-3 per activation and ~5e-3 in logits.
    # TensorFlow's float32 tanh is a fast approximation a few ulps off PyTorch's; taking tanh in
    # float64 reproduces PyTorch's rounding on all but a few elements in 1e3.
    # float16 works in float32: x * x overflows it from |x| = 256 on, and the gradient becomes inf * 0 = NaN.
    work = "float32" if x.dtype == "float16" else x.dtype
    y = ops.cast(x, work)
    inner = math.sqrt(2.0 / math.pi) * (y + 0.044715 * (y * y * y))
    precise = "float64" if x.dtype in ("float32", "float64") else "float32"
    return ops.cast(0.5 * y * (1.0 + ops.cast(ops.tanh(ops.cast(inner, precise)), work)), x.dtype)


ACTIVATIONS = {
    "gelu": gelu_tanh,
    "gelu_new": gelu_tanh,
    "relu": ops.relu,
    "silu": ops.silu,
    "swish": ops.silu,
}
