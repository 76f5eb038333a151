"""The Keras layers of GPT: embeddings, causal self-attention with a key/value cache, MLP, block.

Each layer mirrors a module of the PyTorch reference (`modeling_openai.py`) and keeps its weight names
(`c_attn`, `c_proj`, `c_fc`, `ln_1`, `ln_2`, `tokens_embed`, `positions_embed`), so checkpoints map
one to one.
"""
import math

import keras
import tensorflow as tf
from keras import ops

# The reference fills future positions with -1e4 (not -inf) before the padding mask is added; keeping
# the same constants keeps even fully masked rows identical to it.
CAUSAL_MASK_VALUE = -1e4
PADDING_MASK_VALUE = float.fromhex("-0x1.fffffep+127")  # float32's most negative finite value


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


def normal_initializer(stddev):
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


def check_ids_in_range(ids, limit, argument, ignore_index=None):
    """Makes out-of-range ids (or class labels) fail loudly wherever that is possible.

    Eagerly the ids are checked at once (ValueError); in a traced graph an assertion raises
    InvalidArgumentError when the graph runs. XLA drops assertions, so callers make bad values poison
    the output with NaN instead (`Embedding.call` for ids; the fused cross-entropy for labels).

    Args:
        ids: Integer tensor or array.
        limit: Values must be < limit (and >= 0).
        argument: The argument's name, for the messages.
        ignore_index: A value also allowed (labels' -100), or None.
    """
    allowed = f"[0, {limit})" + ("" if ignore_index is None else f" or {ignore_index} (ignored)")
    if tf.executing_eagerly() and not isinstance(ids, keras.KerasTensor):
        values = ops.convert_to_numpy(ids)
        bad = values[((values < 0) | (values >= limit)) & (values != ignore_index)]
        if bad.size:
            raise ValueError(f"{argument} must be in {allowed}, got value(s) {sorted(set(bad.tolist()))[:8]}")
        return ids
    ignored = tf.zeros_like(ids, tf.bool) if ignore_index is None else tf.equal(ids, ignore_index)
    checks = [
        tf.debugging.Assert(tf.reduce_all((ids >= 0) | ignored), [f"{argument} must be >= 0 (allowed: {allowed})"]),
        tf.debugging.Assert(
            tf.reduce_all((ids < tf.cast(limit, ids.dtype)) | ignored), [f"{argument} must be < {limit} (allowed: {allowed})"]
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(ids)


@keras.saving.register_keras_serializable(package="gpt_keras")
class LayerNorm(keras.layers.LayerNormalization):
    """LayerNorm over the last axis with float64 statistics and normalization (float32 models).

    PyTorch's kernel rounds differently from Keras' `x * (rstd * gamma) + ...`; neither float32 order
    reproduces it, but an (almost) exactly rounded result keeps GPT's logits within 1e-5 of the
    PyTorch checkpoints' outputs, where Keras' order drifts just past that.
    """

    def call(self, inputs):
        # float64 buys exactness only for float32 models; half-precision ones normalize in float32.
        precise = "float64" if self.compute_dtype == "float32" else "float32"
        x = ops.cast(inputs, precise)
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        normalized = (x - mean) / ops.sqrt(variance + self.epsilon)
        outputs = normalized * ops.cast(self.gamma, precise) + ops.cast(self.beta, precise)
        return ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="gpt_keras")
class Dense(keras.layers.Dense):
    """`keras.layers.Dense` (the reference's Conv1D) that adds its bias as `x - (-bias)`: the same numbers.

    Under XLA on CPU, a matrix-vector product followed by an addition is fused into one loop that
    runs on a single thread; a subtraction is not, so the product keeps the multi-threaded kernel.
    That makes batch-1 decoding ~15% faster (the bias add is a separate, tiny elementwise pass).
    """

    def call(self, inputs, training=None):
        plain = self.activation in (None, keras.activations.linear) and not self.lora_enabled and not self.quantization_mode
        if self.bias is None or not plain:
            return super().call(inputs, training=training)
        return ops.subtract(ops.matmul(inputs, self.kernel), ops.negative(self.bias))


@keras.saving.register_keras_serializable(package="gpt_keras")
class Embedding(keras.layers.Layer):
    """A lookup table whose out-of-range ids give NaN rows instead of a silently clamped lookup.

    `attend(hidden_states)` multiplies by the transposed table: the tied LM head.

    Args:
        input_dim: Number of rows (vocabulary size or number of positions).
        output_dim: Width of each row.
        initializer_range: Standard deviation of the normal initializer.
    """

    def __init__(self, input_dim, output_dim, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.initializer_range = initializer_range

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.input_dim, self.output_dim),
            initializer=normal_initializer(self.initializer_range),
            # Read in float32 and cast here: autocasting would cast the whole table (31M values for GPT's
            # vocabulary) to gather a few rows, and again for the head.
            autocast=False,
        )
        self.built = True

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        valid = ops.logical_and(ids >= 0, ids < self.input_dim)
        rows = ops.take(self.embeddings, ops.where(valid, ids, 0), axis=0)
        rows = ops.cast(rows, self.compute_dtype)
        return ops.where(ops.expand_dims(valid, -1), rows, ops.cast(float("nan"), self.compute_dtype))

    def resize(self, input_dim):
        """Gives the table `input_dim` rows in place: the first rows are kept, new ones initialized.

        Args:
            input_dim: The new number of rows.
        """
        kept = ops.convert_to_numpy(self.embeddings)[: min(self.input_dim, input_dim)]
        # Keras refuses new variables on a built layer: the table is dropped and built again.
        del self.embeddings
        self.input_dim = input_dim
        self._tracker.unlock()
        self.build()
        table = ops.convert_to_numpy(self.embeddings)
        table[: len(kept)] = kept
        self.embeddings.assign(table)

    def attend(self, hidden_states):
        table = ops.cast(self.embeddings, self.compute_dtype)
        # transpose_b lets the kernel read the table as stored instead of copying its transpose
        # (124 MB for the released vocabulary) on every call.
        flat = ops.reshape(hidden_states, (-1, self.output_dim))
        scores = tf.linalg.matmul(flat, table, transpose_b=True)
        return tf.reshape(scores, tf.concat([tf.shape(hidden_states)[:-1], [self.input_dim]], axis=0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim, output_dim=self.output_dim, initializer_range=self.initializer_range
        )
        return config


@keras.saving.register_keras_serializable(package="gpt_keras")
class GPTEmbeddings(keras.layers.Layer):
    """Token + learned position (+ token-type) embeddings, then dropout.

    The reference has no token-type table: types are looked up in the token embedding, and added only
    when given. Positions default to 0, 1, ... counted from `cache_index`.

    Args:
        vocab_size, n_positions, n_embd: Table sizes.
        dropout: Dropout on the summed embeddings.
        initializer_range: Standard deviation of the normal initializer.

    Call args:
        input_ids: (batch, seq) ints, or None when `inputs_embeds` is given.
        token_type_ids, position_ids: Optional (batch, seq) ints.
        inputs_embeds: Optional (batch, seq, n_embd) used instead of the token lookup.
        cache_index: Position of the first input when decoding with a cache.
    """

    def __init__(self, vocab_size, n_positions, n_embd, dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.tokens_embed = Embedding(vocab_size, n_embd, initializer_range, dtype=self.dtype_policy, name="tokens_embed")
        self.positions_embed = Embedding(
            n_positions, n_embd, initializer_range, dtype=self.dtype_policy, name="positions_embed"
        )
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="drop")

    def build(self, input_shape=None):
        self.tokens_embed.build()
        self.positions_embed.build()
        self.built = True

    def call(
        self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, cache_index=0, training=None
    ):
        if inputs_embeds is None:
            inputs_embeds = self.tokens_embed(input_ids)
        else:
            inputs_embeds = ops.cast(inputs_embeds, self.compute_dtype)
        if position_ids is None:
            seq_len = ops.shape(inputs_embeds)[1]
            position_ids = ops.arange(seq_len, dtype="int32")[None, :] + ops.cast(cache_index, "int32")
        hidden_states = inputs_embeds + self.positions_embed(position_ids)
        if token_type_ids is not None:
            hidden_states = hidden_states + self.tokens_embed(token_type_ids)
        return self.embeddings_dropout(hidden_states, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.n_embd,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            n_positions=self.n_positions,
            n_embd=self.n_embd,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config


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
        self.attn_dropout = keras.layers.Dropout(self.attention_dropout, dtype=self.dtype_policy)
        self.resid_dropout = keras.layers.Dropout(self.residual_dropout, dtype=self.dtype_policy)
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
    ):
        batch, query_len = ops.shape(hidden_states)[0], ops.shape(hidden_states)[1]
        query, key, value = (self._split_heads(x) for x in ops.split(self.c_attn(hidden_states), 3, axis=-1))
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

        # Scores and softmax in float32: the masking constants do not fit float16, and neither may the
        # products of float16 queries and keys (bfloat16 has float32's range).
        if self.compute_dtype == "float16":
            query, key = ops.cast(query, "float32"), ops.cast(key, "float32")
        scores = ops.cast(tf.linalg.matmul(query, key, transpose_b=True), "float32")
        scores = ops.reshape(scores, (batch, self.num_heads, query_len, key_len)) / math.sqrt(self.head_dim)
        query_slots = ops.arange(query_len, dtype="int32")[:, None] + ops.cast(cache_index, "int32")
        causal = ops.arange(key_len, dtype="int32")[None, :] <= query_slots
        scores = ops.where(causal, scores, CAUSAL_MASK_VALUE)
        if padding_mask is not None:
            padding = 1.0 - ops.cast(padding_mask, "float32")[:, None, None, :]
            scores = scores + padding * PADDING_MASK_VALUE
        probs = tf.nn.softmax(scores, axis=-1)  # what ops.softmax runs, without its warning when key_len is 1
        probs = self.attn_dropout(probs, training=training)
        if head_mask is not None:
            probs = probs * ops.reshape(ops.cast(head_mask, "float32"), (1, self.num_heads, 1, 1))

        attend = ops.reshape(ops.cast(probs, self.compute_dtype), (-1, query_len, key_len))
        context = ops.reshape(ops.matmul(attend, value), (batch, self.num_heads, query_len, self.head_dim))
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, query_len, self.num_heads * self.head_dim))
        output = self.resid_dropout(self.c_proj(context), training=training)

        outputs = (output,)
        if return_attention_probs:
            outputs += (probs,)
        if cache is not None:
            outputs += (cache,)
        return outputs[0] if len(outputs) == 1 else outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            attention_dropout=self.attention_dropout,
            residual_dropout=self.residual_dropout,
            initializer_range=self.initializer_range,
        )
        return config


