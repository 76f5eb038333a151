"""Building blocks of the GPT tokenizer: BPE and files (``bpe``), the two pre-tokenizers (``pre_tokenizers``).

The tokenizer itself is ``gpt_keras.tokenizer.OpenAIGPTTokenizer``.
"""
