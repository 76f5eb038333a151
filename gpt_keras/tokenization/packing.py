"""Padding of token ids with attention masks, tensors, and the paper's multiple-choice layout
``_start_ context _delimiter_ ending _classify_``.

The one padding of the package: ``pad`` for rows of ids (``encode_multiple_choice``, the features of
``gpt_keras.data``) and ``pad_example``, the reference's ``_pad`` of one encoding with every field it
holds (the tokenizer's ``__call__`` and ``pad``), both put padding on the side they are given.
"""
from gpt_keras.tokenization.inputs import check_texts
from gpt_keras.tokenization.truncation import check_side


def pad(rows, pad_id, width=None, side="right"):
    """Pads rows of ids to one width and gives their attention masks.

    Args:
        rows: sequences of ids.
        pad_id: the id of padding (masked, so never read).
        width: the width to pad to; None for the longest row. Longer rows are left as they are.
        side: "right" or "left".

    Returns:
        ``(padded, masks)``: new lists of lists; a mask is 1 on ids and 0 on padding.

    Example:
        >>> pad([[5, 6, 7], [8]], pad_id=0)
        ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
    """
    if width is None:
        width = max((len(row) for row in rows), default=0)
    padded, masks = [], []
    for row in rows:
        extra = max(width - len(row), 0)
        filler, ones, zeros = [pad_id] * extra, [1] * len(row), [0] * extra
        if side == "right":
            padded.append([*row, *filler])
            masks.append(ones + zeros)
        else:
            padded.append([*filler, *row])
            masks.append(zeros + ones)
    return padded, masks


def pad_example(encoded, max_length, strategy, pad_id, side, pad_to_multiple_of=None, return_attention_mask=True):
    """Pads one encoding (``{field: list}``) in place, as the reference's ``_pad``.

    Args:
        encoded: the fields of one example: ``input_ids`` and optionally ``attention_mask``,
            ``token_type_ids`` (padded with 0) and ``special_tokens_mask`` (padded with 1).
        max_length: the length of "max_length" padding.
        strategy: "longest" (the example's own length: nothing to add), "max_length" or "do_not_pad".
        pad_id: the id that pads ``input_ids``.
        side: "right" or "left".
        pad_to_multiple_of: round the length up to a multiple of this.
        return_attention_mask: add ``attention_mask`` (ones) when missing.

    Returns:
        ``encoded``.
    """
    required = encoded["input_ids"]
    if strategy == "longest":
        max_length = len(required)
    if max_length is not None and pad_to_multiple_of and max_length % pad_to_multiple_of:
        max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
    if return_attention_mask and "attention_mask" not in encoded:
        encoded["attention_mask"] = [1] * len(required)
    if strategy == "do_not_pad" or len(required) == max_length:
        return encoded
    check_side(side, "padding_side")
    fillers = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0, "special_tokens_mask": 1}
    extra = max(max_length - len(required), 0)
    for key, filler in fillers.items():
        if key in encoded and (key != "attention_mask" or return_attention_mask):
            padding = [filler] * extra
            encoded[key] = [*encoded[key], *padding] if side == "right" else [*padding, *encoded[key]]
    return encoded


def as_tensors(output, kind):
    """The values of ``output`` (lists of ids) as int32 numpy arrays (``kind="np"``) or tensors ("tf")."""
    import numpy as np

    arrays = {key: np.asarray(value, dtype=np.int32) for key, value in output.items()}
    if kind == "tf":
        import tensorflow as tf

        return {key: tf.constant(array) for key, array in arrays.items()}
    return arrays


def multiple_choice_inputs(context, endings, context_truncation_side):
    """Checks ``encode_multiple_choice``'s inputs.

    Returns:
        ``(contexts, endings_per_context, batched)``: one context (a str) gives
        ``([context], [endings], False)``.
    """
    if context_truncation_side not in ("left", "right"):
        raise ValueError(f"context_truncation_side must be 'left' or 'right'; got {context_truncation_side!r}")
    contexts, batched = check_texts(context, "context")
    if not batched:
        return contexts, [check_texts(endings, "endings")[0]], False
    if not isinstance(endings, (list, tuple)) or len(endings) != len(contexts):
        raise ValueError(f"endings must hold one list of endings per context ({len(contexts)})")
    return contexts, [check_texts(item, "endings[i]")[0] for item in endings], True


def multiple_choice_row(context_ids, ending_ids, markers, max_length=None, context_truncation_side="left"):
    """One choice in the paper's layout ``_start_ context _delimiter_ ending _classify_``.

    Args:
        context_ids, ending_ids: lists of ids.
        markers: the ids of ``(_start_, _delimiter_, _classify_)``.
        max_length: the longest allowed row; a longer one loses context tokens (never ending tokens).
        context_truncation_side: "left" keeps the end of the context (next to the ending), "right"
            keeps its start (as the original release's code did).

    Returns:
        list of int.
    """
    start, delimiter, classify = markers
    room = None if max_length is None else max_length - 3 - len(ending_ids)
    if room is not None and room < 0:
        raise ValueError(
            f"an ending of {len(ending_ids)} tokens does not fit in max_length={max_length} "
            "with the three markers; endings are never truncated"
        )
    kept = context_ids
    if room is not None and len(context_ids) > room:
        cut = len(context_ids) - room
        kept = context_ids[cut:] if context_truncation_side == "left" else context_ids[:room]
    return [start, *kept, delimiter, *ending_ids, classify]


def multiple_choice_batch(examples, pad_id, return_tensors=None):
    """Pads the choices of every example on the right to the longest row of all.

    Args:
        examples: per example, its rows (one per choice, from ``multiple_choice_row``).
        pad_id: the id of padding.
        return_tensors: None (lists), "np" or "tf".

    Returns:
        dict with ``input_ids`` [examples, choices, seq], ``mc_token_ids`` (the position of each row's
        ``_classify_``, its last id) [examples, choices] and ``attention_mask`` [examples, choices, seq].
    """
    rows = [row for choices in examples for row in choices]
    input_ids, attention_mask = pad(rows, pad_id)
    flat = {"input_ids": input_ids, "mc_token_ids": [len(row) - 1 for row in rows], "attention_mask": attention_mask}
    output = {}
    for key, values in flat.items():
        values = iter(values)
        output[key] = [[next(values) for _ in choices] for choices in examples]
    return output if return_tensors is None else as_tensors(output, return_tensors)
