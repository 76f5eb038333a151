"""Integer inputs checked in their own dtype, before any cast: ids, labels and masks fail loudly.

Casting first would let values wrap: an int64 id 2**32 + 5 becomes 5 in int32 and gives exactly the
logits of id 5; a label 2**32 - 100 becomes the ignore index -100. So every check compares the values
as given (numpy compares Python ints exactly; tensors are widened to int64, which holds every integer
dtype but uint64, compared as it is) and only values that passed are cast to int32.

Where a check fails depends on where it runs: eagerly it raises ValueError at once; in a traced graph
an assertion raises InvalidArgumentError when the graph runs; an XLA program (`jit_compile=True`) drops
assertions (with a warning each), so there no assertion is built and bad values poison the outputs
with NaN instead (an id becomes -1, which `Embedding` and the fused cross-entropy turn into NaN; a bad
mask entry becomes NaN itself).
"""
import keras
import numpy as np
import tensorflow as tf
from keras import ops

# The id each bad value becomes in an XLA program: outside every table, and not the ignore index.
POISON_ID = -1
MASK_VALUES = "only 0 (padding) and 1 (real token)"


def in_xla_program():
    """Whether ops built now go into an XLA program, which drops assertions.

    True while a `tf.function(jit_compile=True)` (e.g. a `jit_compile=True` Keras train step) is
    traced, including inside its loops and branches.
    """
    # TensorFlow's own control flow asks this question the same way; it has no public function for it
    # (pinned by tests/test_hostile_calls.py).
    from tensorflow.python.ops import control_flow_util

    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def assertions_run():
    """Whether an assertion built now will run: in a traced graph that is not an XLA program."""
    return not tf.executing_eagerly() and not in_xla_program()


def integer_values(value, argument, *, allow_bool=False, allow_float=False):
    """`value` (a list, numpy array or tensor) in its own dtype, once that dtype is known to hold integers.

    Args:
        value: The input, or None.
        argument: Its name, for the messages.
        allow_bool: Booleans are accepted (masks), not refused (ids).
        allow_float: Floating-point values are accepted (masks, checked to be 0.0 or 1.0 by the caller).

    Returns:
        A numpy array (lists and tuples become one), or the tensor as given; None for None.

    Raises:
        TypeError: the values are not integers (booleans and floats are not ids).
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or np.isscalar(value):
        try:
            value = np.asarray(value)
        except ValueError:  # numpy refuses lists whose rows differ in length
            raise ValueError(
                f"{argument} is a ragged list (its rows differ in length): pad the rows to one length "
                "(and mark the padding 0 in attention_mask)"
            ) from None
        if value.size == 0:
            value = value.astype(np.int64)  # an empty list holds no floats: its emptiness is checked later
    if isinstance(value, np.ndarray) and value.dtype == object:
        # Python ints beyond int64, which np.asarray keeps as objects, are checked as they are.
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value.flat):
            return value
        name = "object"
    else:
        name = keras.backend.standardize_dtype(value.dtype)
    kind = "bool" if name == "bool" else "int" if "int" in name else "float" if "float" in name else name
    if kind not in ("int",) + (("bool",) if allow_bool else ()) + (("float",) if allow_float else ()):
        what = "a numpy array" if isinstance(value, np.ndarray) else "a tensor"
        expected = "integers" + (" (or 0/1 booleans or floats)" if allow_bool and allow_float else "")
        raise TypeError(f"{argument} must hold {expected}, got {what} of {name}")
    return value


def out_of_range(array, limit, ignore_index=None):
    """Which entries of an integer numpy `array` lie outside [0, limit) (`ignore_index` is allowed),
    compared exactly whatever the array's dtype."""
    bad = (array < 0) | (array >= limit)
    if ignore_index is not None:
        bad &= array != ignore_index
    return np.asarray(bad, bool)


def _is_eager(values):
    return isinstance(values, np.ndarray) or (tf.executing_eagerly() and not isinstance(values, keras.KerasTensor))


def _widened(values):
    """The values as int64 (exact for every integer dtype but uint64, which is kept)."""
    return values if keras.backend.standardize_dtype(values.dtype) == "uint64" else ops.cast(values, "int64")


