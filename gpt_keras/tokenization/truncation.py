"""Padding and truncation strategies, resolved and applied exactly as the reference's python tokenizer does.

Truncation strategies (``truncation=``): True or "longest_first" removes tokens one at a time from the
longer sequence of a pair (from the first when they are as long); "only_first" / "only_second" remove
them from that sequence only; False, None or "do_not_truncate" keep everything. Any other name is an
error. ``max_length`` alone (no padding, no truncation given) truncates "longest_first" with a warning,
as the reference does. The side tokens come off is the tokenizer's ``truncation_side``.
"""
import logging
import warnings

logger = logging.getLogger("gpt_keras.tokenizer")

# In the order _strategy reads them: what True means first, what False means last.
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
SIDES = ("right", "left")
# The reference's "no limit" model_max_length is int(1e30); above LARGE a length counts as no limit.
LARGE = int(1e20)


def warn_once(tokenizer, key, message):
    """Logs ``message`` once per tokenizer (``tokenizer.deprecation_warnings`` remembers, as the reference's)."""
    if not tokenizer.deprecation_warnings.get(key, False):
        logger.warning(message)
    tokenizer.deprecation_warnings[key] = True


def check_side(side, argument):
    """Raises ValueError unless ``side`` is "right" or "left"; ``argument`` names it in the message."""
    if side not in SIDES:
        raise ValueError(f"{argument} must be 'right' or 'left'; got {side!r}")


def _strategy(value, argument, names):
    """The strategy name a ``padding=`` / ``truncation=`` value means: True is the first of ``names``,
    False and None the last; anything but those names is a ValueError naming ``argument``."""
    if value is True:
        return names[0]
    if value is False or value is None:
        return names[-1]
    if value not in names:
        raise ValueError(f"{argument} must be True, False or one of {list(names)}; got {value!r}")
    return value


def as_padding_strategy(padding):
    """"longest", "max_length" or "do_not_pad" for a ``padding=`` value (True is "longest")."""
    return _strategy(padding, "padding", PADDING_STRATEGIES)


def as_truncation_strategy(truncation):
    """One of ``TRUNCATION_STRATEGIES`` for a ``truncation=`` value (True is "longest_first")."""
    return _strategy(truncation, "truncation", TRUNCATION_STRATEGIES)


def resolve(tokenizer, padding=False, truncation=None, max_length=None, pad_to_multiple_of=None, verbose=True):
    """The reference's ``_get_padding_truncation_strategies``.

    Returns:
        ``(padding_strategy, truncation_strategy, max_length)``; ``max_length`` defaults to the
        tokenizer's ``model_max_length`` when a strategy needs one.

    Raises:
        ValueError: for an unknown strategy, for padding without a pad token, and for a truncation length
            that is not a multiple of ``pad_to_multiple_of``.
    """
    if max_length is not None and padding is False and truncation is None:
        if verbose:
            warn_once(
                tokenizer,
                "Truncation-not-explicitly-activated",
                "Truncation was not explicitly activated but `max_length` is provided a specific value, please use "
                "`truncation=True` to explicitly truncate examples to max length. Defaulting to 'longest_first' "
                "truncation strategy. If you encode pairs of sequences (GLUE-style) with the tokenizer you can "
                "select this strategy more precisely by providing a specific strategy to `truncation`.",
            )
        truncation = "longest_first"
    if padding is True and verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
        warnings.warn(
            "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
            "To pad to max length, use `padding='max_length'`.",
            stacklevel=3,
        )
    pad, cut = as_padding_strategy(padding), as_truncation_strategy(truncation)
    limited = tokenizer.model_max_length <= LARGE
    if max_length is None and pad == "max_length":
        if limited:
            max_length = tokenizer.model_max_length
        else:
            if verbose:
                warn_once(tokenizer, "Asking-to-pad-to-max_length", "Asking to pad to max_length but no maximum length "
                          "is provided and the model has no predefined maximum length. Default to no padding.")
            pad = "do_not_pad"
    if max_length is None and cut != "do_not_truncate":
        if limited:
            max_length = tokenizer.model_max_length
        else:
            if verbose:
                warn_once(tokenizer, "Asking-to-truncate-to-max_length", "Asking to truncate to max_length but no "
                          "maximum length is provided and the model has no predefined maximum length. Default to no "
                          "truncation.")
            cut = "do_not_truncate"
    if pad != "do_not_pad" and (tokenizer.pad_token is None or tokenizer.pad_token_id is None or tokenizer.pad_token_id < 0):
        raise ValueError(
            "Asking to pad but the tokenizer does not have a pad token. For a model as released, name a token it "
            "knows: `tokenizer.pad_token = tokenizer.unk_token` (padding is masked, never read); a new token "
            "(`tokenizer.add_special_tokens({'pad_token': '<pad>'})` or `tokenizer.add_paper_special_tokens()`) "
            "needs `model.resize_token_embeddings(len(tokenizer))`."
        )
    if cut != "do_not_truncate" and pad != "do_not_pad" and pad_to_multiple_of and max_length is not None:
        if max_length % pad_to_multiple_of:
            raise ValueError(
                "Truncation and padding are both activated but truncation length "
                f"({max_length}) is not a multiple of pad_to_multiple_of ({pad_to_multiple_of})."
            )
    return pad, cut, max_length


