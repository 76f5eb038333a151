"""`TransformerBlock`: one post-LayerNorm GPT block (attention, ln_1, MLP, ln_2)."""
import keras

from gpt_keras.layers.attention import CausalSelfAttention
from gpt_keras.layers.mlp import MLP
from gpt_keras.layers.normalization import LayerNorm


@keras.saving.register_keras_serializable(package="gpt_keras")
class TransformerBlock(keras.layers.Layer):
    """One post-LayerNorm GPT block, as in the paper: `h = ln_1(x + attn(x)); out = ln_2(h + mlp(h))`.

    Args:
        num_heads, intermediate_dim, activation: As for `CausalSelfAttention` and `MLP`.
        attention_dropout, residual_dropout: Dropout rates.
        layer_norm_epsilon: Epsilon of both LayerNorms.
        initializer_range: Standard deviation of the kernels' normal initializer.

    Call args and returns: as `CausalSelfAttention`; `decode_kernels` is this block's `decode_kernels()`.
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        activation="gelu",
        attention_dropout=0.0,
        residual_dropout=0.0,
        layer_norm_epsilon=1e-5,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.activation = activation
        self.attention_dropout = attention_dropout
        self.residual_dropout = residual_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

    def build(self, input_shape):
        self.attn = CausalSelfAttention(
            self.num_heads,
            attention_dropout=self.attention_dropout,
            residual_dropout=self.residual_dropout,
            initializer_range=self.initializer_range,
            dtype=self.dtype_policy,
            name="attn",
        )
        self.attn.build(input_shape)
        self.ln_1 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="ln_1")
        self.ln_1.build(input_shape)
        self.mlp = MLP(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.residual_dropout,
            initializer_range=self.initializer_range,
            dtype=self.dtype_policy,
            name="mlp",
        )
        self.mlp.build(input_shape)
        self.ln_2 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="ln_2")
        self.ln_2.build(input_shape)
        self.built = True

    def call(
        self,
        hidden_states,
        padding_mask=None,
        head_mask=None,
        cache=None,
        cache_index=0,
        return_attention_probs=False,
        training=None,
        decode_kernels=None,
    ):
        kernels = decode_kernels or {}
        attention = self.attn(
            hidden_states,
            padding_mask=padding_mask,
            head_mask=head_mask,
            cache=cache,
            cache_index=cache_index,
            return_attention_probs=return_attention_probs,
            training=training,
            decode_kernels=kernels.get("attn"),
        )
        extras = ()
        if isinstance(attention, tuple):
            attention, extras = attention[0], attention[1:]
        hidden = self.ln_1(hidden_states + attention, training=training)
        mlp = self.mlp(hidden, training=training, decode_kernels=kernels.get("mlp"))
        output = self.ln_2(hidden + mlp, training=training)
        return (output,) + extras if extras else output

    def decode_kernels(self):
        """`{"attn": ..., "mlp": ...}`: the projection kernels in the layout decoding reads (see
        `gpt_keras.layers.decode_layout`), computed from the current weights."""
        return {"attn": self.attn.decode_kernels(), "mlp": self.mlp.decode_kernels()}

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            activation=self.activation,
            attention_dropout=self.attention_dropout,
            residual_dropout=self.residual_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=self.initializer_range,
        )
        return config