def check_ids_in_range(ids, limit, argument, ignore_index=None):
    """`ids` (or class labels) as int32, once every value is known to lie in [0, limit).

    The values are checked as given, before the cast (see the module docstring for where a failure
    shows: ValueError eagerly, InvalidArgumentError in a graph, NaN under XLA).

    Args:
        ids: Integer list, array or tensor (booleans and floats are refused).
        limit: Values must be < limit (and >= 0): an int, or a scalar int tensor in a graph.
        argument: The argument's name, for the messages.
        ignore_index: A value also allowed (labels' -100), or None.

    Returns:
        The ids as an int32 tensor (in an XLA program, bad values replaced by `POISON_ID`).

    Raises:
        TypeError: the values are not integers.
        ValueError: eagerly, a value is out of range.
    """
    values = integer_values(ids, argument)
    if isinstance(values, keras.KerasTensor):
        return ops.cast(values, "int32")
    allowed = f"[0, {limit})" + ("" if ignore_index is None else f" or {ignore_index} (ignored)")
    if _is_eager(values):
        array = np.asarray(values)
        bad = array[out_of_range(array, limit, ignore_index)]
        if bad.size:
            raise ValueError(f"{argument} must be in {allowed}, got value(s) {sorted(set(bad.tolist()))[:8]}")
        return ops.cast(array.astype(np.int64) if array.dtype == object else array, "int32")
    wide = _widened(values)
    ignored = tf.zeros_like(wide, tf.bool)
    if ignore_index is not None and wide.dtype != tf.uint64:
        ignored = tf.equal(wide, ignore_index)
    non_negative = (wide >= 0) | ignored
    below = (wide < tf.cast(limit, wide.dtype)) | ignored
    if in_xla_program():
        return tf.where(non_negative & below, tf.cast(values, tf.int32), POISON_ID)
    checks = [
        tf.debugging.Assert(tf.reduce_all(non_negative), [f"{argument} must be >= 0 (allowed: {allowed})"]),
        tf.debugging.Assert(tf.reduce_all(below), [f"{argument} must be < {limit} (allowed: {allowed})"]),
    ]
    with tf.control_dependencies(checks):
        # An op made here, so that whatever reads the ids waits for the checks: a cast to the dtype the
        # values already have returns them unchanged, and the checks would then race the reader.
        return tf.identity(tf.cast(values, tf.int32))


def check_mask_values(mask, argument="attention_mask"):
    """`mask` as float32, once every value is known to be 0 or 1.

    Integer, boolean and floating-point masks are accepted, as the reference casts any mask to its
    float dtype; a float mask must hold exactly 0.0 and 1.0 too (a 0.5 would weigh a token by a factor
    the model never saw, and a 2 or -1 silently un-masks or over-masks it).

    Args:
        mask: List, array or tensor.
        argument: The argument's name, for the messages.

    Returns:
        A float32 tensor of 0.0 and 1.0 (in an XLA program, bad entries are NaN).

    Raises:
        TypeError: the values are neither numbers nor booleans.
        ValueError: eagerly, a value is neither 0 nor 1.
    """
    values = integer_values(mask, argument, allow_bool=True, allow_float=True)
    if isinstance(values, keras.KerasTensor):
        return ops.cast(values, "float32")
    if _is_eager(values):
        array = np.asarray(values)
        bad = array[~((array == 0) | (array == 1))]
        if bad.size:
            raise ValueError(f"{argument} must hold {MASK_VALUES}, got value(s) {sorted(set(bad.tolist()))[:8]}")
        return ops.cast(array, "float32")
    if values.dtype == tf.bool:
        return tf.cast(values, tf.float32)
    valid = tf.equal(values, tf.zeros((), values.dtype)) | tf.equal(values, tf.ones((), values.dtype))
    if in_xla_program():
        return tf.where(valid, tf.cast(values, tf.float32), float("nan"))
    check = tf.debugging.Assert(tf.reduce_all(valid), [f"{argument} must hold {MASK_VALUES}"])
    with tf.control_dependencies([check]):
        return tf.identity(tf.cast(values, tf.float32))  # an op made here (see `check_ids_in_range`)


def index_is_valid(index, limit):
    """Which entries of an integer tensor `index` lie in [0, limit) (`limit` an int or a scalar tensor),
    compared before any cast."""
    wide = _widened(ops.convert_to_tensor(index))
    return ops.logical_and(wide >= 0, wide < ops.cast(limit, wide.dtype))
