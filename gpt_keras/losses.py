"""The reference's losses, with static shapes so that they compile under `jit_compile=True`.

Every loss is computed in float32 whatever the compute dtype, and `-100` labels are ignored, as in
PyTorch's `CrossEntropyLoss`. A mean over zero counted items is NaN, as in the reference.
"""
import tensorflow as tf
from keras import ops

IGNORE_INDEX = -100


def sparse_cross_entropy(logits, labels, ignore_index=IGNORE_INDEX):
    """Mean cross-entropy of integer `labels` (any shape) against `logits` (labels' shape + classes).

    Labels equal to `ignore_index` count neither in the sum nor in the mean.
    """
    labels, counted = counted_targets(labels, ignore_index)
    # The fused kernel's gradient is softmax - one_hot, written in one pass; picking log-probabilities
    # with a gather would scatter its gradient into a dense (tokens x vocabulary) buffer instead.
    # Flattened to (items, classes) first: for other ranks with unknown sizes the op adds a shape
    # Assert, which XLA drops with a warning at every compile (the flattening shapes agree by design).
    classes = ops.shape(logits)[-1]
    per_item = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=ops.reshape(labels, (-1,)), logits=ops.reshape(ops.cast(logits, "float32"), (-1, classes))
    )
    return ops.sum(per_item * ops.reshape(counted, (-1,))) / ops.sum(counted)


def causal_lm_loss(logits, labels):
    """Next-token loss: position t predicts label t + 1 (labels are the inputs, shifted inside).

    The labels move one step left and the last position gets `ignore_index`, which counts the same
    tokens as slicing the logits would, without copying (tokens x vocabulary) logits and gradients.
    """
    return sparse_cross_entropy(logits, next_token_labels(labels))


def next_token_labels(labels):
    """`labels` moved one step left, `ignore_index` in the last slot: what position t is scored on."""
    labels = ops.cast(labels, "int32")
    ignored = ops.full_like(labels[..., :1], IGNORE_INDEX)
    return ops.concatenate([labels[..., 1:], ignored], axis=-1)


def counted_targets(labels, ignore_index=IGNORE_INDEX):
    """(labels with `ignore_index` replaced by 0, float32 weights that are 0 there and 1 elsewhere)."""
    labels = ops.cast(labels, "int32")
    counted = ops.not_equal(labels, ignore_index)
    return ops.where(counted, labels, 0), ops.cast(counted, "float32")


def regression_loss(predictions, targets):
    """Mean squared error, as `MSELoss` (single outputs are squeezed like the reference does)."""
    predictions = ops.cast(predictions, "float32")
    targets = ops.cast(targets, "float32")
    if predictions.shape[-1] == 1:
        predictions = ops.squeeze(predictions, -1)
        targets = ops.reshape(targets, ops.shape(predictions))
    return ops.mean(ops.square(predictions - targets))


def multi_label_loss(logits, targets):
    """Mean binary cross-entropy on logits, as `BCEWithLogitsLoss`."""
    logits = ops.cast(logits, "float32")
    targets = ops.cast(targets, "float32")
    # max(x, 0) - x * z + log(1 + exp(-|x|)): stable for large |x|.
    losses = ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.mean(losses)
