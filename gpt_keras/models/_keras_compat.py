"""Every use of Keras' private API in gpt_keras, each behind one named function (or, for a method Keras
calls, one mixin).

Keras 3 does not promise these across releases: each is written against Keras 3.15's TensorFlow
backend, and tests/test_keras_compat.py pins what each relies on, so that an upgrade that changes one
fails there, by name, instead of deep in a training run.
"""
import keras
import tensorflow as tf
from keras.src.losses import loss as _keras_loss
from keras.src.quantizers import utils as _keras_quantizer_utils
from keras.src.tree import tree_api as _keras_tree


def register_tree_node_class(cls):
    """Registers `cls` (with `tree_flatten` / `tree_unflatten`) as a node of Keras' structure utilities.

    `keras.tree` exports no registration function; `keras.src.tree.tree_api.register_tree_node_class`
    (Keras 3.x) registers with whichever tree backend (optree or dm-tree) Keras uses, so that
    `predict`, `fit` and `tf.function` see a registered dict subclass as a dict, not an opaque leaf.

    Returns:
        `cls`, so that this works as a class decorator.
    """
    return _keras_tree.register_tree_node_class(cls)


def scale_loss_for_distribution(loss):
    """`loss` divided by the number of replicas of the current `tf.distribute` strategy.

    Keras applies this to compiled losses (`keras.src.losses.loss.scale_loss_for_distribution`,
    Keras 3.x): under tf.distribute each replica's gradients are summed, so a per-replica mean must be
    divided by the replica count, and Keras' loss tracker multiplies it back for display. A loss
    computed outside the compiled one must be scaled the same way.
    """
    return _keras_loss.scale_loss_for_distribution(loss)


def compiled_loss(model):
    """The loss given to `model.compile`, wrapped by Keras, or None when none was compiled.

    Keras 3 keeps it as `Trainer._compile_loss`: None from `__init__` until a `compile(loss=...)`
    (a later `compile` without a loss keeps it).
    """
    return model._compile_loss


def compiled_metrics(model):
    """The metrics given to `model.compile`, wrapped by Keras, or None when none were compiled.

    Keras 3 keeps them as `Trainer._compile_metrics`: None until a `compile(metrics=...)` or
    `compile(weighted_metrics=...)` (a later `compile` without either keeps them).
    """
    return model._compile_metrics


def model_distribute_strategy(model):
    """The `tf.distribute` strategy `model` was created under, or None.

    Keras 3's TensorFlow trainer records it as `_distribute_strategy` when the model is created
    inside a strategy's scope; the public `distribute_strategy` falls back to the current (default)
    strategy instead, so it cannot tell whether the model is distributed.
    """
    return model._distribute_strategy


def unlock_variable_tracking(layer):
    """Lets a built `layer` create variables again (Keras locks a layer's tracker after `build`).

    Keras 3 raises on `add_weight` after `build` unless `layer._tracker.unlock()` is called first; a
    layer that replaces or removes variables (the resized token embedding, a LoRA merge) needs it.
    """
    layer._tracker.unlock()


def stored_weight(layer):
    """The variable a `keras.layers.Dense` or `keras.layers.Embedding` stores its kernel / table in.

    Keras 3 keeps it as `Dense._kernel` / `Embedding._embeddings`; the public `kernel` / `embeddings`
    are properties that add the LoRA update (a tensor, which cannot be assigned to) and unpack int4.
    """
    return layer._embeddings if isinstance(layer, keras.layers.Embedding) else layer._kernel


def rebuild_embeddings(layer, input_dim):
    """Replaces the table of a built `keras.layers.Embedding` with a new one of `input_dim` rows, drawn
    by its initializer (Keras refuses new variables on a built layer until its tracker is unlocked).

    Building again sets `Layer._path` from the name scope of the moment: the layer keeps its own.
    """
    path = layer.path
    unlock_variable_tracking(layer)
    del layer._embeddings
    layer.input_dim = input_dim
    layer.built = False
    layer.build()
    layer._path = path


def merge_lora_into_weights(layer, lora_weight_names):
    """Folds the LoRA update of a Keras `Dense` / `Embedding` into its stored weights and removes the
    LoRA matrices (a quantized layer is re-quantized, with new scales).

    Keras 3 computes the merged weights for its own saving in `Dense._get_kernel_with_merged_lora()` /
    `Embedding._get_embeddings_with_merged_lora()`: `(weights, scale or None, zero point or None)`.
    Removing the two variables needs the layer's `_tracker` unlocked; it is locked again after.
    """
    if isinstance(layer, keras.layers.Embedding):
        merged, scale, zero = layer._get_embeddings_with_merged_lora()
        prefix = "embeddings"
    else:
        merged, scale, zero = layer._get_kernel_with_merged_lora()
        prefix = "kernel"
    stored_weight(layer).assign(merged)
    for value, name in ((scale, f"{prefix}_scale"), (zero, f"{prefix}_zero")):
        if value is not None:
            getattr(layer, name).assign(value)
    unlock_variable_tracking(layer)
    for name in lora_weight_names:
        delattr(layer, name)
    layer._tracker.lock()
    layer.lora_enabled, layer.lora_rank, layer.lora_alpha = False, None, None
    if not layer.quantization_mode:
        stored_weight(layer).trainable = layer.trainable


