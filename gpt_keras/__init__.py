"""gpt_keras: the original OpenAI GPT (Radford et al., 2018) in Keras 3 / TensorFlow.

Models keep the names of the reference implementation:

    >>> from gpt_keras import TFOpenAIGPTLMHeadModel  # doctest: +SKIP
    >>> model = TFOpenAIGPTLMHeadModel.from_pretrained("path/to/openai-gpt")  # doctest: +SKIP

Names are imported on first use, so that `gpt_keras.tokenizer` (and the CLI's tokenizer commands)
do not pay for importing TensorFlow.
"""
from gpt_keras._backend import ensure_tensorflow_backend
from gpt_keras._lazy import lazy_exports

ensure_tensorflow_backend()

__version__ = "0.1.0"

_EXPORTS = {
    "OpenAIGPTConfig": "gpt_keras.configuration",
    "TFOpenAIGPT": "gpt_keras.backbone",
    "ModelOutput": "gpt_keras.models",
    "TFOpenAIGPTPreTrainedModel": "gpt_keras.models",
    "TFOpenAIGPTModel": "gpt_keras.models",
    "TFOpenAIGPTLMHeadModel": "gpt_keras.models",
    "TFOpenAIGPTDoubleHeadsModel": "gpt_keras.models",
    "TFOpenAIGPTForSequenceClassification": "gpt_keras.models",
    "OpenAIGPTTokenizer": "gpt_keras.tokenization",
    "AddedToken": "gpt_keras.tokenization",
    "BatchEncoding": "gpt_keras.tokenization",
    "GenerationConfig": "gpt_keras.decoding.config",
    "GenerateDecoderOnlyOutput": "gpt_keras.decoding.outputs",
    "GenerateBeamDecoderOnlyOutput": "gpt_keras.decoding.outputs",
    "export_saved_model": "gpt_keras.export",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
