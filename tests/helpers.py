"""Helpers shared by the test modules: comparisons with a named failure and tiny model configs."""
import numpy as np

from gpt_keras import OpenAIGPTConfig

# Eagerly our outputs stay within 1e-5 of the reference's (see tests/test_models.py: logits_atol).
ATOL = 1e-5

# The smallest model that still has every part: two layers (a cache with history), two heads.
TINY = dict(vocab_size=60, n_positions=16, n_embd=16, n_layer=2, n_head=2)


def tiny_config(**overrides):
    """An `OpenAIGPTConfig` of `TINY` sizes; `overrides` replace or add fields."""
    return OpenAIGPTConfig(**{**TINY, **overrides})


def assert_matches(actual, expected, name, atol=ATOL):
    """`actual` has `expected`'s shape and is within `atol` of it everywhere; failures name `name`."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=name)
