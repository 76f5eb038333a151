"""`TFOpenAIGPTForSequenceClassification`: GPT with a linear classifier on each sequence's last real token."""
import logging

import keras
import tensorflow as tf
from keras import ops

from gpt_keras import losses
from gpt_keras.layers import Dense, Dropout, normal_initializer
from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel
from gpt_keras.models.fitting import weighted
from gpt_keras.models.inputs import checked_labels, weight_for
from gpt_keras.models.outputs import ModelOutput, optional_outputs

logger = logging.getLogger("gpt_keras")


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTForSequenceClassification(TFOpenAIGPTPreTrainedModel):
    """GPT with a linear classifier (no bias) on the hidden state of each sequence's last real token.

    The last real token is found from `attention_mask` when given (so left- or right-padded batches work
    without a pad token), else from `config.pad_token_id`; without either, only batches of one sequence
    are accepted (the reference's rule). `inputs_embeds` without a mask have no ids to find padding in:
    each row's last position is used, with a warning, as the reference does.

    Call args: as `TFOpenAIGPTModel`, plus `labels` (batch,): class ids; float targets for regression
    (num_labels == 1) or multi-hot (batch, num_labels) for multi-label (`config.problem_type`).

    Args:
        config: The model's config.
        classifier_dropout: Dropout before the classifier while training. 0.0 (the reference has
            none) by default; the paper fine-tuned with 0.1 (`training.PAPER_RECIPE`).

    Returns:
        `ModelOutput` with `logits` (batch, num_labels), `loss` when labels are given (the mean over
        the batch, shape `()`, as the PyTorch model's; the reference TF port returns one per example),
        and hidden states / attentions when asked.

    In `fit`, `y` is `labels`, and `sample_weight` (batch,) weights examples (see `gpt_keras.losses`).
    """

    reference_name = "OpenAIGPTForSequenceClassification"
    model_arguments = ("classifier_dropout",)

    def __init__(self, config, dtype=None, classifier_dropout=0.0, **kwargs):
        super().__init__(config, dtype=dtype, **kwargs)
        if not 0.0 <= classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {classifier_dropout!r}")
        self.classifier_dropout = classifier_dropout
        self.dropout = Dropout(classifier_dropout, dtype=self.dtype_policy, name="classifier_dropout")
        self.score = Dense(
            self.config.num_labels,
            use_bias=False,
            kernel_initializer=normal_initializer(self.config.initializer_range),
            dtype=self.dtype_policy,
            name="score",
        )
        self.score.build((None, self.config.n_embd))

    def _call_heads(self, inputs, training):
        outputs, prepared = self._run_backbone(inputs, training)
        hidden_states = self.dropout(outputs["last_hidden_state"], training=training)
        logits = ops.cast(self.score(hidden_states), "float32")  # (batch, seq, num_labels)
        last = self._last_token_index(prepared, logits)
        pooled = ops.squeeze(ops.take_along_axis(logits, last[:, None, None], axis=1), 1)
        result = ModelOutput(self._head_losses({"logits": pooled}, inputs))
        result["logits"] = pooled
        result.update(optional_outputs(outputs))
        return result

    def _last_token_index(self, prepared, logits):
        seq_len = ops.shape(logits)[1]
        positions = ops.arange(seq_len, dtype="int32")[None, :]
        if prepared.get("attention_mask") is not None:
            real = ops.cast(prepared["attention_mask"] != 0, "int32")
        elif self.config.pad_token_id is not None and prepared["input_ids"] is not None:
            real = ops.cast(prepared["input_ids"] != self.config.pad_token_id, "int32")
        elif self.config.pad_token_id is not None:
            # As the reference: padding cannot be seen in inputs_embeds, so the last position is used.
            logger.warning(
                "%s cannot find padding in inputs_embeds: each row is classified by its last position;"
                " pass attention_mask if rows are padded",
                type(self).__name__,
            )
            return ops.full((ops.shape(logits)[0],), seq_len - 1, dtype="int32")
        else:
            batch = logits.shape[0]
            if batch is not None and batch != 1:
                raise ValueError(
                    f"cannot find the last token of {batch} sequences: pass attention_mask or set "
                    "config.pad_token_id (without either, only a batch of one sequence can be classified)"
                )
            return ops.full((ops.shape(logits)[0],), seq_len - 1, dtype="int32")
        # The rightmost real position (0 when a row has none), as the reference computes it.
        return ops.cast(ops.argmax(positions * real, axis=-1), "int32")

    def _problem_type(self, labels):
        """`config.problem_type`, or what the reference infers from num_labels and the labels' dtype."""
        if self.config.problem_type is not None:
            return self.config.problem_type
        if self.config.num_labels == 1:
            return "regression"
        return "single_label_classification" if "int" in str(labels.dtype) else "multi_label_classification"

    def _head_losses(self, outputs, inputs, sample_weight=None):
        if inputs.get("labels") is None:
            return {}
        pooled, labels = outputs["logits"], ops.convert_to_tensor(inputs["labels"])
        sample_weight = weight_for(sample_weight, "labels")
        problem_type = self._problem_type(labels)
        if problem_type == "regression":
            loss = losses.regression_loss(pooled, labels, sample_weight)
        elif problem_type == "single_label_classification":
            loss = losses.sparse_cross_entropy(pooled, checked_labels(labels, "labels", self.config.num_labels), sample_weight=sample_weight)
        else:
            loss = losses.multi_label_loss(pooled, labels, sample_weight)
        return {"loss": loss}

    def _targets(self, labels, sample_weight=None):
        # Class indices may be -100 (ignored); regression and multi-hot targets are compared as given.
        labels = ops.convert_to_tensor(labels)
        if self._problem_type(labels) != "single_label_classification":
            return labels, sample_weight
        targets, counted = losses.counted_targets(labels)
        return targets, weighted(counted, sample_weight)

    def _head_variables(self):
        return {"score.weight": (self.score, "kernel", True)}

    def serving_outputs(self, outputs):
        """`logits`, and for classification their `probabilities` (softmax, or sigmoid per label for
        multi-label problems); regression serves the logits alone."""
        logits = outputs["logits"]
        config = self.config
        if config.problem_type == "regression" or (config.problem_type is None and config.num_labels == 1):
            return {"logits": logits}
        if config.problem_type == "multi_label_classification":
            return {"logits": logits, "probabilities": tf.sigmoid(logits)}
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    def get_config(self):
        return {**super().get_config(), "classifier_dropout": self.classifier_dropout}
