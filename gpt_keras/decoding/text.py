"""Text in and out of generation: prompts encoded and left-padded, continuations cut at EOS and decoded.

Streamed text goes through one incremental decoder (`gpt_keras.tokenizer.IncrementalDecoder`, or the
tokenizer's own `decode_stream()`), which holds back a word until it is complete.
"""
import numpy as np

from gpt_keras.decoding.config import FILLER_TOKEN_ID
from gpt_keras.tokenizer import IncrementalDecoder


def encode_prompts(tokenizer, prompts):
    """A str or a list of str as left-padded int32 numpy (input_ids, attention_mask)."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not prompts or not all(isinstance(prompt, str) for prompt in prompts):
        raise ValueError("prompts must be a str or a non-empty list of str")
    encoded = [list(tokenizer.encode(prompt)) for prompt in prompts]
    empty = [i for i, ids in enumerate(encoded) if not ids]
    if empty:
        raise ValueError(f"prompts {empty} encode to no tokens: every prompt needs at least one token")
    width = max(len(ids) for ids in encoded)
    input_ids = np.array([[FILLER_TOKEN_ID] * (width - len(ids)) + ids for ids in encoded], np.int32)
    attention_mask = np.array([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], np.int32)
    return input_ids, attention_mask


def with_tokenizer_eos(model_config, tokenizer, kwargs):
    """`kwargs` with the tokenizer's EOS id when neither `kwargs` nor the model config gives one."""
    tokenizer_eos = getattr(tokenizer, "eos_token_id", None)
    if kwargs.get("eos_token_id") is None and model_config.eos_token_id is None and tokenizer_eos is not None:
        return dict(kwargs, eos_token_id=tokenizer_eos)
    return kwargs


def until_eos(ids, eos):
    """`ids` up to (not including) the first id in the set `eos`."""
    for i, token in enumerate(ids):
        if token in eos:
            return ids[:i]
    return ids


def decode_continuations(tokenizer, request, sequences, input_ids, attention_mask, return_full_text):
    """The texts of `sequences` (from `request`), those of each prompt of `input_ids` together.

    The continuation starts after the prompt as generation used it (truncate_prompt may have cut it)
    and ends at the EOS ids generation stopped at; a full text keeps the whole prompt.
    """
    repeats = sequences.shape[0] // input_ids.shape[0]
    eos = set(request.options.eos_token_ids)
    texts = []
    for row, sequence in enumerate(sequences):
        prompt_row = row // repeats
        new_ids = until_eos(sequence[request.prompt_width :].tolist(), eos)
        prompt = input_ids[prompt_row][attention_mask[prompt_row] > 0].tolist() if return_full_text else []
        texts.append(tokenizer.decode(prompt + new_ids, skip_special_tokens=True))
    return texts


def stream_pieces(tokenizer, chunks, eos):
    """Yields the text of streamed token `chunks` (arrays of one row) as words complete, up to EOS."""
    if hasattr(tokenizer, "decode_stream"):
        decoder = tokenizer.decode_stream(skip_special_tokens=True)
    else:
        decoder = IncrementalDecoder(tokenizer, skip_special_tokens=True)
    for chunk in chunks:
        ids = chunk[0].tolist()
        kept = until_eos(ids, eos)
        piece = decoder.step(kept)
        if piece:
            yield piece
        if len(kept) < len(ids):
            break
    rest = decoder.flush()
    if rest:
        yield rest
