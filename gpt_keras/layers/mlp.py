"""`MLP`: GPT's position-wise feed-forward network (c_fc, activation, c_proj, dropout)."""
import keras

from gpt_keras.layers.activations import ACTIVATIONS
from gpt_keras.layers.dense import Dense, decode_kernels_of, normal_initializer, project
from gpt_keras.layers.dropout import Dropout


@keras.saving.register_keras_serializable(package="gpt_keras")
class MLP(keras.layers.Layer):
    """Position-wise feed-forward network: c_fc (4x wider), activation, c_proj, dropout.

    Args:
        intermediate_dim: Width of the hidden layer (4 * width in GPT).
        activation: One of "gelu" (tanh form), "gelu_new", "relu", "silu", "swish".
        dropout: Dropout after c_proj.
        initializer_range: Standard deviation of the kernels' normal initializer.

    Call args:
        hidden_states: (..., width).
        decode_kernels: Optional `decode_kernels()` of this layer: the projections read these instead.
    """

    def __init__(self, intermediate_dim, activation="gelu", dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.intermediate_dim = intermediate_dim
        self.activation = activation
        self.dropout = dropout
        self.initializer_range = initializer_range

    def build(self, input_shape):
        dense = dict(kernel_initializer=normal_initializer(self.initializer_range), dtype=self.dtype_policy)
        self.c_fc = Dense(self.intermediate_dim, name="c_fc", **dense)
        self.c_fc.build(input_shape)
        self.c_proj = Dense(input_shape[-1], name="c_proj", **dense)
        self.c_proj.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.output_dropout = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        self.built = True

    def call(self, hidden_states, training=None, decode_kernels=None):
        hidden = ACTIVATIONS[self.activation](project(self.c_fc, hidden_states, decode_kernels))
        return self.output_dropout(project(self.c_proj, hidden, decode_kernels), training=training)

    def decode_kernels(self):
        """`{"c_fc": ..., "c_proj": ...}`: each projection's `Dense.decode_kernel()` (absent when None)."""
        return decode_kernels_of(self.c_fc, self.c_proj)

    def get_config(self):
        config = super().get_config()
        config.update(
            intermediate_dim=self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config
