"""Evaluation helpers: perplexity on held-out text, multiple-choice and classification accuracy.

Each takes a model and its data as features (a dict of arrays from `gpt_keras.data`) or a
`tf.data.Dataset` of such dicts, runs the model in inference mode (no dropout) batch by batch, and
sums over examples or tokens, so the result does not depend on the batch size.

Example:
    >>> held_out = data.causal_lm_features(tokenizer, block_size=128, files="valid.txt")  # doctest: +SKIP
    >>> perplexity(model, held_out)["perplexity"]  # doctest: +SKIP
"""
import math

import numpy as np
import tensorflow as tf

from gpt_keras.data import to_dataset
from gpt_keras.losses import counted_targets, next_token_labels


def _batches(data, batch_size):
    if isinstance(data, tf.data.Dataset):
        return data
    return to_dataset(data, batch_size)


def _model_inputs(batch, labels):
    return {name: value for name, value in batch.items() if name not in labels}


def _require(batch, names, what):
    missing = [name for name in names if name not in batch]
    if missing:
        raise ValueError(f"{what} needs {missing} in the data; it has {sorted(batch)}")


@tf.function(reduce_retracing=True)
def _token_nll(logits, labels):
    """Summed next-token negative log-likelihood and the number of counted tokens."""
    # The loss's own shift: the last position has no next token and is not counted.
    labels, counted = counted_targets(next_token_labels(labels))
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    counted = tf.cast(counted, tf.float64)
    return tf.reduce_sum(tf.cast(nll, tf.float64) * counted), tf.reduce_sum(counted)


def perplexity(model, data, batch_size=8):
    """Perplexity of a causal LM on held-out data: exp of the mean next-token loss over all tokens.

    Args:
        model: A `TFOpenAIGPTLMHeadModel` (or the double-heads model, whose LM head is scored).
        data: Features with `input_ids` and `labels` (-100 where not scored), e.g. from
            `data.causal_lm_features`, or a dataset of such batches.
        batch_size: Batch size when `data` is features.

    Returns:
        A dict: `perplexity`, `loss` (mean negative log-likelihood per token, nats) and `tokens`
        (how many were scored).
    """
    total, tokens = 0.0, 0.0
    for batch in _batches(data, batch_size):
        _require(batch, ("input_ids", "labels"), "perplexity")
        logits = model(_model_inputs(batch, ("labels", "mc_labels")), training=False)["logits"]
        nll, count = _token_nll(logits, batch["labels"])
        total += float(nll)
        tokens += float(count)
    if tokens == 0:
        raise ValueError("perplexity: no scored tokens in the data (every label is -100)")
    loss = total / tokens
    return {"perplexity": math.exp(loss), "loss": loss, "tokens": int(tokens)}


def _accuracy(model, data, batch_size, logits_key, labels_key, what):
    correct, count = 0, 0
    for batch in _batches(data, batch_size):
        _require(batch, ("input_ids", labels_key), what)
        logits = model(_model_inputs(batch, ("labels", "mc_labels")), training=False)[logits_key]
        predictions = np.argmax(np.asarray(logits), axis=-1)
        labels = np.asarray(batch[labels_key])
        correct += int((predictions == labels).sum())
        count += len(labels)
    if count == 0:
        raise ValueError(f"{what}: the data holds no examples")
    return {"accuracy": correct / count, "correct": correct, "examples": count}


def multiple_choice_accuracy(model, data, batch_size=8):
    """Share of examples whose highest-scoring choice is the right one.

    Args:
        model: A `TFOpenAIGPTDoubleHeadsModel`.
        data: Features from `data.multiple_choice_features` (with `mc_labels`), or a dataset of them.
        batch_size: Batch size when `data` is features.

    Returns:
        A dict: `accuracy`, `correct`, `examples`.
    """
    return _accuracy(model, data, batch_size, "mc_logits", "mc_labels", "multiple_choice_accuracy")


def classification_accuracy(model, data, batch_size=8):
    """Share of examples classified right (argmax of the logits).

    Args:
        model: A `TFOpenAIGPTForSequenceClassification` (single-label).
        data: Features from `data.classification_features` (with `labels`), or a dataset of them.
        batch_size: Batch size when `data` is features.

    Returns:
        A dict: `accuracy`, `correct`, `examples`.
    """
    return _accuracy(model, data, batch_size, "logits", "labels", "classification_accuracy")
