"""A generation call made ready for a compiled program: checked prompts, bucketed widths, the options.

Prompts are padded (on the left) to a bucket length and the cache to a bucket of new tokens, so calls
whose lengths fall in the same buckets run the same compiled program. Numpy only (the value checks
are the models' own, `gpt_keras.layers.checks`).
"""
import dataclasses

import numpy as np

from gpt_keras.decoding.config import FILLER_TOKEN_ID, DecodingControls, DecodingOptions
from gpt_keras.layers.checks import MASK_VALUES, integer_values, out_of_range

MIN_BUCKET = 8


def bucket_length(length, minimum=MIN_BUCKET):
    """The bucket a length falls in: the next power of two, at least `minimum`."""
    return max(minimum, 1 << max(0, int(length) - 1).bit_length())


@dataclasses.dataclass
class Request:
    """A validated generation call: bucketed numpy inputs, the runtime controls and the static options."""

    input_ids: np.ndarray  # (rows, prompt_bucket), left-padded to the bucket
    attention_mask: np.ndarray
    token_type_ids: object  # (rows, prompt_bucket) like input_ids (0 under the bucket's padding), or None
    prompt_width: int  # the caller's prompt width (output starts that many slots before the bucket end)
    max_new_tokens: int
    max_length: int  # cache / output slots: prompt bucket + new-token bucket
    controls: DecodingControls  # Python numbers
    options: DecodingOptions


def prepare_request(model_config, input_ids, attention_mask, generation_config, token_type_ids=None):
    """Checks a call of `generate` / `stream` and makes it a `Request`.

    Args:
        model_config: The model's `OpenAIGPTConfig` (vocabulary, positions, default EOS / pad ids).
        input_ids: (batch, seq) ints, padded where `attention_mask` is 0; None starts one sequence
            from `bos_token_id`, as the reference does.
        attention_mask: (batch, seq) of 0 and 1, or None for all ones.
        generation_config: `GenerationConfig`.
        token_type_ids: (batch, seq) ids in [0, vocab_size) added as token-type rows of the token
            embedding, or None. Every new token takes its row's last type, as the reference extends them.

    Returns:
        The `Request`.

    Raises:
        ValueError: An option or a prompt is invalid, or prompt + new tokens exceed `n_positions`
            without `truncate_prompt`.
    """
    config = generation_config.validate()
    if input_ids is None:
        input_ids = _bos_prompt(config, attention_mask)
    input_ids, attention_mask = _checked_prompts(model_config, input_ids, attention_mask)
    if token_type_ids is not None:
        token_type_ids = _checked_token_types(model_config, token_type_ids, input_ids.shape)
        if config.truncate_prompt:
            raise ValueError("truncate_prompt does not shorten token_type_ids: pass one or the other")
    max_new_tokens = config.new_token_count(input_ids.shape[1], model_config.n_positions)
    room = model_config.n_positions - max_new_tokens
    longest = attention_mask.sum(axis=1).max()
    if longest > room:
        if not config.truncate_prompt:
            raise ValueError(
                f"prompt + new tokens exceed n_positions={model_config.n_positions}: the longest prompt has "
                f"{longest} tokens and max_new_tokens={max_new_tokens}; shorten the prompt, lower "
                "max_new_tokens, or pass truncate_prompt=True to keep only each prompt's last tokens"
            )
        if room < 1:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} leaves no room for a prompt in n_positions="
                f"{model_config.n_positions}, even truncated: lower max_new_tokens"
            )
        input_ids, attention_mask = _keep_last_tokens(input_ids, attention_mask, room)
    min_new_tokens = config.min_new_token_count(input_ids.shape[1])
    # Sampling several sequences per prompt: each prompt repeated, as the reference expands it.
    input_ids = np.repeat(input_ids, config.sequences_per_prompt, axis=0)
    attention_mask = np.repeat(attention_mask, config.sequences_per_prompt, axis=0)
    options = config.decoding_options(model_config)
    if token_type_ids is not None:
        token_type_ids = np.repeat(token_type_ids, config.sequences_per_prompt, axis=0)
        options = dataclasses.replace(options, token_types=True)

    prompt_width = input_ids.shape[1]
    prompt_bucket = bucket_length(prompt_width)
    left = prompt_bucket - prompt_width
    return Request(
        input_ids=np.pad(input_ids, ((0, 0), (left, 0)), constant_values=FILLER_TOKEN_ID),
        attention_mask=np.pad(attention_mask, ((0, 0), (left, 0))),
        token_type_ids=None if token_type_ids is None else np.pad(token_type_ids, ((0, 0), (left, 0))),
        prompt_width=prompt_width,
        max_new_tokens=max_new_tokens,
        max_length=prompt_bucket + bucket_length(max_new_tokens),
        controls=config.controls(max_new_tokens, min_new_tokens),
        options=options,
    )


