"""``BatchEncoding``: the tokenizer's output, a dict of model inputs that also reads as attributes.

Like the reference's: ``enc["input_ids"]`` and ``enc.input_ids`` are the same; ``model(**enc)`` works;
``convert_to_tensors("np" | "tf")`` turns the lists into arrays (int64, as ``np.asarray`` makes them)
or tensors (int32, as ``tf.constant`` makes them). Only TensorFlow's and NumPy's kinds exist here.
"""
from collections import UserDict

TENSOR_TYPES = ("np", "tf")


def check_tensor_type(return_tensors):
    """Raises ValueError unless ``return_tensors`` is None, "np" or "tf" (naming the reference's other kinds)."""
    if return_tensors is not None and return_tensors not in TENSOR_TYPES:
        raise ValueError(
            f"return_tensors must be None, 'np' or 'tf'; got {return_tensors!r}"
            + (" (this package is Keras/TensorFlow: use 'tf' or 'np')" if return_tensors in ("pt", "jax", "mlx") else "")
        )


def _flat_length(value):
    if isinstance(value, (list, tuple)):
        return sum(_flat_length(item) for item in value)
    return 1


def _as_array(value, kind):
    import numpy as np

    empty = _flat_length(value) == 0
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        if len({len(row) for row in value}) > 1:
            raise ValueError("ragged rows")
    if kind == "tf":
        import tensorflow as tf

        return tf.constant(value, dtype=tf.int32 if empty else None)
    return np.asarray(value, dtype=np.int64 if empty else None)


def _is_tensor(value, kind):
    if kind == "tf":
        import tensorflow as tf

        return tf.is_tensor(value)
    import numpy as np

    return isinstance(value, np.ndarray)


class BatchEncoding(UserDict):
    """The output of the tokenizer's ``__call__``, ``encode_plus``, ``batch_encode_plus`` and ``pad``.

    Args:
        data: ``{name: values}`` (``input_ids``, ``attention_mask``, ...).
        tensor_type: None (keep lists), "np" or "tf".
        prepend_batch_axis: add a batch axis of one when converting (one text with ``return_tensors``).

    Example:
        >>> enc = tokenizer("Hello world", return_tensors="np")
        >>> enc.input_ids.shape
        (1, 2)
    """

    def __init__(self, data=None, tensor_type=None, prepend_batch_axis=False):
        super().__init__(data)
        self.convert_to_tensors(tensor_type, prepend_batch_axis=prepend_batch_axis)

    def __getattr__(self, name):
        if name == "data":
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {name!r}; it holds {sorted(self.data)}") from None

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.data[key]
        if isinstance(key, slice):
            return {name: value[key] for name, value in self.data.items()}
        raise KeyError(f"a BatchEncoding is indexed by a field name (str) or a slice of examples; got {key!r}")

    def __getstate__(self):
        return {"data": self.data}

    def __setstate__(self, state):
        self.data = state["data"]

    @property
    def encodings(self):
        """None: the fast tokenizers' per-token ``Encoding`` objects do not exist for this (python) tokenizer."""
        return None

    @property
    def is_fast(self):
        """False: this is the python tokenizer's output (no offsets or word ids)."""
        return False

    def _fast_only(self, name):
        raise ValueError(
            f"{name}() is not available from this python tokenizer (the reference has it only on its "
            "Rust-backed fast tokenizers)"
        )

    def sequence_ids(self, batch_index=0):
        """Not available: it needs a fast tokenizer's alignment (raises ValueError)."""
        self._fast_only("sequence_ids")

    def word_ids(self, batch_index=0):
        """Not available: it needs a fast tokenizer's alignment (raises ValueError)."""
        self._fast_only("word_ids")

    def tokens(self, batch_index=0):
        """Not available: it needs a fast tokenizer's alignment (raises ValueError)."""
        self._fast_only("tokens")

    def convert_to_tensors(self, tensor_type=None, prepend_batch_axis=False):
        """Turns every field into an array ("np") or a tensor ("tf"), in place.

        Args:
            tensor_type: None (nothing changes), "np" or "tf".
            prepend_batch_axis: wrap each field in a batch of one first.

        Returns:
            self.

        Raises:
            ValueError: when rows have different lengths (pad them: ``padding=True``).
        """
        check_tensor_type(tensor_type)
        if tensor_type is None:
            return self
        for key, value in self.data.items():
            if prepend_batch_axis:
                value = [value]
            if _is_tensor(value, tensor_type):
                continue
            try:
                self.data[key] = _as_array(value, tensor_type)
            except (ValueError, TypeError) as error:
                if key == "overflowing_tokens":
                    raise ValueError(
                        "cannot make one tensor of overflowing tokens of different lengths; "
                        "leave return_tensors unset to get them as lists"
                    ) from error
                lengths = sorted({len(row) for row in value}) if isinstance(value, (list, tuple)) else "?"
                raise ValueError(
                    f"return_tensors={tensor_type!r} needs rows of equal length, but `{key}` has rows of lengths "
                    f"{lengths}: activate padding with 'padding=True' (and 'truncation=True' for a cap)"
                ) from error
        return self
