"""Re-exports ``gpt_keras.tokenization.bpe_training``, where BPE training now lives (README names this path)."""
from gpt_keras.tokenization.bpe_training import count_words, learn_bpe, pre_tokenize, train_tokenizer

__all__ = ["count_words", "learn_bpe", "pre_tokenize", "train_tokenizer"]
