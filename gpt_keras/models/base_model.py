"""`TFOpenAIGPTModel`: the bare GPT transformer, final hidden states and no head."""
import keras

from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel
from gpt_keras.models.outputs import ModelOutput, optional_outputs
from gpt_keras.models.pretrained_io import BACKBONE_PREFIX


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTModel(TFOpenAIGPTPreTrainedModel):
    """The bare GPT transformer: final hidden states, no head.

    Call args (all models share them; each model reads the ones it uses):
        input_ids: (batch, seq) int token ids (numpy or tensor, int32 or int64); or a dict of all inputs,
            as Keras passes them in `fit`.
        attention_mask: (batch, seq) 1 for tokens to attend to, 0 for padding.
        token_type_ids: (batch, seq) ids looked up in the token embedding and added (reference behaviour).
        position_ids: (batch, seq) positions; 0..seq-1 by default.
        head_mask: (n_head,) or (n_layer, n_head) multipliers of each head's attention probabilities.
        inputs_embeds: (batch, seq, n_embd) embeddings instead of `input_ids`.
        output_attentions, output_hidden_states: Also return these tuples.
        training: Enables dropout.

    Returns:
        `ModelOutput` with `last_hidden_state` (batch, seq, n_embd) and, when asked, `hidden_states`
        (n_layer + 1 tensors: embeddings, then each block) and `attentions` (n_layer tensors of shape
        (batch, n_head, seq, seq)).

    Example:
        >>> model = TFOpenAIGPTModel.from_pretrained("openai-gpt/")  # doctest: +SKIP
        >>> model(np.array([[40477, 249, 3]])).last_hidden_state.shape  # doctest: +SKIP
        TensorShape([1, 3, 768])
    """

    main_output = "last_hidden_state"
    reference_name = "OpenAIGPTModel"
    head_inputs = ()

    def _call_heads(self, inputs, training):
        outputs, _ = self._run_backbone(inputs, training)
        return ModelOutput(last_hidden_state=outputs["last_hidden_state"], **optional_outputs(outputs))

    def _saved_name(self, name):
        return name[len(BACKBONE_PREFIX) :]

