"""Text generation for the LM models (being written: see issue 5)."""


class GenerationMixin:
    """Adds `generate` to models that have `transformer` (a `TFOpenAIGPT`) and `lm_logits(hidden)`."""
