"""The four GPT models of the reference, as Keras models over one shared `TFOpenAIGPT` backbone.

`TFOpenAIGPTModel` (hidden states), `TFOpenAIGPTLMHeadModel` (tied LM head),
`TFOpenAIGPTDoubleHeadsModel` (LM + multiple-choice head, the paper's fine-tuning model) and
`TFOpenAIGPTForSequenceClassification` keep the reference's names, call signatures, outputs and
checkpoint tensor names.

Modules: `base` (the thin shared base), one per head (`base_model`, `lm_head`, `double_heads`,
`sequence_classification`), `inputs` (input checking), `outputs` (`ModelOutput`), `fitting` (training
with Keras), `pretrained_io` (checkpoints), `registry` (`model_class_for`), and `_keras_compat`, the one
module that uses private Keras API.
"""
from gpt_keras.layers import SequenceSummary
from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel
from gpt_keras.models.base_model import TFOpenAIGPTModel
from gpt_keras.models.double_heads import TFOpenAIGPTDoubleHeadsModel
from gpt_keras.models.lm_head import TFOpenAIGPTLMHeadModel
from gpt_keras.models.outputs import ModelOutput
from gpt_keras.models.registry import ARCHITECTURES, MODEL_CLASSES, is_model, model_class_for
from gpt_keras.models.sequence_classification import TFOpenAIGPTForSequenceClassification

__all__ = [
    "ARCHITECTURES",
    "MODEL_CLASSES",
    "ModelOutput",
    "SequenceSummary",
    "TFOpenAIGPTDoubleHeadsModel",
    "TFOpenAIGPTForSequenceClassification",
    "TFOpenAIGPTLMHeadModel",
    "TFOpenAIGPTModel",
    "TFOpenAIGPTPreTrainedModel",
    "is_model",
    "model_class_for",
]
