"""`TFOpenAIGPTDoubleHeadsModel`: GPT with the tied LM head and a multiple-choice head, the paper's
fine-tuning model."""
import keras
from keras import ops

from gpt_keras import losses
from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.decoding import GenerationMixin
from gpt_keras.layers import SequenceSummary, check_ids_in_range
from gpt_keras.models import _keras_compat
from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel, as_config
from gpt_keras.models.inputs import _as_int_tensor, _check_rank, checked_labels
from gpt_keras.models.outputs import ModelOutput, optional_outputs


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTDoubleHeadsModel(GenerationMixin, TFOpenAIGPTPreTrainedModel):
    """GPT with the LM head and a multiple-choice head: the paper's fine-tuning model (e.g. ROCStories).

    Inputs are (batch, choices, seq). As in the reference, the model's config has `num_labels` 1, so
    the summary projects each choice to one score (the config passed in is copied, not changed).

    Call args: as `TFOpenAIGPTModel`, plus
        mc_token_ids: (batch, choices) position of the classification token in each choice (the last
            token when None).
        labels: (batch, choices, seq) LM labels (-100 to ignore).
        mc_labels: (batch,) index of the right choice.

    Returns:
        `ModelOutput` with `loss` (LM, when labels given), `mc_loss` (when mc_labels given), `logits`
        (batch, choices, seq, vocab), `mc_logits` (batch, choices), and hidden states / attentions
        when asked.

    Args:
        config: The model's config.
        lm_coef: Weight of the LM loss in the loss `fit` minimizes: `mc_loss + lm_coef * loss`
            (0.5 in the paper).
    """

    main_output = "mc_logits"
    metric_labels = "mc_labels"
    reference_name = "OpenAIGPTDoubleHeadsModel"
    has_tied_lm_head = True
    serving_inputs = ("input_ids", "attention_mask", "mc_token_ids")
    head_inputs = ("labels", "mc_token_ids", "mc_labels")
    model_arguments = ("lm_coef",)
    input_rank = 3

    def __init__(self, config, dtype=None, lm_coef=0.5, **kwargs):
        # A copy: the caller's config keeps its num_labels.
        config = OpenAIGPTConfig.from_dict({**as_config(config).to_dict(), "num_labels": 1})
        super().__init__(config, dtype=dtype, **kwargs)
        self.lm_coef = lm_coef
        self.mc_loss_tracker = keras.metrics.Mean(name="mc_loss")
        self.lm_loss_tracker = keras.metrics.Mean(name="lm_loss")
        self.multiple_choice_head = SequenceSummary(config, dtype=self.dtype_policy, name="multiple_choice_head")
        self.multiple_choice_head.build()

    def _call_heads(self, inputs, training):
        outputs, _ = self._run_backbone(inputs, training)
        hidden_states = outputs["last_hidden_state"]
        logits = self.lm_logits(hidden_states)
        mc_token_ids = inputs.get("mc_token_ids")
        if mc_token_ids is not None:
            mc_token_ids = _as_int_tensor(mc_token_ids, "mc_token_ids")
            _check_rank(mc_token_ids, 2, "mc_token_ids", "(batch, choices)")
            seq_len = hidden_states.shape[-2]
            if seq_len is not None:
                mc_token_ids = check_ids_in_range(mc_token_ids, seq_len, "mc_token_ids")
        mc_logits = ops.cast(ops.squeeze(self.multiple_choice_head(hidden_states, mc_token_ids, training=training), -1), "float32")
        result = ModelOutput()
        if inputs.get("labels") is not None:
            result["loss"] = losses.causal_lm_loss(logits, checked_labels(inputs["labels"], "labels", self.config.vocab_size))
        if inputs.get("mc_labels") is not None:
            num_choices = mc_logits.shape[-1] if mc_logits.shape[-1] is not None else ops.shape(mc_logits)[-1]
            mc_labels = checked_labels(inputs["mc_labels"], "mc_labels", num_choices)
            result["mc_loss"] = losses.sparse_cross_entropy(mc_logits, mc_labels)
        result["logits"] = logits
        result["mc_logits"] = mc_logits
        result.update(optional_outputs(outputs))
        return result

    @property
    def metrics(self):
        trackers = (self.mc_loss_tracker, self.lm_loss_tracker)
        if _keras_compat.compiled_loss(self) is None:
            return super().metrics
        # A compiled Keras loss replaces the internal one, and with it these two parts.
        return [metric for metric in super().metrics if all(metric is not tracker for tracker in trackers)]

    def _internal_loss(self, y_pred):
        # Both parts also show in the progress bar, next to the total that is minimized.
        if "mc_loss" in y_pred:
            self.mc_loss_tracker.update_state(y_pred["mc_loss"])
        if "loss" in y_pred:
            self.lm_loss_tracker.update_state(y_pred["loss"])
        if "mc_loss" in y_pred and "loss" in y_pred:
            return y_pred["mc_loss"] + self.lm_coef * y_pred["loss"]
        return y_pred["mc_loss"] if "mc_loss" in y_pred else y_pred["loss"]

    def _head_variables(self):
        summary = self.multiple_choice_head.summary
        if summary is None:
            return {}
        return {
            "multiple_choice_head.summary.weight": (summary, "kernel", True),
            "multiple_choice_head.summary.bias": (summary, "bias", False),
        }

    def get_config(self):
        return {**super().get_config(), "lm_coef": self.lm_coef}
