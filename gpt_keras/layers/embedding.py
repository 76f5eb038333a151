"""Token and position embeddings: `Embedding` (a table whose bad ids give NaN, also the tied LM head)
and `GPTEmbeddings` (token + position (+ token-type) lookups, then dropout)."""
import keras
import tensorflow as tf
from keras import ops

from gpt_keras.layers.dense import normal_initializer
from gpt_keras.layers.dropout import Dropout
from gpt_keras.layers.lora import LoraWeights
from gpt_keras.layers.products import attend_product


@keras.saving.register_keras_serializable(package="gpt_keras")
class Embedding(LoraWeights, keras.layers.Embedding):
    """`keras.layers.Embedding` whose out-of-range ids give NaN rows instead of a silently clamped lookup.

    `attend(hidden_states)` multiplies by the transposed table: the tied LM head. Quantization
    (`quantize("int8" | "int4")`, or such a dtype policy) and LoRA (`enable_lora`) are Keras' own,
    and the head reads the table as they store it.

    Args:
        input_dim: Number of rows (vocabulary size or number of positions).
        output_dim: Width of each row.
        initializer_range: Standard deviation of the normal initializer.
        **kwargs: Arguments of `keras.layers.Embedding`.
    """

    lora_weight_names = ("lora_embeddings_a", "lora_embeddings_b")

    def __init__(self, input_dim, output_dim, initializer_range=0.02, **kwargs):
        kwargs.setdefault("embeddings_initializer", normal_initializer(initializer_range))
        super().__init__(input_dim, output_dim, **kwargs)
        self.initializer_range = initializer_range

    def call(self, ids):
        return self._lookup(ids, lambda valid_ids: ops.take(self.embeddings, valid_ids, axis=0))

    def quantized_call(self, ids, training=None):
        return self._lookup(ids, super().quantized_call)

    def _lookup(self, ids, gather):
        # Keras' Embedding does not autocast its table: the gathered rows are cast here. Autocasting
        # would cast the whole table (31M values for GPT's vocabulary) to gather a few rows, and
        # again for the head.
        ids = ops.cast(ids, "int32")
        valid = ops.logical_and(ids >= 0, ids < self.input_dim)
        rows = ops.cast(gather(ops.where(valid, ids, 0)), self.compute_dtype)
        return ops.where(ops.expand_dims(valid, -1), rows, ops.cast(float("nan"), self.compute_dtype))

    def quantize(self, mode=None, type_check=True, config=None):
        """`keras.layers.Embedding.quantize` ("int8", "int4"), which refuses subclasses unless told
        they store their table as an Embedding does: this one does."""
        super().quantize(mode, type_check=False, config=config)

    def resize(self, input_dim):
        """Gives the table `input_dim` rows in place: the first rows are kept, new ones initialized.

        Args:
            input_dim: The new number of rows.

        Raises:
            ValueError: The layer is quantized or has LoRA enabled (resize before either).
        """
        # Imported here: gpt_keras.models imports this module.
        from gpt_keras.models._keras_compat import rebuild_embeddings

        if self.quantization_mode or self.lora_enabled:
            change = "quantized" if self.quantization_mode else "has LoRA enabled"
            raise ValueError(
                f"cannot resize {self.name!r}: it {change}; resize the token embedding before quantize() / enable_lora()"
            )
        kept = ops.convert_to_numpy(self.embeddings)[: min(self.input_dim, input_dim)]
        rebuild_embeddings(self, input_dim)
        table = ops.convert_to_numpy(self.embeddings)
        table[: len(kept)] = kept
        self.embeddings.assign(table)

    def attend(self, hidden_states):
        # transpose_b lets the kernel read the table as stored instead of copying its transpose
        # (124 MB for the released vocabulary) on every call.
        flat = ops.reshape(hidden_states, (-1, self.output_dim))
        scores = attend_product(flat, self._output_table())
        return tf.reshape(scores, tf.concat([tf.shape(hidden_states)[:-1], [self.input_dim]], axis=0))

    def _output_table(self):
        if not self.quantization_mode:
            return ops.cast(self.embeddings, self.compute_dtype)
        # Every row, dequantized (LoRA included) by Keras' own quantized lookup.
        return ops.cast(super().quantized_call(ops.arange(self.input_dim, dtype="int32")), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "initializer_range": self.initializer_range}


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
        self.embeddings_dropout = Dropout(dropout, dtype=self.dtype_policy, name="drop")

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

