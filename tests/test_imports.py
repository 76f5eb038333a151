"""What imports without TensorFlow, and the old module paths that now re-export a new home."""
import importlib
import subprocess
import sys

import pytest

# The CLI's tokenizer commands and file reading must start without waiting for TensorFlow.
TENSORFLOW_FREE = ["gpt_keras.tokenizer", "gpt_keras.tokenization", "gpt_keras.bpe_training", "gpt_keras.data.readers", "gpt_keras.data"]


@pytest.mark.parametrize("module", TENSORFLOW_FREE)
def test_module_imports_without_tensorflow(module):
    code = f"import sys, {module}; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "old, new, names",
    [
        ("gpt_keras.tokenizer", "gpt_keras.tokenization", ["OpenAIGPTTokenizer", "IncrementalDecoder", "PAPER_SPECIAL_TOKENS", "SPECIAL_TOKEN_ATTRIBUTES"]),
        ("gpt_keras.bpe_training", "gpt_keras.tokenization.bpe_training", ["train_tokenizer", "count_words", "learn_bpe", "pre_tokenize"]),
    ],
)
def test_the_old_module_paths_give_the_same_objects(old, new, names):
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), name


@pytest.mark.parametrize("name", ["GenerationConfig", "GenerateDecoderOnlyOutput", "GenerateBeamDecoderOnlyOutput"])
def test_generation_names_are_top_level_as_in_the_reference(name):
    import gpt_keras
    from gpt_keras import decoding

    assert name in gpt_keras.__all__ and getattr(gpt_keras, name) is getattr(decoding, name)
