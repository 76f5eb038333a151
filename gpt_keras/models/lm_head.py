"""`TFOpenAIGPTLMHeadModel`: GPT with the language-modelling head, tied to the token embedding."""
import keras

from gpt_keras import losses
from gpt_keras.decoding import GenerationMixin
from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel
from gpt_keras.models.inputs import checked_labels
from gpt_keras.models.outputs import ModelOutput, optional_outputs


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTLMHeadModel(GenerationMixin, TFOpenAIGPTPreTrainedModel):
    """GPT with the language-modelling head, tied to the token embedding.

    Call args: as `TFOpenAIGPTModel`, plus `labels` (batch, seq): the inputs themselves for causal LM
    (shifted inside), -100 where no loss should be taken.

    Returns:
        `ModelOutput` with `logits` (batch, seq, vocab_size) in float32, `loss` (scalar, when labels
        are given), and `hidden_states` / `attentions` when asked.
    """

    reference_name = "OpenAIGPTLMHeadModel"
    has_tied_lm_head = True

    def _targets(self, labels):
        return losses.counted_targets(losses.next_token_labels(labels))

    def _call_heads(self, inputs, training):
        outputs, _ = self._run_backbone(inputs, training)
        logits = self.lm_logits(outputs["last_hidden_state"])
        result = ModelOutput()
        if inputs.get("labels") is not None:
            result["loss"] = losses.causal_lm_loss(logits, checked_labels(inputs["labels"], "labels", self.config.vocab_size))
        result["logits"] = logits
        result.update(optional_outputs(outputs))
        return result

