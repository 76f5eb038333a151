"""Checks of what callers pass the tokenizer: texts, batches of texts and token ids."""


class TextInputError(TypeError, ValueError):
    """Input of the wrong kind for the tokenizer: a TypeError, and a ValueError as the reference raises."""


def check_text(value, name):
    """Raises TypeError unless ``value`` is a str; ``name`` is the argument named in the message."""
    if not isinstance(value, str):
        raise TextInputError(f"{name} must be a str; got {type(value).__name__}")


def check_texts(value, name):
    """A str or a list/tuple of str, as a list.

    Args:
        value: what the caller passed.
        name: the argument named in the error message.

    Returns:
        ``(list of str, was_batched)``: one str gives ``([value], False)``.
    """
    if isinstance(value, str):
        return [value], False
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value), True
    got = type(value).__name__
    if isinstance(value, (list, tuple)):
        got = f"a {got} holding {type(next(v for v in value if not isinstance(v, str))).__name__}"
    raise TextInputError(f"{name} must be a str or a list of str; got {got}")


def to_id_list(ids, name="token_ids"):
    """An int, a sequence of int, a numpy array or a tensor of ids, as a list of int.

    Args:
        ids: the ids.
        name: the argument named in the error message.

    Returns:
        list of int.
    """
    if hasattr(ids, "numpy"):
        ids = ids.numpy()
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int) and not isinstance(ids, bool):
        return [ids]
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TypeError(f"{name} must be an int or a sequence of int; got {type(ids).__name__}")
    return list(ids)
