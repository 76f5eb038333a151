"""`Dense` (the reference's Conv1D) and the normal initializer every GPT weight is drawn with."""
import keras
import tensorflow as tf
from keras import ops

from gpt_keras.layers.lora import LoraWeights
from gpt_keras.layers.products import dense_product

# Keras' calibrating modes: the layer computes with its float kernel until calibrated.
CALIBRATED_MODES = ("gptq", "awq")


def normal_initializer(stddev):
    """`keras.initializers.RandomNormal(0, stddev)`: the reference's `normal_(0, initializer_range)`."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


@keras.saving.register_keras_serializable(package="gpt_keras")
class Dense(LoraWeights, keras.layers.Dense):
    """`keras.layers.Dense` (the reference's Conv1D) that adds its bias as `x - (-bias)`: the same numbers.

    Under XLA on CPU, a matrix-vector product followed by an addition is fused into one loop that
    runs on a single thread; a subtraction is not, so the product keeps the multi-threaded kernel.
    That makes batch-1 decoding ~15% faster (the bias add is a separate, tiny elementwise pass).
    In an XLA program for a CPU without AVX-512, the kernel's gradient is a plain product on a copied
    transpose (`gpt_keras.layers.products.dense_product`).

    Quantization (`quantize`, or a quantized dtype policy) and LoRA (`enable_lora`) are Keras' own;
    LoRA matrices are saved unmerged (see `gpt_keras.layers.lora`), and GPTQ and AWQ calibration sees
    the layer's inputs.

    Call args:
        inputs: (..., in).
        decode_kernel: Optional (out, in) tensor from `decode_kernel()`, read instead of the kernel
            (batch-1 decoding, see `gpt_keras.layers.decode_layout`).
    """

    lora_weight_names = ("lora_kernel_a", "lora_kernel_b")

    def build(self, input_shape):
        super().build(input_shape)
        # Built directly in a GPTQ/AWQ layout (from a saved policy), the layer has no float kernel to
        # fall back on: its weights are the quantized ones a file is about to fill.
        if self.quantization_mode in CALIBRATED_MODES:
            setattr(self, _calibrated_flag(self.quantization_mode), True)

    def quantized_call(self, inputs, training=None):
        mode = self.quantization_mode
        if mode in CALIBRATED_MODES and not getattr(self, _calibrated_flag(mode)):
            # Keras' GPTQ and AWQ read a layer's inputs by wrapping its `call`, which a quantized
            # layer's call skips (Layer.quantized_call -> _gptq_call): without this they see no data.
            # Uncalibrated, Keras computes with the float kernel, as `call` does.
            return self.call(inputs, training=training)
        return super().quantized_call(inputs, training=training)

    def call(self, inputs, training=None, decode_kernel=None):
        if decode_kernel is not None:
            return self._add_bias(_matmul_transposed(inputs, decode_kernel))
        if self.activation not in (None, keras.activations.linear) or self.lora_enabled:
            return super().call(inputs, training=training)
        return self._add_bias(dense_product(inputs, ops.cast(self.kernel, self.compute_dtype)))

    def _add_bias(self, outputs):
        return outputs if self.bias is None else ops.subtract(outputs, ops.negative(self.bias))

    def decode_kernel(self):
        """The kernel (LoRA included) as an (out, in) tensor in the compute dtype, for `call(decode_kernel=)`;
        None for a quantized layer or one with an activation, which compute as they are.

        See `gpt_keras.layers.decode_layout` for why decoding reads the kernel in this layout.
        """
        if self.quantization_mode or self.activation not in (None, keras.activations.linear):
            return None
        return ops.transpose(ops.cast(self.kernel, self.compute_dtype))

    def save_own_variables(self, store):
        if self.quantization_mode not in ("gptq", "awq"):
            return super().save_own_variables(store)
        # Keras 3.15's Dense.save_own_variables leaves out `kernel_zero` of GPTQ and AWQ layers (it
        # takes the zero point from its LoRA-merging helper, which has none for them), and its
        # load_own_variables then reads every later variable one place off. Saved in the order that
        # load reads them:
        names = [name for name in self.variable_serialization_spec[self.quantization_mode] if name != "bias" or self.bias is not None]
        for index, name in enumerate(names):
            store[str(index)] = getattr(self, name)

    def quantize(self, mode=None, type_check=True, config=None):
        """`keras.layers.Dense.quantize`, which refuses subclasses unless told they compute what a
        Dense does: this one does (its quantized calls are Keras' own)."""
        super().quantize(mode, type_check=False, config=config)


def project(dense, inputs, decode_kernels=None):
    """`dense(inputs)`, reading the kernel from `decode_kernels[dense.name]` (its `decode_kernel()`) when
    that mapping holds one."""
    kernel = None if decode_kernels is None else decode_kernels.get(dense.name)
    return dense(inputs) if kernel is None else dense(inputs, decode_kernel=kernel)


def decode_kernels_of(*layers):
    """`{layer.name: layer.decode_kernel()}` of the `Dense` layers that have one."""
    kernels = {layer.name: layer.decode_kernel() for layer in layers}
    return {name: kernel for name, kernel in kernels.items() if kernel is not None}


def _matmul_transposed(inputs, kernel):
    """`inputs @ kernel.T` for (..., in) inputs and an (out, in) kernel, as one matrix product."""
    flat = ops.reshape(inputs, (-1, kernel.shape[1]))
    outputs = tf.linalg.matmul(flat, kernel, transpose_b=True)
    return tf.reshape(outputs, tf.concat([tf.shape(inputs)[:-1], [kernel.shape[0]]], axis=0))


def _calibrated_flag(mode):
    """The attribute in which Keras' Dense records that its GPTQ / AWQ weights are calibrated."""
    return f"is_{mode}_calibrated"
