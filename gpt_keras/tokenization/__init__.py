"""The GPT tokenizer: ``OpenAIGPTTokenizer`` (the reference's façade) and the rooms it is built from.

- ``tokenizer``: the façade, with the reference's names.
- ``model_inputs``: the reference's ``__call__``/``encode_plus``/``batch_encode_plus``/``pad`` calls,
  returning a ``BatchEncoding`` (``batch_encoding``); ``truncation``: its truncation strategies.
- ``encoding``: text to BPE tokens and ids, each distinct word encoded once.
- ``pre_tokenizers``: the two pre-tokenizers (spaCy + ftfy, BERT's basic one).
- ``bpe``: the merge loop and the vocabulary and merges file formats.
- ``special_tokens``, ``added_tokens``: the named special tokens, ``AddedToken`` and the special-token API.
- ``packing``: padding, tensors and the multiple-choice layout.
- ``files``: tokenizer directories (loading, atomic saving).
- ``decoding``, ``streaming``: ids back to text, at once or as they come.
- ``bpe_training``: learning a vocabulary from your own texts.
- ``in_graph`` (with ``in_graph_words``, ``in_graph_bpe``, ``in_graph_packing``, ``in_graph_decoding`` and
  ``unicode_tables``): ``OpenAIGPTTokenizerLayer``, the basic mode in TensorFlow ops, for tf.data and
  SavedModels.

None of them imports TensorFlow except the ``in_graph`` ones, which load on first use of
``OpenAIGPTTokenizerLayer`` (``return_tensors="tf"`` imports it when asked, too).
"""
from gpt_keras._lazy import lazy_exports
from gpt_keras.tokenization.added_tokens import AddedToken
from gpt_keras.tokenization.batch_encoding import BatchEncoding
from gpt_keras.tokenization.special_tokens import PAPER_SPECIAL_TOKENS, SPECIAL_TOKEN_ATTRIBUTES
from gpt_keras.tokenization.streaming import IncrementalDecoder
from gpt_keras.tokenization.tokenizer import OpenAIGPTTokenizer

__all__ = [
    "AddedToken",
    "BatchEncoding",
    "IncrementalDecoder",
    "OpenAIGPTTokenizer",
    "OpenAIGPTTokenizerLayer",
    "PAPER_SPECIAL_TOKENS",
    "SPECIAL_TOKEN_ATTRIBUTES",
]
__getattr__, __dir__ = lazy_exports(__name__, {"OpenAIGPTTokenizerLayer": ".in_graph"})
