"""Logits processors and warpers: pure functions of (rows, vocab) scores, in the reference's rules.

`process_scores` applies the ones fixed in a program (repetition penalty, no-repeat n-grams, bad
words) and the minimum length (a runtime tensor) in the reference's order; `warp_scores` the sampling
ones (temperature, top-k, top-p), whose settings are runtime tensors. Filtered entries become -inf.
Padding never counts as a repeated token, n-gram or bad-word prefix: `history` holds each row's real
tokens first, `lengths` how many.
"""
import math

import numpy as np
import tensorflow as tf


def is_eos(tokens, eos_token_ids):
    """Which entries of `tokens` are one of the `eos_token_ids` (a tuple of ints, possibly empty)."""
    hits = tf.zeros_like(tokens, tf.bool)
    for eos in eos_token_ids:
        hits |= tokens == eos
    return hits


def token_mask(tokens, valid, vocab_size):
    """(rows, vocab) bool: which vocabulary ids occur among `tokens` where `valid`."""
    rows, width = tf.shape(tokens)[0], tf.shape(tokens)[1]
    row_ids = tf.broadcast_to(tf.range(rows)[:, None], (rows, width))
    indices = tf.stack([row_ids, tokens], axis=-1)
    hits = tf.tensor_scatter_nd_max(tf.zeros((rows, vocab_size), tf.int32), indices, tf.cast(valid, tf.int32))
    return hits > 0


def banned_ngram_tokens(history, lengths, ngram_size, vocab_size):
    """(rows, vocab) bool: tokens that would complete an n-gram already present in `history`."""
    width = history.shape[1]
    starts = width - ngram_size + 1
    last = tf.gather(history, tf.maximum(lengths[:, None] - ngram_size + 1 + tf.range(ngram_size - 1), 0), batch_dims=1)
    matches = tf.ones_like(history[:, :starts], tf.bool)
    for i in range(ngram_size - 1):
        matches &= history[:, i : i + starts] == last[:, i : i + 1]
    matches &= tf.range(starts)[None, :] + ngram_size - 1 < lengths[:, None]
    return token_mask(history[:, ngram_size - 1 :], matches, vocab_size)


def penalize_repetitions(scores, history, lengths, penalty):
    """Scores of tokens already in `history` divided by `penalty` (multiplied where negative)."""
    valid = tf.range(history.shape[1])[None, :] < lengths[:, None]
    seen = token_mask(history, valid, scores.shape[-1])
    penalized = tf.where(scores < 0, scores * penalty, scores / penalty)
    return tf.where(seen, penalized, scores)


def ban_repeated_ngrams(scores, history, lengths, ngram_size):
    """Scores of tokens that would repeat an n-gram of `history` set to -inf."""
    banned = banned_ngram_tokens(history, lengths, ngram_size, scores.shape[-1])
    return tf.where(banned, -math.inf, scores)


def banned_bad_word_tokens(history, lengths, bad_words_ids, vocab_size):
    """(rows, vocab) bool: the last token of every bad word whose other tokens end a row's `history`
    (every token of a one-token bad word). Words are grouped by length: one comparison per length."""
    always = np.zeros(vocab_size, bool)
    always[[word[0] for word in bad_words_ids if len(word) == 1]] = True
    banned = tf.broadcast_to(tf.constant(always)[None], (tf.shape(lengths)[0], vocab_size))
    for size in sorted({len(word) for word in bad_words_ids if len(word) > 1}):
        words = [word for word in bad_words_ids if len(word) == size]
        if size - 1 > history.shape[1]:
            continue
        prefixes = tf.constant([word[:-1] for word in words], tf.int32)  # (words, size - 1)
        # Each row's last size - 1 real tokens (rows shorter than that match nothing).
        last = tf.gather(history, tf.maximum(lengths[:, None] - size + 1 + tf.range(size - 1), 0), batch_dims=1)
        matches = tf.reduce_all(last[:, None, :] == prefixes[None], axis=-1) & (lengths >= size - 1)[:, None]
        last_tokens = tf.broadcast_to(tf.constant([word[-1] for word in words], tf.int32)[None], tf.shape(matches))
        banned |= token_mask(last_tokens, matches, vocab_size)
    return banned


def ban_bad_words(scores, history, lengths, bad_words_ids):
    """Scores of the tokens that would complete one of `bad_words_ids` set to -inf."""
    return tf.where(banned_bad_word_tokens(history, lengths, bad_words_ids, scores.shape[-1]), -math.inf, scores)


def ban_early_eos(scores, step, min_new_tokens, eos_token_ids):
    """EOS scores set to -inf while fewer than `min_new_tokens` tokens were generated (`step`)."""
    is_end = is_eos(tf.range(scores.shape[-1]), eos_token_ids)[None, :]
    return tf.where(is_end & (step < min_new_tokens), -math.inf, scores)


