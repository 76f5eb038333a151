"""`SequenceSummary`: one vector per sequence from its hidden states, the multiple-choice head's pooling."""
import keras
from keras import ops

from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.layers.checks import index_is_valid
from gpt_keras.layers.dense import Dense, normal_initializer
from gpt_keras.layers.dropout import Dropout


@keras.saving.register_keras_serializable(package="gpt_keras")
class SequenceSummary(keras.layers.Layer):
    """Summarizes a sequence of hidden states into one vector per sequence (the reference's
    `OpenAIGPTSequenceSummary`), configured by the config's `summary_*` fields.

    summary_type: "cls_index" (the hidden state at `cls_index`, the last token when None), "last",
    "first" or "mean"; then first dropout, an optional projection (to num_labels when
    `summary_proj_to_labels`, else n_embd), an optional tanh, and last dropout.

    Args:
        config: The model's `OpenAIGPTConfig` (or its dict).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = OpenAIGPTConfig.from_dict(config)
        self.config = config
        self.summary_type = config.summary_type
        self.first_dropout = Dropout(config.summary_first_dropout, dtype=self.dtype_policy, name="first_dropout")
        self.last_dropout = Dropout(config.summary_last_dropout, dtype=self.dtype_policy, name="last_dropout")
        self.summary = None
        if config.summary_use_proj:
            to_labels = config.summary_proj_to_labels and config.num_labels > 0
            self.summary = Dense(
                config.num_labels if to_labels else config.n_embd,
                kernel_initializer=normal_initializer(config.initializer_range),
                dtype=self.dtype_policy,
                name="summary",
            )

    def build(self, input_shape=None):
        if self.summary is not None:
            self.summary.build((None, self.config.n_embd))
        self.built = True

    def call(self, hidden_states, cls_index=None, training=None):
        # hidden_states: (batch, choices, seq, n_embd); cls_index: (batch, choices)
        if self.summary_type == "last":
            output = hidden_states[..., -1, :]
        elif self.summary_type == "first":
            output = hidden_states[..., 0, :]
        elif self.summary_type == "mean":
            output = ops.mean(hidden_states, axis=-2)
        else:
            seq_len = ops.shape(hidden_states)[-2]
            if cls_index is None:
                cls_index = ops.full(ops.shape(hidden_states)[:-2], seq_len - 1, dtype="int32")
            # Checked before the cast: an int64 index 2**32 + 1 must not pass as 1.
            valid = index_is_valid(cls_index, seq_len)
            cls_index = ops.cast(cls_index, "int32")
            index = ops.expand_dims(ops.expand_dims(ops.where(valid, cls_index, 0), -1), -1)
            output = ops.squeeze(ops.take_along_axis(hidden_states, index, axis=-2), -2)
            # XLA clamps out-of-range gathers; a NaN makes a bad index visible instead.
            output = ops.where(ops.expand_dims(valid, -1), output, ops.cast(float("nan"), output.dtype))
        output = self.first_dropout(output, training=training)
        if self.summary is not None:
            output = self.summary(output)
        if self.config.summary_activation == "tanh":
            output = ops.tanh(output)
        return self.last_dropout(output, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(config=self.config.to_dict())
        return config

