"""Token and position embeddings: `Embedding` (a table whose bad ids give NaN, also the tied LM head)
and `GPTEmbeddings` (token + position (+ token-type) lookups, then dropout)."""
import keras
import tensorflow as tf
from keras import ops

from gpt_keras.layers.dense import normal_initializer


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
        # Imported here: gpt_keras.models imports this module.
        from gpt_keras.models._keras_compat import unlock_variable_tracking

        kept = ops.convert_to_numpy(self.embeddings)[: min(self.input_dim, input_dim)]
        # Keras refuses new variables on a built layer: the table is dropped and built again.
        del self.embeddings
        self.input_dim = input_dim
        unlock_variable_tracking(self)
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