def _cut(ids, count, window, side):
    """``(kept, overflowing)`` after removing ``count`` tokens from ``side``; the overflowing part holds
    ``window`` tokens (the removed ones and the stride before them)."""
    if side == "left":
        return ids[count:], ids[:window]
    return ids[: len(ids) - count], ids[len(ids) - window :]


def truncate_sequences(ids, pair_ids=None, num_tokens_to_remove=0, truncation_strategy="longest_first", stride=0, side="right"):
    """Removes ``num_tokens_to_remove`` tokens as the reference's ``truncate_sequences`` does.

    Args:
        ids: list of int.
        pair_ids: list of int, or None.
        num_tokens_to_remove: how many tokens to remove in all.
        truncation_strategy: one of ``TRUNCATION_STRATEGIES`` (or True/False).
        stride: how many kept tokens the overflowing tokens repeat before the removed ones.
        side: "right" or "left" (the tokenizer's ``truncation_side``).

    Returns:
        ``(ids, pair_ids, overflowing_tokens)``. When the sequence to cut is too short, nothing is cut and
        an error is logged (as the reference does); "longest_first" on a pair returns no overflowing tokens.

    Example:
        >>> truncate_sequences([1, 2, 3], [4, 5, 6], 2, "only_second")
        ([1, 2, 3], [4], [5, 6])
    """
    strategy = as_truncation_strategy(truncation_strategy)
    check_side(side, "truncation_side")
    if num_tokens_to_remove <= 0:
        return ids, pair_ids, []
    overflowing = []
    if strategy == "only_first" or (strategy == "longest_first" and pair_ids is None):
        if len(ids) > num_tokens_to_remove:
            ids, overflowing = _cut(ids, num_tokens_to_remove, min(len(ids), stride + num_tokens_to_remove), side)
        else:
            message = (f"We need to remove {num_tokens_to_remove} to truncate the input but the first sequence has "
                       f"a length {len(ids)}. ")
            if strategy == "only_first":
                message += ("Please select another truncation strategy than only_first, for instance "
                            "'longest_first' or 'only_second'.")
            logger.error(message)
    elif strategy == "longest_first":
        logger.warning(
            "Be aware, overflowing tokens are not returned for the setting you have chosen, i.e. sequence pairs "
            "with the 'longest_first' truncation strategy. So the returned list will always be empty even if "
            "some tokens have been removed."
        )
        from_longer = min(abs(len(pair_ids) - len(ids)), num_tokens_to_remove)
        rest = num_tokens_to_remove - from_longer
        if len(ids) > len(pair_ids):
            cut_first, cut_second = from_longer + rest // 2, rest - rest // 2
        else:
            cut_first, cut_second = rest // 2, from_longer + rest - rest // 2
        ids = _cut(ids, cut_first, 0, side)[0]
        pair_ids = _cut(pair_ids, cut_second, 0, side)[0]
    elif strategy == "only_second" and pair_ids is not None:
        if len(pair_ids) > num_tokens_to_remove:
            window = min(len(pair_ids), stride + num_tokens_to_remove)
            pair_ids, overflowing = _cut(pair_ids, num_tokens_to_remove, window, side)
        else:
            logger.error(
                f"We need to remove {num_tokens_to_remove} to truncate the input but the second sequence has a "
                f"length {len(pair_ids)}. Please select another truncation strategy than only_second, for instance "
                "'longest_first' or 'only_first'."
            )
    return ids, pair_ids, overflowing
