"""Re-exports the tokenizer, which now lives in ``gpt_keras.tokenization`` (façade: ``tokenization/tokenizer.py``)."""
from gpt_keras.tokenization import (
    PAPER_SPECIAL_TOKENS,
    SPECIAL_TOKEN_ATTRIBUTES,
    IncrementalDecoder,
    OpenAIGPTTokenizer,
)
from gpt_keras.tokenization.files import CONFIG_FILE, ORIGINAL_RELEASE_FILES, VOCAB_FILES

__all__ = [
    "CONFIG_FILE",
    "IncrementalDecoder",
    "ORIGINAL_RELEASE_FILES",
    "OpenAIGPTTokenizer",
    "PAPER_SPECIAL_TOKENS",
    "SPECIAL_TOKEN_ATTRIBUTES",
    "VOCAB_FILES",
]
