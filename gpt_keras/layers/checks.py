"""`check_ids_in_range`: out-of-range ids and labels fail loudly, eagerly, in graphs and under XLA."""
import keras
import tensorflow as tf
from keras import ops


def check_ids_in_range(ids, limit, argument, ignore_index=None):
    """Makes out-of-range ids (or class labels) fail loudly wherever that is possible.

    Eagerly the ids are checked at once (ValueError); in a traced graph an assertion raises
    InvalidArgumentError when the graph runs. XLA drops assertions, so callers make bad values poison
    the output with NaN instead (`Embedding.call` for ids; the fused cross-entropy for labels).

    Args:
        ids: Integer tensor or array.
        limit: Values must be < limit (and >= 0).
        argument: The argument's name, for the messages.
        ignore_index: A value also allowed (labels' -100), or None.

    Returns:
        `ids`, in a graph behind the assertions.
    """
    allowed = f"[0, {limit})" + ("" if ignore_index is None else f" or {ignore_index} (ignored)")
    if tf.executing_eagerly() and not isinstance(ids, keras.KerasTensor):
        values = ops.convert_to_numpy(ids)
        bad = values[((values < 0) | (values >= limit)) & (values != ignore_index)]
        if bad.size:
            raise ValueError(f"{argument} must be in {allowed}, got value(s) {sorted(set(bad.tolist()))[:8]}")
        return ids
    ignored = tf.zeros_like(ids, tf.bool) if ignore_index is None else tf.equal(ids, ignore_index)
    checks = [
        tf.debugging.Assert(tf.reduce_all((ids >= 0) | ignored), [f"{argument} must be >= 0 (allowed: {allowed})"]),
        tf.debugging.Assert(
            tf.reduce_all((ids < tf.cast(limit, ids.dtype)) | ignored), [f"{argument} must be < {limit} (allowed: {allowed})"]
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(ids)
