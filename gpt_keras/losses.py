"""The reference's losses, with static shapes so that they compile under `jit_compile=True`.

Every loss is computed in float32 whatever the compute dtype, and `-100` labels are ignored, as in
PyTorch's `CrossEntropyLoss`. A mean over zero counted items is NaN, as in the reference. Each loss is a
scalar (shape `()`), the PyTorch model's mean: the reference TF port gives the LM loss shape `(1,)` and
the sequence classifier's one loss per example, but the same mean.

`sample_weight` weights items as Keras weights a compiled loss (reduction "sum_over_batch_size", with
the ignored labels masked): the loss is `sum(weight * loss * counted) / sum(counted)`, so weights of 1
give the unweighted loss and -100 labels stay out of both sums. Weights are one per example, (batch,)
or (batch, 1), spread over the example's tokens or choices, or of the labels' shape (one per label).
"""
import tensorflow as tf
from keras import ops

IGNORE_INDEX = -100


def sparse_cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, sample_weight=None):
    """Mean cross-entropy of integer `labels` (any shape) against `logits` (labels' shape + classes).

    Labels equal to `ignore_index` count neither in the sum nor in the mean; `sample_weight` (see the
    module's docstring) multiplies each item's loss.
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
    weights = counted if sample_weight is None else counted * broadcast_weights(sample_weight, counted)
    return ops.sum(per_item * ops.reshape(weights, (-1,))) / ops.sum(counted)


def causal_lm_loss(logits, labels, sample_weight=None):
    """Next-token loss: position t predicts label t + 1 (labels are the inputs, shifted inside).

    The labels move one step left and the last position gets `ignore_index`, which counts the same
    tokens as slicing the logits would, without copying (tokens x vocabulary) logits and gradients.
    Per-token `sample_weight` is laid out like `labels` (the weight of predicting `labels[..., t]`) and
    moves with them; per-example weights weight every token of their example.
    """
    return sparse_cross_entropy(logits, next_token_labels(labels), sample_weight=next_token_weights(sample_weight, labels))


def next_token_labels(labels):
    """`labels` moved one step left, `ignore_index` in the last slot: what position t is scored on."""
    labels = ops.cast(labels, "int32")
    ignored = ops.full_like(labels[..., :1], IGNORE_INDEX)
    return ops.concatenate([labels[..., 1:], ignored], axis=-1)


def next_token_weights(sample_weight, labels):
    """`sample_weight` spread over `labels` and moved one step left as `next_token_labels` moves the
    labels (0 in the last slot, which is ignored); None as it is."""
    if sample_weight is None:
        return None
    weights = broadcast_weights(sample_weight, labels)
    return ops.concatenate([weights[..., 1:], ops.zeros_like(weights[..., :1])], axis=-1)


def broadcast_weights(sample_weight, like):
    """`sample_weight`, one per example ((batch,) or (batch, 1)) or of `like`'s shape, as float32 of
    `like`'s shape. Static ranks are not needed: Keras may trace a step with weights of unknown rank.

    Raises:
        ValueError: Its shape is neither, where both shapes are known.
    """
    weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    like_shape = tuple(like.shape)
    if weights.shape.rank is not None and None not in tuple(weights.shape) + like_shape:
        given = tuple(weights.shape)
        if given not in (like_shape[:1], like_shape[:1] + (1,), like_shape):
            raise ValueError(
                f"sample_weight has shape {given}; expected one weight per example, {like_shape[:1]}, or one per"
                f" label, {like_shape}"
            )
    # (batch, 1) per example or (batch, items) per label, over the labels flattened to (batch, items).
    flat_like = ops.reshape(like, (ops.shape(like)[0], -1))
    weights = ops.broadcast_to(ops.reshape(weights, (ops.shape(like)[0], -1)), ops.shape(flat_like))
    return ops.reshape(weights, ops.shape(like))


def counted_targets(labels, ignore_index=IGNORE_INDEX):
    """(labels with `ignore_index` replaced by 0, float32 weights that are 0 there and 1 elsewhere)."""
    labels = ops.cast(labels, "int32")
    counted = ops.not_equal(labels, ignore_index)
    return ops.where(counted, labels, 0), ops.cast(counted, "float32")


def regression_loss(predictions, targets, sample_weight=None):
    """Mean squared error, as `MSELoss` (single outputs are squeezed like the reference does)."""
    predictions = ops.cast(predictions, "float32")
    targets = ops.cast(targets, "float32")
    if predictions.shape[-1] == 1:
        predictions = ops.squeeze(predictions, -1)
        targets = ops.reshape(targets, ops.shape(predictions))
    return _weighted_mean(ops.square(predictions - targets), sample_weight)


def multi_label_loss(logits, targets, sample_weight=None):
    """Mean binary cross-entropy on logits, as `BCEWithLogitsLoss`."""
    logits = ops.cast(logits, "float32")
    targets = ops.cast(targets, "float32")
    # max(x, 0) - x * z + log(1 + exp(-|x|)): stable for large |x|.
    losses = ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    return _weighted_mean(losses, sample_weight)


def _weighted_mean(values, sample_weight):
    if sample_weight is None:
        return ops.mean(values)
    return ops.mean(values * broadcast_weights(sample_weight, values))
