"""The Keras layers of GPT, one module per part: embeddings, causal self-attention with a key/value
cache, MLP, block, and the multiple-choice head's sequence summary.

Each layer mirrors a module of the PyTorch reference (`modeling_openai.py`) and keeps its weight names
(`c_attn`, `c_proj`, `c_fc`, `ln_1`, `ln_2`, `tokens_embed`, `positions_embed`), so checkpoints map
one to one. `Dropout` is Keras' own, drawing its masks faster in XLA programs for the CPU.
`decode_layout` says in which layout batch-1 decoding reads the block kernels, and why.
"""
from gpt_keras.layers.activations import ACTIVATIONS, gelu_tanh
from gpt_keras.layers.attention import CAUSAL_MASK_VALUE, PADDING_MASK_VALUE, CausalSelfAttention
from gpt_keras.layers.block import TransformerBlock
from gpt_keras.layers.checks import check_ids_in_range
from gpt_keras.layers.dense import Dense, normal_initializer
from gpt_keras.layers.dropout import Dropout
from gpt_keras.layers.embedding import Embedding, GPTEmbeddings
from gpt_keras.layers.mlp import MLP
from gpt_keras.layers.normalization import LayerNorm
from gpt_keras.layers.sequence_summary import SequenceSummary

__all__ = [
    "ACTIVATIONS",
    "CAUSAL_MASK_VALUE",
    "MLP",
    "PADDING_MASK_VALUE",
    "CausalSelfAttention",
    "Dense",
    "Dropout",
    "Embedding",
    "GPTEmbeddings",
    "LayerNorm",
    "SequenceSummary",
    "TransformerBlock",
    "check_ids_in_range",
    "gelu_tanh",
    "normal_initializer",
]
