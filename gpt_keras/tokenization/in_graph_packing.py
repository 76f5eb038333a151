"""Ragged token ids to model inputs in TensorFlow ops: truncation, padding with attention masks, and the
paper's multiple-choice layout ``_start_ context _delimiter_ ending _classify_`` (as ``packing`` does in
Python)."""
import tensorflow as tf

SIDES = ("right", "left")


def check_side(side, name):
    """Raises ValueError unless ``side`` is "right" or "left" (``name`` is the argument)."""
    if side not in SIDES:
        raise ValueError(f"{name} must be 'right' or 'left'; got {side!r}")
    return side


def shifted(values, first):
    """``values`` moved one place on: ``first``, then all but the last (empty stays empty)."""
    return tf.concat([[first], values], 0)[:-1]


def row_starts(rows):
    """[n] bool: whether each element of a flat ragged tensor (its row ids ``rows``) starts its row."""
    return rows != shifted(rows, -1)


def positions(ids):
    """[batch, None] int64: each element's position in its row."""
    starts = tf.gather(ids.row_starts(), ids.value_rowids())
    return ids.with_flat_values(tf.range(tf.size(ids.flat_values, out_type=tf.int64)) - starts)


def keep_positions(ids, start, stop):
    """The elements of each row of ``ids`` at positions [start, stop) (per-row int64 tensors)."""
    where = positions(ids)
    rows = ids.value_rowids()
    kept = (where.flat_values >= tf.gather(start, rows)) & (where.flat_values < tf.gather(stop, rows))
    return tf.RaggedTensor.from_value_rowids(ids.flat_values[kept], rows[kept], ids.nrows(), validate=False)


def truncate(ids, max_length, side="right"):
    """Each row of ``ids`` cut to ``max_length`` elements, removed on the right (its first ones are
    kept) or on the left (its last ones are kept)."""
    lengths = ids.row_lengths()
    if side == "right":
        return keep_positions(ids, tf.zeros_like(lengths), tf.minimum(lengths, max_length))
    return keep_positions(ids, tf.maximum(lengths - max_length, 0), lengths)


def pad(ids, pad_id, width=None, side="right"):
    """Pads the rows of ``ids`` to ``width`` (an int; default the longest row) with ``pad_id``.

    Returns:
        ``(input_ids, attention_mask)``: int32 [batch, width]; the mask is 1 on ids and 0 on padding.
    """
    dense = tf.cast(ids.to_tensor(pad_id, shape=None if width is None else [None, width]), tf.int32)
    width = tf.shape(dense, out_type=tf.int64)[1]
    lengths = tf.minimum(ids.row_lengths(), width)
    mask = tf.sequence_mask(lengths, width, tf.int32)
    if side == "left":
        # Rows padded on the right, turned round by their padding: the padding comes first.
        columns = (tf.range(width)[None, :] - (width - lengths)[:, None]) % tf.maximum(width, 1)
        dense, mask = tf.gather(dense, columns, batch_dims=1), tf.gather(mask, columns, batch_dims=1)
    return dense, mask


def multiple_choice(context_ids, ending_ids, markers, pad_id, max_length=None, context_truncation_side="left"):
    """The paper's rows for each (context, ending) pair, padded on the right to the longest row.

    Args:
        context_ids: [batch, None] ids of the contexts.
        ending_ids: [batch, choices, None] ids of the endings.
        markers: the ids of ``(_start_, _delimiter_, _classify_)``.
        pad_id: the id of padding (masked).
        max_length: the longest row allowed: longer rows lose context tokens ("left" keeps the end of the
            context, "right" its start); an ending that does not fit with the three markers is an error.
        context_truncation_side: "left" or "right".

    Returns:
        dict with int32 ``input_ids`` and ``attention_mask`` [batch, choices, seq] and ``mc_token_ids``
        [batch, choices] (the position of each row's ``_classify_``).
    """
    choices = ending_ids.row_lengths()
    endings = ending_ids.values  # [batch * choices, None]
    contexts = tf.gather(context_ids, ending_ids.value_rowids())
    checks = []
    if max_length is not None:
        room = max_length - 3 - endings.row_lengths()
        checks.append(
            tf.debugging.assert_non_negative(
                room,
                message=f"an ending does not fit in max_length={max_length} with the three markers "
                "(endings are never truncated)",
            )
        )
        contexts = truncate(contexts, tf.maximum(room, 0), context_truncation_side)
    column = tf.ones([endings.nrows(), 1], ending_ids.dtype)
    start, delimiter, classify = (tf.RaggedTensor.from_tensor(column * marker) for marker in markers)
    rows = tf.concat([start, contexts, delimiter, endings, classify], axis=1)
    with tf.control_dependencies(checks):
        input_ids, attention_mask = pad(rows, pad_id)
    mc_token_ids = tf.cast(rows.row_lengths() - 1, tf.int32)
    return {
        "input_ids": tf.RaggedTensor.from_row_lengths(input_ids, choices).to_tensor(pad_id),
        "mc_token_ids": tf.RaggedTensor.from_row_lengths(mc_token_ids, choices).to_tensor(0),
        "attention_mask": tf.RaggedTensor.from_row_lengths(attention_mask, choices).to_tensor(0),
    }
