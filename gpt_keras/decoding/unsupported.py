"""The reference's `generate` keywords that gpt_keras does not support, and the refusal that names them.

A keyword given its reference default changes nothing there, so it is accepted and ignored here too
(ported code that spells out `output_attentions=False` or `streamer=None` runs); any other value is a
TypeError that names it. No TensorFlow here.
"""

# Name -> the reference's value that turns it off (transformers 4.57 `GenerationConfig` and `generate`).
REFERENCE_DEFAULTS = {
    # Length and stopping.
    "max_time": None,
    "stop_strings": None,
    "stopping_criteria": None,
    # Other search strategies and their settings.
    "num_beam_groups": 1,
    "diversity_penalty": 0.0,
    "dola_layers": None,
    "constraints": None,
    "force_words_ids": None,
    "low_memory": None,
    "assistant_model": None,
    "assistant_tokenizer": None,
    "assistant_early_exit": None,
    "num_assistant_tokens": 20,
    "num_assistant_tokens_schedule": "constant",
    "assistant_confidence_threshold": 0.4,
    "assistant_lookbehind": 10,
    "target_lookbehind": 10,
    "max_matching_ngram_size": None,
    "custom_generate": None,
    # Logits processors and warpers.
    "logits_processor": None,
    "prefix_allowed_tokens_fn": None,
    "min_p": None,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "encoder_repetition_penalty": 1.0,
    "encoder_no_repeat_ngram_size": 0,
    "renormalize_logits": False,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "exponential_decay_length_penalty": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "sequence_bias": None,
    "token_healing": False,
    "guidance_scale": None,
    "negative_prompt_ids": None,
    "negative_prompt_attention_mask": None,
    "watermarking_config": None,
    # Cache and compilation: generation here is always one XLA program over its own cache.
    "cache_implementation": None,
    "cache_config": None,
    "return_legacy_cache": None,
    "prefill_chunk_size": None,
    "compile_config": None,
    "disable_compile": False,
    "past_key_values": None,
    # Encoder-decoder models, other devices, streaming.
    "decoder_start_token_id": None,
    "synced_gpus": False,
    "streamer": None,
    "use_model_defaults": None,
    "tokenizer": None,
    # Model inputs the reference forwards to the model.
    "position_ids": None,
    "head_mask": None,
    "inputs_embeds": None,
}


class UnusedKeywordError(TypeError, ValueError):
    """A keyword that `generate` does not know (a typo such as `do_samples`): a ValueError, as the
    reference raises for keywords its model does not use, and a TypeError, as Python raises for an
    unexpected keyword."""


def check_unsupported(keywords, caller):
    """Raises `UnusedKeywordError` for `keywords` (a dict) that are not the reference's keywords, and
    TypeError for a reference keyword at a value other than the one that turns it off.

    Args:
        keywords: The keywords left after the supported ones.
        caller: The function's name, for the message.
    """
    unknown = sorted(name for name in keywords if name not in REFERENCE_DEFAULTS)
    if unknown:
        raise UnusedKeywordError(f"{caller}() got unexpected keyword arguments {unknown}")
    unsupported = sorted(name for name, value in keywords.items() if not _is_off(value, REFERENCE_DEFAULTS[name]))
    if unsupported:
        given = ", ".join(f"{name}={keywords[name]!r}" for name in unsupported)
        raise TypeError(
            f"{caller}() does not support the reference's {given}: gpt_keras generates with greedy search, "
            "sampling, beam search and contrastive search, and the options of GenerationConfig.option_names(); "
            "leave these unset"
        )


def _is_off(value, default):
    """Whether `value` is unset (None) or the reference's off value (1 and 1.0 alike; True is not 1)."""
    if value is None or value is default:
        return True
    if isinstance(value, bool) or isinstance(default, bool):
        return False
    if isinstance(value, (int, float)) and isinstance(default, (int, float)):
        return value == default
    return isinstance(value, str) and value == default