@keras.saving.register_keras_serializable(package="gpt_keras")
class MLP(keras.layers.Layer):
    """Position-wise feed-forward network: c_fc (4x wider), activation, c_proj, dropout.

    Args:
        intermediate_dim: Width of the hidden layer (4 * width in GPT).
        activation: One of "gelu" (tanh form), "gelu_new", "relu", "silu", "swish".
        dropout: Dropout after c_proj.
        initializer_range: Standard deviation of the kernels' normal initializer.
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
        self.output_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(self, hidden_states, training=None):
        hidden = ACTIVATIONS[self.activation](self.c_fc(hidden_states))
        return self.output_dropout(self.c_proj(hidden), training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            intermediate_dim=self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config


@keras.saving.register_keras_serializable(package="gpt_keras")
class TransformerBlock(keras.layers.Layer):
    """One post-LayerNorm GPT block, as in the paper: `h = ln_1(x + attn(x)); out = ln_2(h + mlp(h))`.

    Args:
        num_heads, intermediate_dim, activation: As for `CausalSelfAttention` and `MLP`.
        attention_dropout, residual_dropout: Dropout rates.
        layer_norm_epsilon: Epsilon of both LayerNorms.
        initializer_range: Standard deviation of the kernels' normal initializer.

    Call args and returns: as `CausalSelfAttention`.
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
    ):
        attention = self.attn(
            hidden_states,
            padding_mask=padding_mask,
            head_mask=head_mask,
            cache=cache,
            cache_index=cache_index,
            return_attention_probs=return_attention_probs,
            training=training,
        )
        extras = ()
        if isinstance(attention, tuple):
            attention, extras = attention[0], attention[1:]
        hidden = self.ln_1(hidden_states + attention)
        output = self.ln_2(hidden + self.mlp(hidden, training=training))
        return (output,) + extras if extras else output

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