def settle_dtype_policy(layer):
    """Gives `layer` its own dtype policy in place of the `keras.dtype_policies.DTypePolicyMap` it was
    built with (the policy the map names for its path).

    A map is how a quantized model comes back from its config (each layer looks its policy up by
    `layer.path`), but parts of Keras 3 (LoRA merging, `Dense._get_kernel_with_merged_lora`) read
    `layer.dtype_policy.quantization_mode`, which for a map is its default's. `Layer._dtype_policy` is
    what the `dtype_policy` property returns.
    """
    policy = layer.dtype_policy
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap) and layer.path:
        layer._dtype_policy = policy[layer.path]


def matches_layer_filters(layer, filters):
    """Whether `layer` passes `filters` as `keras.Model.quantize(filters=...)` reads them: a regex or
    list of regexes searched in the layer's name, or a callable; None passes every layer
    (`keras.src.quantizers.utils.should_quantize_layer`, Keras 3.x)."""
    return _keras_quantizer_utils.should_quantize_layer(layer, filters)


def all_sublayers(layer):
    """Every layer under `layer`, nested ones included, not itself (`Layer._flatten_layers(include_self=False)`)."""
    return layer._flatten_layers(include_self=False)


def child_layers(layer):
    """The layers directly under `layer` (not itself, not their own sublayers), in creation order.

    `keras.Model.layers` gives this for models only; for any layer Keras 3 has
    `Layer._flatten_layers(include_self=False, recursive=False)`.
    """
    return layer._flatten_layers(include_self=False, recursive=False)


class FirstReplicaSymbolicBuild:
    """Mixin for a `keras.Model`: its symbolic build under tf.distribute reads one replica's batch.

    Keras 3's TensorFlow trainer calls `_maybe_symbolic_build(iterator=...)` at the start of `fit` and
    `evaluate` and learns the input shapes from the first distributed batch through
    `strategy.reduce("MEAN", batch)`, which MultiWorkerMirroredStrategy refuses for a dict of inputs.
    One replica's share of the batch has the same structure and dtypes. The iterator yields
    `(begin_step, end_step, batches)` where `batches` is an iterator of distributed batches (or a list
    of them).
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = model_distribute_strategy(self)
        if strategy is not None and iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                batch = batches[0] if isinstance(batches, (list, tuple)) else next(batches)
                first_replica = lambda x: strategy.experimental_local_results(x)[0] if isinstance(x, tf.distribute.DistributedValues) else x
                data_batch = keras.tree.map_structure(first_replica, batch)
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def set_resume_epoch(model, epoch):
    """Makes the next `model.fit` start at `epoch` (None: back to fit's own `initial_epoch`).

    Keras 3's `fit` reads `Trainer._initial_epoch` in place of its `initial_epoch` argument when it is
    set; `keras.callbacks.BackupAndRestore` resumes runs by setting it in `on_train_begin`.
    """
    model._initial_epoch = epoch


def optimizer_variable_index(optimizer, variable):
    """The index of `variable` in `optimizer`'s slot lists (`Optimizer._get_variable_index`, Keras 3.x),
    the same for every slot made by `add_optimizer_variables`."""
    return optimizer._get_variable_index(variable)


def uses_weight_decay(optimizer, variable):
    """Whether `exclude_from_weight_decay` leaves `variable` decayed (`Optimizer._use_weight_decay`)."""
    return optimizer._use_weight_decay(variable)


class ReplicaConsistentClipping:
    """Optimizer mixin: global-norm clipping of the gradient summed over replicas, as one device clips.

    Keras 3 clips inside `Optimizer._clip_gradients`, called by `apply` on each replica's gradients
    before they are summed across replicas, which clips a different vector than one device would.
    Scaling every replica's gradients by the factor of the summed gradient makes their sum exactly the
    clipped global gradient.
    """

    def _clip_gradients(self, grads):
        context = tf.distribute.get_replica_context()
        if not self.global_clipnorm or context is None or context.num_replicas_in_sync == 1:
            return super()._clip_gradients(grads)
        dense = [None if g is None else tf.convert_to_tensor(g) for g in grads]
        summed = context.all_reduce("SUM", [g for g in dense if g is not None])
        scale = tf.minimum(1.0, self.global_clipnorm / tf.maximum(tf.linalg.global_norm(summed), 1e-12))
        return [None if g is None else g * tf.cast(scale, g.dtype) for g in dense]
