"""`CausalSelfAttention`: multi-head causal self-attention with a fused q/k/v projection and a key/value cache.

The weight names (`c_attn`, `c_proj`) are the PyTorch reference's (`modeling_openai.py`), so checkpoints
map one to one.
"""
import math

import keras
import tensorflow as tf
from keras import ops

from gpt_keras.layers.dense import Dense, decode_kernels_of, normal_initializer, project
from gpt_keras.layers.dropout import Dropout

# The reference fills future positions with -1e4 (not -inf) before the padding mask is added; keeping
# the same constants keeps even fully masked rows identical to it.
CAUSAL_MASK_VALUE = -1e4
PADDING_MASK_VALUE = float.fromhex("-0x1.fffffep+127")  # float32's most negative finite value


@keras.saving.register_keras_serializable(package="gpt_keras")
class CausalSelfAttention(keras.layers.Layer):
    """Multi-head causal self-attention with a fused q/k/v projection and an optional key/value cache.

    Args:
        num_heads: Number of heads; the input width must be divisible by it.
        attention_dropout: Dropout on the attention probabilities.
        residual_dropout: Dropout on the output projection.
        initializer_range: Standard deviation of the kernels' normal initializer.

    Call args:
        hidden_states: (batch, seq, width).
        padding_mask: Optional (batch, key_len) with 1 for tokens to attend to and 0 for padding; key_len
            is seq, or the cache length when a cache is given.
        head_mask: Optional (num_heads,) multipliers of each head's probabilities.
        cache: Optional pair (key_cache, value_cache), each (batch * num_heads, max_len, head_dim), holding
            earlier positions. The new keys and values are written at slot `cache_index` and the updated
            pair is returned.
        cache_index: Slot of the first query position in the cache (scalar int); `cache_index + seq`
            must not exceed max_len (checked eagerly; compiled code would clamp the write).
        return_attention_probs: Also return the (batch, heads, seq, key_len) probabilities.
        decode_kernels: Optional `decode_kernels()` of this layer: the projections read these instead.

    Returns:
        The (batch, seq, width) output, followed by the probabilities and/or the updated cache when asked.
    """

    def __init__(self, num_heads, attention_dropout=0.0, residual_dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.residual_dropout = residual_dropout
        self.initializer_range = initializer_range

    def build(self, input_shape):
        width = input_shape[-1]
        if width % self.num_heads:
            raise ValueError(f"attention width {width} is not divisible by num_heads={self.num_heads}")
        self.head_dim = width // self.num_heads
        dense = dict(kernel_initializer=normal_initializer(self.initializer_range), dtype=self.dtype_policy)
        self.c_attn = Dense(3 * width, name="c_attn", **dense)
        self.c_attn.build(input_shape)
        self.c_proj = Dense(width, name="c_proj", **dense)
        self.c_proj.build(input_shape)
        self.attn_dropout = Dropout(self.attention_dropout, dtype=self.dtype_policy, name="attn_dropout")
        self.resid_dropout = Dropout(self.residual_dropout, dtype=self.dtype_policy, name="resid_dropout")
        self.built = True

    def _split_heads(self, x):
        # (batch, seq, heads * head_dim) -> (batch * heads, seq, head_dim): the layout of the cache, which
        # the matmuls below read as it is. With no reshape between a cache update and its readers, XLA
        # updates the cache in place inside the decoding loop (instead of copying every cache buffer
        # twice per step).
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.transpose(ops.reshape(x, (batch, seq, self.num_heads, self.head_dim)), (0, 2, 1, 3))
        return ops.reshape(x, (-1, seq, self.head_dim))

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
        batch, query_len = ops.shape(hidden_states)[0], ops.shape(hidden_states)[1]
        fused = project(self.c_attn, hidden_states, decode_kernels)
        query, key, value = (self._split_heads(x) for x in ops.split(fused, 3, axis=-1))
        if cache is not None:
            key_cache, value_cache = cache
            if tf.executing_eagerly() and not isinstance(hidden_states, keras.KerasTensor):
                end, slots = int(cache_index) + int(query_len), int(key_cache.shape[1])
                if end > slots:
                    raise ValueError(f"cache_index + seq = {end} exceeds the cache's {slots} slots")
            start = (0, cache_index, 0)
            cache = (
                ops.slice_update(key_cache, start, ops.cast(key, key_cache.dtype)),
                ops.slice_update(value_cache, start, ops.cast(value, value_cache.dtype)),
            )
            key, value = (ops.cast(c, self.compute_dtype) for c in cache)
        else:
            cache_index = 0
        key_len = ops.shape(key)[1]

        # Scores and softmax in float32 (float64 models: float64): the masking constants do not fit
        # float16, and neither may the products of float16 queries and keys (bfloat16 has float32's range).
        score_dtype = "float64" if self.compute_dtype == "float64" else "float32"
        if self.compute_dtype == "float16":
            query, key = ops.cast(query, "float32"), ops.cast(key, "float32")
        scores = ops.cast(tf.linalg.matmul(query, key, transpose_b=True), score_dtype)
        scores = ops.reshape(scores, (batch, self.num_heads, query_len, key_len)) / math.sqrt(self.head_dim)
        query_slots = ops.arange(query_len, dtype="int32")[:, None] + ops.cast(cache_index, "int32")
        causal = ops.arange(key_len, dtype="int32")[None, :] <= query_slots
        scores = ops.where(causal, scores, CAUSAL_MASK_VALUE)
        if padding_mask is not None:
            padding = 1.0 - ops.cast(padding_mask, score_dtype)[:, None, None, :]
            scores = scores + padding * PADDING_MASK_VALUE
        probs = tf.nn.softmax(scores, axis=-1)  # what ops.softmax runs, without its warning when key_len is 1
        probs = self.attn_dropout(probs, training=training)
        if head_mask is not None:
            probs = probs * ops.reshape(ops.cast(head_mask, score_dtype), (1, self.num_heads, 1, 1))

        attend = ops.reshape(ops.cast(probs, self.compute_dtype), (-1, query_len, key_len))
        context = ops.reshape(ops.matmul(attend, value), (batch, self.num_heads, query_len, self.head_dim))
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, query_len, self.num_heads * self.head_dim))
        output = self.resid_dropout(project(self.c_proj, context, decode_kernels), training=training)

        outputs = (output,)
        if return_attention_probs:
            outputs += (probs,)
        if cache is not None:
            outputs += (cache,)
        return outputs[0] if len(outputs) == 1 else outputs

    def decode_kernels(self):
        """`{"c_attn": ..., "c_proj": ...}`: each projection's `Dense.decode_kernel()` (absent when None)."""
        return decode_kernels_of(self.c_attn, self.c_proj)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            attention_dropout=self.attention_dropout,
            residual_dropout=self.residual_dropout,
            initializer_range=self.initializer_range,
        )
        return config
