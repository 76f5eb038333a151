"""Batches of token ids: truncation, padding with attention masks, tensors, and the paper's
multiple-choice layout ``_start_ context _delimiter_ ending _classify_``.

The one padding of the package: the tokenizer's ``__call__`` and ``encode_multiple_choice`` and the
features of ``gpt_keras.data`` all pad with ``pad``.
"""
from gpt_keras.tokenization.inputs import check_texts

PADDING_OPTIONS = (False, True, "longest", "max_length", "do_not_pad")


def check_batch_options(padding, padding_side, return_tensors):
    """Raises ValueError for a ``padding``, ``padding_side`` or ``return_tensors`` the tokenizer does not take."""
    if padding not in PADDING_OPTIONS:
        raise ValueError(f"padding must be False, True, 'longest' or 'max_length'; got {padding!r}")
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left'; got {padding_side!r}")
    if return_tensors not in (None, "np", "tf"):
        raise ValueError(f"return_tensors must be None, 'np' or 'tf'; got {return_tensors!r}")


def truncate_pair(ids, pair_ids, max_length):
    """Cuts ids (and pair ids) to ``max_length`` in all, as the reference's "longest_first".

    Args:
        ids: list of int.
        pair_ids: list of int, or None.
        max_length: the length of the result.

    Returns:
        ``(ids, pair_ids)``: for a pair, tokens come off the longer one until both are as long, then
        off both in turn.
    """
    if pair_ids is None:
        return ids[:max_length], None
    excess = len(ids) + len(pair_ids) - max_length
    if excess <= 0:
        return ids, pair_ids
    difference = abs(len(ids) - len(pair_ids))
    from_longer = min(excess, difference)
    rest = excess - from_longer
    if len(ids) > len(pair_ids):
        cut_first, cut_second = from_longer + rest // 2, rest - rest // 2
    else:
        cut_first, cut_second = rest // 2, from_longer + rest - rest // 2
    if cut_first > len(ids) or cut_second > len(pair_ids):
        raise ValueError(f"cannot truncate a pair of {len(ids)} + {len(pair_ids)} tokens to {max_length}")
    return ids[: len(ids) - cut_first], pair_ids[: len(pair_ids) - cut_second]


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


def as_tensors(output, kind):
    """The values of ``output`` (lists of ids) as int32 numpy arrays (``kind="np"``) or tensors ("tf")."""
    import numpy as np

    arrays = {key: np.asarray(value, dtype=np.int32) for key, value in output.items()}
    if kind == "tf":
        import tensorflow as tf

        return {key: tf.constant(array) for key, array in arrays.items()}
    return arrays


def batch(rows, padding, max_length, pad_id, padding_side="right", return_attention_mask=True, return_tensors=None, batched=True):
    """The tokenizer's output for rows of ids: ``input_ids`` (and ``attention_mask``), padded as asked.

    Args:
        rows: lists of ids, one per text (already truncated).
        padding: as ``OpenAIGPTTokenizer.__call__`` takes it.
        max_length: the width of ``padding="max_length"``.
        pad_id: the pad token's id, or None when the tokenizer has none (then padding is an error).
        padding_side, return_attention_mask, return_tensors: as ``__call__`` takes them.
        batched: False for one text: its lists (no batch axis) unless ``return_tensors`` is given.

    Returns:
        dict of lists, arrays or tensors.
    """
    masks = [[1] * len(row) for row in rows]
    if padding in (True, "longest", "max_length"):
        target = max_length if padding == "max_length" else max((len(row) for row in rows), default=0)
        if pad_id is None and any(len(row) < target for row in rows):
            raise ValueError(
                "padding needs a pad token: for a model as released, reuse a token it knows, e.g. "
                "tokenizer.add_special_tokens({'pad_token': '<unk>'}) (padding is masked, never read); a new "
                "token ('<pad>', or tokenizer.add_paper_special_tokens()) needs model.resize_token_embeddings"
            )
        rows, masks = pad(rows, pad_id, target, padding_side)
    output = {"input_ids": rows}
    if return_attention_mask:
        output["attention_mask"] = masks
    if return_tensors is not None:
        lengths = {len(row) for row in rows}
        if len(lengths) > 1:
            raise ValueError(
                f"return_tensors={return_tensors!r} needs equal lengths, got lengths {sorted(lengths)}; "
                "pass padding=True"
            )
        output = as_tensors(output, return_tensors)
    if not batched and return_tensors is None:
        # As the reference: one text gives lists, but tensors always keep the batch axis (1, seq).
        output = {key: value[0] for key, value in output.items()}
    return output


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