def _bos_prompt(config, attention_mask):
    """The one-token prompt [[bos_token_id]] of a call without input_ids."""
    if attention_mask is not None:
        raise ValueError("attention_mask was given without input_ids; pass the prompts it masks as input_ids")
    if config.bos_token_id is None:
        raise ValueError(
            "input_ids is None and no bos_token_id is set (neither the call, the generation config nor the "
            "model config gives one): pass input_ids, or bos_token_id to start from"
        )
    return np.array([[config.bos_token_id]], np.int64)


def _as_numpy_values(value, argument, **allowed):
    array = integer_values(value.numpy() if hasattr(value, "numpy") else value, argument, **allowed)
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{argument} must have shape (batch, seq), got shape {array.shape}")
    return array


def _checked_prompts(model_config, input_ids, attention_mask):
    """int32 numpy (ids, mask), or ValueError / TypeError naming what is wrong with them.

    Both are checked in the dtype they were given in, before the cast to int32 (which would make an
    int64 id 2**32 + 5 id 5, and a mask value 2**32 + 1 a 1).
    """
    input_ids = _as_numpy_values(input_ids, "input_ids")
    if attention_mask is None:
        attention_mask = np.ones(input_ids.shape, np.int32)
    # Booleans and 0.0 / 1.0 floats are masks too, as in the models' forward pass.
    attention_mask = _as_numpy_values(attention_mask, "attention_mask", allow_bool=True, allow_float=True)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask has shape {attention_mask.shape} but input_ids has shape {input_ids.shape}; they must match"
        )
    if not ((attention_mask == 0) | (attention_mask == 1)).all():
        raise ValueError(f"attention_mask must hold {MASK_VALUES}")
    attention_mask = attention_mask.astype(np.int32)
    if input_ids.shape[0] == 0:
        raise ValueError("input_ids is an empty batch: give at least one prompt")
    prompt_lengths = attention_mask.sum(axis=1)
    if input_ids.shape[1] == 0 or (prompt_lengths == 0).any():
        empty = f"rows {[int(i) for i in np.flatnonzero(prompt_lengths == 0)]}" if input_ids.shape[1] else "every row"
        raise ValueError(f"input_ids has an empty prompt ({empty}): every prompt needs at least one token")
    vocab_size = model_config.vocab_size
    bad = out_of_range(input_ids, vocab_size)
    if bad.any():
        raise ValueError(
            f"input_ids must be in [0, {vocab_size}) (padding included), got {sorted(set(input_ids[bad].tolist()))[:8]}"
        )
    return input_ids.astype(np.int32), attention_mask


def _checked_token_types(model_config, token_type_ids, shape):
    """int32 numpy token types of prompts of `shape`, or ValueError / TypeError naming what is wrong."""
    token_type_ids = _as_numpy_values(token_type_ids, "token_type_ids")
    if token_type_ids.shape != shape:
        raise ValueError(f"token_type_ids has shape {token_type_ids.shape} but input_ids has shape {shape}; they must match")
    bad = out_of_range(token_type_ids, model_config.vocab_size)
    if bad.any():
        raise ValueError(
            f"token_type_ids must be in [0, {model_config.vocab_size}) (rows of the token embedding), got "
            f"{sorted(set(token_type_ids[bad].tolist()))[:8]}"
        )
    return token_type_ids.astype(np.int32)


def _keep_last_tokens(input_ids, attention_mask, keep):
    """Each prompt's last `keep` real tokens, left-padded to a common width (for `truncate_prompt`)."""
    rows = [ids[mask > 0][-keep:] for ids, mask in zip(input_ids, attention_mask)]
    width = max(len(row) for row in rows)
    pad = input_ids[attention_mask == 0][0] if (attention_mask == 0).any() else 0
    new_ids = np.full((len(rows), width), pad, np.int32)
    new_mask = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        new_ids[i, width - len(row) :] = row
        new_mask[i, width - len(row) :] = 1
    return new_ids, new_mask
