"""`TFOpenAIGPTLMHeadModel`: GPT with the language-modelling head, tied to the token embedding."""
import keras

from gpt_keras import losses
from gpt_keras.decoding import GenerationMixin
from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel
from gpt_keras.models.fitting import weighted
from gpt_keras.models.inputs import checked_labels, weight_for
from gpt_keras.models.outputs import ModelOutput, optional_outputs


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTLMHeadModel(GenerationMixin, TFOpenAIGPTPreTrainedModel):
    """GPT with the language-modelling head, tied to the token embedding.

    Call args: as `TFOpenAIGPTModel`, plus `labels` (batch, seq): the inputs themselves for causal LM
    (shifted inside), -100 where no loss should be taken.

    Returns:
        `ModelOutput` with `logits` (batch, seq, vocab_size) in float32, `loss` (when labels are given:
        the mean next-token cross-entropy, a scalar of shape `()` as the PyTorch model's; the reference
        TF port's has shape `(1,)`), and `hidden_states` / `attentions` when asked.

    In `fit`, the labels may also come as `y` (shifted the same way), and `sample_weight` weights
    examples, (batch,), or tokens, laid out like `labels` (see `gpt_keras.losses`).
    """

    reference_name = "OpenAIGPTLMHeadModel"
    has_tied_lm_head = True

    def _targets(self, labels, sample_weight=None):
        targets, counted = losses.counted_targets(losses.next_token_labels(labels))
        return targets, weighted(counted, losses.next_token_weights(sample_weight, labels))

    def _head_losses(self, outputs, inputs, sample_weight=None):
        if inputs.get("labels") is None:
            return {}
        labels = checked_labels(inputs["labels"], "labels", self.config.vocab_size)
        return {"loss": losses.causal_lm_loss(outputs["logits"], labels, weight_for(sample_weight, "labels"))}

    def _call_heads(self, inputs, training):
        outputs, _ = self._run_backbone(inputs, training)
        logits = self.lm_logits(outputs["last_hidden_state"])
        result = ModelOutput(self._head_losses({"logits": logits}, inputs))
        result["logits"] = logits
        result.update(optional_outputs(outputs))
        return result
