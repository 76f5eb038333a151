"""tf.data pipelines: features (dicts of arrays) batched into datasets for `fit`, `evaluate` and `predict`.

`to_dataset` batches (optionally shuffled anew each epoch); `epoch_stream` gives every epoch an order
that depends only on `(shuffle_seed, epoch)`, so that a resumed run sees the batches the first run did.

Example:
    >>> model.fit(to_dataset(features, batch_size=8, shuffle_seed=0), epochs=3)  # doctest: +SKIP
"""
import tensorflow as tf


def _check_features(features):
    if not isinstance(features, dict) or not features:
        raise TypeError(f"features must be a non-empty dict of arrays, got {type(features).__name__}")
    sizes = {name: len(value) for name, value in features.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"features must all have the same number of examples, got {sizes}")
    return next(iter(sizes.values()))


def to_dataset(features, batch_size, shuffle_seed=None, drop_remainder=False):
    """Batches features into a `tf.data.Dataset` of input dicts for `fit`, `evaluate` and `predict`.

    Args:
        features: A dict of arrays with the same first dimension (from the `*_features` functions).
        batch_size: Examples per batch (the global batch under `tf.distribute`).
        shuffle_seed: None to keep the order; an int to shuffle with that seed, anew each epoch
            (deterministic within a process; see `epoch_stream` for an order that survives restarts).
        drop_remainder: Drop the last, smaller batch (gives static shapes, e.g. for XLA and TPUs).

    Returns:
        A `tf.data.Dataset` of dicts of int32 tensors.
    """
    count = _check_features(features)
    dataset = tf.data.Dataset.from_tensor_slices(features)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(count, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(features, batch_size, drop_remainder=False):
    """Batches in one epoch of `features`: what `to_dataset` with the same arguments yields.

    Args:
        features: A dict of arrays.
        batch_size: Examples per batch.
        drop_remainder: Whether the last, smaller batch is dropped (False, as `to_dataset`).

    Returns:
        An int.
    """
    count = _check_features(features)
    return count // batch_size if drop_remainder else -(-count // batch_size)


def epoch_stream(features, batch_size, epochs, shuffle_seed=0, initial_epoch=0):
    """The batches of epochs `initial_epoch` .. `epochs - 1` in one dataset, each epoch in an order
    that depends only on `(shuffle_seed, epoch)`: a run restarted at epoch e sees the same batches as
    the first run did, which `training.ResumableCheckpoint` needs to resume exactly.

    Use with `fit(dataset, epochs=epochs, steps_per_epoch=steps, initial_epoch=initial_epoch)`.
    The last partial batch of each epoch is dropped.

    Args:
        features: A dict of arrays with the same first dimension.
        batch_size: Examples per batch.
        epochs: Total epochs of the run.
        shuffle_seed: Seed of the per-epoch permutations; None for the same order every epoch.
        initial_epoch: First epoch to produce.

    Returns:
        `(dataset, steps)`: the dataset and the number of batches per epoch.
    """
    count = _check_features(features)
    steps = count // batch_size
    if steps == 0:
        raise ValueError(f"{count} examples make no full batch of {batch_size}")
    tensors = {name: tf.constant(value) for name, value in features.items()}

    def batch_at(epoch, step):
        positions = tf.range(step * batch_size, (step + 1) * batch_size, dtype=tf.int64)
        if shuffle_seed is not None:
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), epoch])
            positions = tf.random.experimental.index_shuffle(positions, seed, count - 1)
        return {name: tf.gather(value, positions) for name, value in tensors.items()}

    epochs_dataset = tf.data.Dataset.range(initial_epoch, epochs)
    dataset = epochs_dataset.flat_map(
        lambda epoch: tf.data.Dataset.range(steps).map(lambda step: batch_at(epoch, step))
    )
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(max(epochs - initial_epoch, 0) * steps))
    return dataset.prefetch(tf.data.AUTOTUNE), steps
