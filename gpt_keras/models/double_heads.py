"""`TFOpenAIGPTDoubleHeadsModel`: GPT with the tied LM head and a multiple-choice head, the paper's
fine-tuning model."""
import keras
import numpy as np
from keras import ops

from gpt_keras import losses
from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.decoding import GenerationMixin
from gpt_keras.layers import SequenceSummary, check_ids_in_range
from gpt_keras.models import _keras_compat
from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel, as_config
from gpt_keras.models.inputs import _as_int_tensor, _check_rank, checked_labels, weight_for
from gpt_keras.models.outputs import ModelOutput, optional_outputs


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTDoubleHeadsModel(GenerationMixin, TFOpenAIGPTPreTrainedModel):
    """GPT with the LM head and a multiple-choice head: the paper's fine-tuning model (e.g. ROCStories).

    Inputs are (batch, choices, seq). As in the reference, the model's config has `num_labels` 1, so
    the summary projects each choice to one score (the config passed in is copied, not changed).
    Inputs without the batch axis, (choices, seq), are one example, as the reference reads them:
    `mc_token_ids` is then (choices,), `mc_labels` one index, and the outputs have no batch axis
    (`mc_logits` (choices,), `logits` (choices, seq, vocab)).

    Call args: as `TFOpenAIGPTModel`, plus
        mc_token_ids: (batch, choices) position of the classification token in each choice (the last
            token when None).
        labels: (batch, choices, seq) LM labels (-100 to ignore).
        mc_labels: (batch,) index of the right choice.

    Returns:
        `ModelOutput` with `loss` (LM, when labels given), `mc_loss` (when mc_labels given), both
        scalar means, `logits` (batch, choices, seq, vocab), `mc_logits` (batch, choices), and hidden
        states / attentions when asked.

    In `fit`, `y` is `mc_labels` (or a dict of `labels` and `mc_labels`), and `sample_weight` (batch,)
    weights examples in both losses (a dict of them, one per label name, weights each separately).

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

    def call(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        mc_token_ids=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        labels=None,
        mc_labels=None,
        training=False,
    ):
        """The reference TF port's order (`mc_token_ids` after `inputs_embeds`; a list input is matched
        to it), then the PyTorch model's `labels` and `mc_labels`; see the class docstring."""
        # Every parameter but `self` and `training` is an input.
        arguments = {name: value for name, value in locals().items() if name not in ("self", "training")}
        return self._call_inputs(arguments, training)

    def _call_heads(self, inputs, training):
        if _is_one_example(inputs):
            return _without_example_axis(self._call_heads(_with_example_axis(inputs), training))
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
        result = ModelOutput(self._head_losses({"logits": logits, "mc_logits": mc_logits}, inputs))
        result["logits"] = logits
        result["mc_logits"] = mc_logits
        result.update(optional_outputs(outputs))
        return result

    def _head_losses(self, outputs, inputs, sample_weight=None):
        parts = {}
        if inputs.get("labels") is not None:
            labels = checked_labels(inputs["labels"], "labels", self.config.vocab_size)
            parts["loss"] = losses.causal_lm_loss(outputs["logits"], labels, weight_for(sample_weight, "labels"))
        if inputs.get("mc_labels") is not None:
            mc_logits = outputs["mc_logits"]
            num_choices = mc_logits.shape[-1] if mc_logits.shape[-1] is not None else ops.shape(mc_logits)[-1]
            mc_labels = checked_labels(inputs["mc_labels"], "mc_labels", num_choices)
            parts["mc_loss"] = losses.sparse_cross_entropy(mc_logits, mc_labels, sample_weight=weight_for(sample_weight, "mc_labels"))
        return parts

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


# The inputs of one choice each, which a (choices, seq) example is given a batch axis of one in.
_PER_CHOICE_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds", "labels", "mc_token_ids")


def _is_one_example(inputs):
    """Whether the inputs are one example without its batch axis: (choices, seq) `input_ids`, or
    (choices, seq, n_embd) `inputs_embeds`."""
    if inputs.get("input_ids") is not None:
        return len(ops.shape(_as_int_tensor(inputs["input_ids"], "input_ids"))) == 2
    return inputs.get("inputs_embeds") is not None and len(ops.shape(inputs["inputs_embeds"])) == 3


def _with_example_axis(inputs):
    """The inputs of one example as a batch of one (its `mc_labels` a single index)."""
    batched = dict(inputs)
    for name in _PER_CHOICE_INPUTS:
        if inputs.get(name) is not None:
            batched[name] = ops.expand_dims(ops.convert_to_tensor(inputs[name]), 0)
    if inputs.get("mc_labels") is not None:
        mc_labels = ops.convert_to_tensor(inputs["mc_labels"])
        if None not in tuple(mc_labels.shape) and int(np.prod(tuple(mc_labels.shape))) != 1:
            raise ValueError(
                "mc_labels of one example ((choices, seq) input_ids, without a batch axis) must be one index,"
                f" of shape () or (1,); got shape {tuple(mc_labels.shape)}"
            )
        batched["mc_labels"] = ops.reshape(mc_labels, (1,))
    return batched


def _without_example_axis(outputs):
    """A batch of one's outputs without the batch axis; the losses (means) as they are."""
    unbatched = ModelOutput()
    for name, value in outputs.items():
        if name in ("loss", "mc_loss"):
            unbatched[name] = value
        elif isinstance(value, tuple):  # hidden states, attentions
            unbatched[name] = tuple(x[0] for x in value)
        else:
            unbatched[name] = value[0]
    return unbatched
