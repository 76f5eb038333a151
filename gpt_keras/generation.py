"""Moved to `gpt_keras.decoding`; this module keeps the old import path working."""
from gpt_keras.decoding.config import FILLER_TOKEN_ID, DecodingOptions, GenerationConfig, check_early_stopping, eos_and_pad_ids
from gpt_keras.decoding.loop import forward_tokens as _forward_tokens
from gpt_keras.decoding.loop import prefill
from gpt_keras.decoding.mixin import GenerationMixin
from gpt_keras.decoding.processors import process_scores, warp_scores
from gpt_keras.decoding.programs import build_generate_fn, build_stream_fns
from gpt_keras.decoding.request import _keep_last_tokens, bucket_length

__all__ = [
    "FILLER_TOKEN_ID",
    "DecodingOptions",
    "GenerationConfig",
    "GenerationMixin",
    "_forward_tokens",
    "_keep_last_tokens",
    "bucket_length",
    "build_generate_fn",
    "build_stream_fns",
    "check_early_stopping",
    "eos_and_pad_ids",
    "prefill",
    "process_scores",
    "warp_scores",
]