def remove_invalid_values(scores):
    """NaN scores set to 0, +inf to the largest finite float and -inf to the smallest (the reference's
    `InfNanRemoveLogitsProcessor`)."""
    limits = np.finfo(scores.dtype.as_numpy_dtype)
    scores = tf.where(tf.math.is_nan(scores), tf.zeros_like(scores), scores)
    scores = tf.where(scores == math.inf, tf.cast(limits.max, scores.dtype), scores)
    return tf.where(scores == -math.inf, tf.cast(limits.min, scores.dtype), scores)


def process_scores(scores, options, history=(), lengths=None, step=0, min_new_tokens=0):
    """Applies repetition penalty, no-repeat n-grams, bad words, the minimum length and the removal of
    invalid values, in the reference's order.

    Args:
        scores: (rows, vocab) float32 logits (log-probabilities in beam search).
        options: `DecodingOptions`.
        history: (rows, width) each row's real tokens so far, first (needed when
            `options.tracks_history`).
        lengths: (rows,) int32: real tokens per row of `history` (needed with bad words).
        step: Scalar: tokens generated so far.
        min_new_tokens: Scalar: EOS is banned while `step` is below it (a tensor in a program).

    Returns:
        The processed (rows, vocab) scores.
    """
    if options.tracks_history:
        if options.repetition_penalty != 1.0:
            scores = penalize_repetitions(scores, history, lengths, options.repetition_penalty)
        if 0 < options.no_repeat_ngram_size <= history.shape[1]:
            scores = ban_repeated_ngrams(scores, history, lengths, options.no_repeat_ngram_size)
    if options.bad_words_ids:
        scores = ban_bad_words(scores, history, lengths, options.bad_words_ids)
    if options.eos_token_ids:
        scores = ban_early_eos(scores, step, min_new_tokens, options.eos_token_ids)
    if options.remove_invalid_values:
        scores = remove_invalid_values(scores)
    return scores


def _divide_by_temperature(scores, temperature):
    """`scores / temperature`, whose limit as the temperature goes to 0 is greedy.

    Divided as they are, tiny temperatures (1e-38) overflow every positive logit to +inf (every
    negative one to -inf), and the tie goes to the lowest id; 1e-45, flushed to 0, gives NaN. A row
    where that happens is divided after shifting its best score to 0 instead: the best stays 0, the
    others go to -inf, as they do in the limit.
    """
    plain = scores / temperature
    finite = tf.math.is_finite(scores)
    best = tf.reduce_max(tf.where(finite, scores, -math.inf), axis=-1, keepdims=True)
    # Low scores that overflow to -inf are what the limit gives them (float32's minimum, which
    # remove_invalid_values writes, does so at any temperature below 1); a high one that overflows,
    # or a best one that does, is not.
    invalid = finite & (tf.math.is_nan(plain) | (plain == math.inf))
    best_lost = tf.math.is_finite(best) & ~tf.math.is_finite(best / temperature)
    overflowed = tf.reduce_any(invalid, axis=-1, keepdims=True) | best_lost
    shifted = scores - best
    return tf.where(overflowed, tf.where(shifted == 0.0, 0.0, shifted / temperature), plain)


def warp_scores(scores, temperature, top_k, top_p, min_tokens_to_keep=1):
    """Temperature, then top-k, then top-p (nucleus) filtering; filtered entries become -inf.

    Args:
        scores: (rows, vocab) float32.
        temperature: Scalar > 0.
        top_k: Scalar int; 0 keeps every token.
        top_p: Scalar in (0, 1]; 1 keeps every token.
        min_tokens_to_keep: Neither filter keeps fewer tokens than this.

    Returns:
        The warped (rows, vocab) scores.
    """
    vocab_size = scores.shape[-1]
    scores = _divide_by_temperature(scores, tf.cast(temperature, scores.dtype))
    ranked = tf.sort(scores, axis=-1, direction="DESCENDING")
    k = tf.clip_by_value(tf.maximum(tf.cast(top_k, tf.int32), min_tokens_to_keep), 1, vocab_size)
    kth = tf.where(top_k > 0, ranked[:, k - 1], -math.inf)[:, None]
    ranked = tf.where(ranked >= kth, ranked, -math.inf)
    # The reference removes the low tail whose (ascending) cumulative probability is <= 1 - top_p.
    tail_mass = tf.cumsum(tf.nn.softmax(ranked, axis=-1), axis=-1, reverse=True)
    top_p = tf.cast(top_p, scores.dtype)
    removed = (tail_mass <= 1.0 - top_p) & (tf.range(vocab_size)[None, :] >= min_tokens_to_keep)
    kept = vocab_size - tf.reduce_sum(tf.cast(removed, tf.int32), axis=-1)
    nucleus_floor = tf.gather(ranked, kept - 1, batch_dims=1)[:, None]
    floor = tf.where(top_p < 1.0, tf.maximum(kth, nucleus_floor), kth)
    return tf.where(scores >= floor, scores, -math.inf)
