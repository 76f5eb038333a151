"""Pins each use of private Keras API (`gpt_keras.models._keras_compat`): a Keras upgrade that changes
one fails here, naming it, instead of deep in a training run."""
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from gpt_keras import ModelOutput, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTLMHeadModel
from gpt_keras.models import _keras_compat


def test_a_registered_tree_node_is_a_structure_to_keras():
    # ModelOutput is registered on import: Keras flattens it into its values and rebuilds the class.
    output = ModelOutput(loss=1.0, logits=2.0)
    assert keras.tree.flatten(output) == [1.0, 2.0]
    doubled = keras.tree.map_structure(lambda x: 2 * x, output)
    assert type(doubled) is ModelOutput and doubled == {"loss": 2.0, "logits": 4.0}


def test_loss_scaling_divides_by_the_replicas_of_the_current_strategy(monkeypatch):
    loss = tf.constant(3.0)
    assert float(_keras_compat.scale_loss_for_distribution(loss)) == 3.0  # the default strategy: one replica

    class FourReplicas:
        num_replicas_in_sync = 4

    monkeypatch.setattr(tf.distribute, "get_strategy", lambda: FourReplicas())
    assert float(_keras_compat.scale_loss_for_distribution(loss)) == 0.75


def test_compiled_loss_and_metrics_are_none_until_compiled_with_them():
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    assert _keras_compat.compiled_loss(model) is None and _keras_compat.compiled_metrics(model) is None
    model.compile(optimizer="sgd")
    assert _keras_compat.compiled_loss(model) is None and _keras_compat.compiled_metrics(model) is None
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    assert _keras_compat.compiled_loss(model) is not None and _keras_compat.compiled_metrics(model) is not None
    # What Keras itself computes compiled losses with.
    assert callable(_keras_compat.compiled_loss(model))
    model.compile(optimizer="sgd")  # a later compile without them keeps both
    assert _keras_compat.compiled_loss(model) is not None and _keras_compat.compiled_metrics(model) is not None


def test_weighted_metrics_alone_are_compiled_metrics():
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    keras.Model.compile(model, optimizer="sgd", weighted_metrics=["accuracy"])
    assert _keras_compat.compiled_metrics(model) is not None


def test_the_strategy_a_model_was_created_under():
    assert _keras_compat.model_distribute_strategy(TFOpenAIGPTLMHeadModel(tiny_config())) is None
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = TFOpenAIGPTLMHeadModel(tiny_config())
    assert _keras_compat.model_distribute_strategy(model) is strategy
    # The public property cannot tell: it falls back to the default strategy.
    assert TFOpenAIGPTLMHeadModel(tiny_config()).distribute_strategy is not None


def test_a_built_layer_refuses_new_variables_until_unlocked():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError):
        layer.add_weight(name="extra", shape=(1,))
    _keras_compat.unlock_variable_tracking(layer)
    extra = layer.add_weight(name="extra", shape=(1,))
    assert any(weight is extra for weight in layer.weights)


def test_child_layers_are_the_direct_children_in_creation_order():
    class Outer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.first = keras.layers.Dense(2, name="first")
            self.inner = keras.Sequential([keras.layers.Dense(2, name="grandchild")], name="inner")
            self.last = keras.layers.Dropout(0.1, name="last")

    assert [layer.name for layer in _keras_compat.child_layers(Outer())] == ["first", "inner", "last"]


def test_keras_calls_the_symbolic_build_override_with_the_epoch_iterator(monkeypatch):
    # The override's contract: Keras' TensorFlow trainer calls `_maybe_symbolic_build(iterator=...)`
    # in `fit` and `evaluate`, and the iterator yields (begin_step, end_step, batches).
    parameters = list(inspect.signature(keras.Model._maybe_symbolic_build).parameters)
    assert parameters == ["self", "iterator", "data_batch"]
    seen = []
    override = _keras_compat.FirstReplicaSymbolicBuild._maybe_symbolic_build

    def recording(self, iterator=None, data_batch=None):
        seen.append(iterator is not None)
        return override(self, iterator=iterator, data_batch=data_batch)

    monkeypatch.setattr(_keras_compat.FirstReplicaSymbolicBuild, "_maybe_symbolic_build", recording)
    ids = np.random.default_rng(0).integers(1, 60, (2, 2, 5)).astype(np.int32)
    data = {"input_ids": ids, "mc_token_ids": np.full((2, 2), 4, np.int32), "mc_labels": np.array([0, 1], np.int32)}
    # Under a strategy (one device) the override reads one replica's batch from that iterator.
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = TFOpenAIGPTDoubleHeadsModel(tiny_config())
        model.compile(optimizer="sgd")
    model.fit(data, batch_size=2, epochs=1, verbose=0)
    model.evaluate(data, batch_size=2, verbose=0)
    assert seen == [True, True]


def test_resume_epoch_is_where_fit_starts():
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    model.compile(optimizer="sgd")
    ids = np.zeros((2, 4), "int32")
    _keras_compat.set_resume_epoch(model, 2)
    history = model.fit({"input_ids": ids, "labels": ids}, epochs=3, verbose=0)
    assert history.epoch == [2]
    _keras_compat.set_resume_epoch(model, None)
    assert model.fit({"input_ids": ids, "labels": ids}, epochs=2, verbose=0).epoch == [0, 1]


def test_optimizer_slot_index_and_weight_decay_exclusion():
    optimizer = keras.optimizers.Adam()
    variables = [keras.Variable(np.zeros((2, 2)), name="kernel"), keras.Variable(np.zeros(2), name="bias")]
    optimizer.build(variables)
    assert [_keras_compat.optimizer_variable_index(optimizer, v) for v in variables] == [0, 1]
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    assert _keras_compat.uses_weight_decay(optimizer, variables[0])
    assert not _keras_compat.uses_weight_decay(optimizer, variables[1])


def test_gradient_clipping_hook_is_what_apply_calls():
    # ReplicaConsistentClipping overrides Optimizer._clip_gradients: apply must still call it, and its
    # single-replica path must be Keras' own global-norm clipping.
    calls = []

    class Recording(_keras_compat.ReplicaConsistentClipping, keras.optimizers.SGD):
        def _clip_gradients(self, grads):
            calls.append(len(grads))
            return super()._clip_gradients(grads)

    variable = keras.Variable(np.ones(3, "float32"))
    Recording(learning_rate=1.0, global_clipnorm=1.0).apply([tf.constant([3.0, 0.0, 4.0])], [variable])
    assert calls == [1]
    np.testing.assert_allclose(np.asarray(variable), [1 - 0.6, 1.0, 1 - 0.8], rtol=1e-6)


# === Quantization and LoRA: the private API, and the Keras behaviours gpt_keras' layers work around ===


def test_the_stored_weight_is_the_variable_behind_the_lora_and_int4_properties():
    dense, table = keras.layers.Dense(3), keras.layers.Embedding(5, 3)
    dense.build((None, 4))
    table.build()
    dense.enable_lora(2)
    table.enable_lora(2)
    for layer, public in ((dense, dense.kernel), (table, table.embeddings)):
        assert not isinstance(public, keras.Variable)  # kernel + the LoRA update: a tensor
        assert isinstance(_keras_compat.stored_weight(layer), keras.Variable)
        assert not _keras_compat.stored_weight(layer).trainable


def test_an_embedding_table_is_rebuilt_with_new_rows_and_keeps_its_path():
    table = keras.layers.Embedding(5, 3, name="tokens")
    table.build()
    path = table.path
    _keras_compat.rebuild_embeddings(table, 8)
    assert table.embeddings.shape == (8, 3) and table.path == path and table.built
    assert [w.path for w in table.weights] == [f"{path}/embeddings"]


@pytest.mark.parametrize("mode", [None, "int8"])
def test_lora_merges_into_the_stored_weights(mode):
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    if mode:
        dense.quantize(mode)
    dense.enable_lora(2)
    dense.lora_kernel_b.assign(np.random.default_rng(0).normal(size=(2, 3)).astype("float32"))
    x = np.random.default_rng(1).normal(size=(2, 4)).astype("float32")
    adapted = np.asarray(dense(x))
    _keras_compat.merge_lora_into_weights(dense, ("lora_kernel_a", "lora_kernel_b"))
    assert not dense.lora_enabled and not any("lora" in w.path for w in dense.weights)
    np.testing.assert_allclose(np.asarray(dense(x)), adapted, atol=0.05 if mode else 1e-6)


def test_a_layer_built_from_a_policy_map_reports_the_maps_default_until_settled():
    policies = keras.dtype_policies.DTypePolicyMap("float32", {"d": keras.dtype_policies.get("int8_from_float32")})
    dense = keras.layers.Dense(3, dtype=policies, name="d")
    dense.build((None, 4))
    assert dense.quantization_mode == "int8" and dense.dtype_policy.quantization_mode is None
    _keras_compat.settle_dtype_policy(dense)
    assert dense.dtype_policy.name == "int8_from_float32"


def test_layer_filters_and_sublayers_read_as_keras_model_quantize_reads_them():
    inner = keras.Sequential([keras.layers.Dense(2, name="out")], name="inner")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="query"), inner])
    names = [layer.name for layer in _keras_compat.all_sublayers(model)]
    assert {"query", "inner", "out"} <= set(names) and model.name not in names  # nested ones too, not itself
    query, out = model.layers[0], inner.layers[0]
    assert _keras_compat.matches_layer_filters(query, "que") and not _keras_compat.matches_layer_filters(out, "que")
    assert _keras_compat.matches_layer_filters(out, ["x", "^out$"]) and _keras_compat.matches_layer_filters(out, None)
    assert _keras_compat.matches_layer_filters(out, lambda layer: layer.units == 2)


def test_keras_refuses_to_quantize_subclasses_and_validates_the_mode_before_the_layers_method():
    class Sub(keras.layers.Dense):
        pass

    layer = Sub(3)
    layer.build((None, 4))
    with pytest.raises(NotImplementedError):
        layer.quantize("int8")  # why gpt_keras' Dense and Embedding pass type_check=False
    with pytest.raises(ValueError, match="Invalid quantization mode"):
        layer.quantize("int2")


def test_a_quantized_keras_layer_is_called_without_its_call():
    # Keras' GPTQ and AWQ read a layer's inputs by wrapping `layer.call`; a quantized layer's
    # __call__ goes to `quantized_call` instead, which gpt_keras' Dense sends back through `call`
    # while it calibrates.
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    dense.quantize("int8")

    def never(*args, **kwargs):
        raise AssertionError("call was used")

    dense.call = never
    assert tuple(dense(np.ones((1, 4), "float32")).shape) == (1, 3)


def test_keras_saves_a_gptq_dense_without_its_zero_point():
    # gpt_keras' Dense saves GPTQ / AWQ layers itself until Keras saves all their variables.
    dense = keras.layers.Dense(3, dtype="gptq/4/-1_from_float32")
    dense.build((None, 4))
    store = {}
    dense.save_own_variables(store)
    assert len(store) == len(dense.weights) - 1


def test_keras_merges_lora_on_save_and_zeroes_it_on_load():
    # Why gpt_keras' Dense and Embedding keep LoRA matrices apart in their files (layers/lora.py).
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    dense.enable_lora(2)
    dense.lora_kernel_b.assign(np.ones((2, 3), "float32"))
    store = {}
    keras.layers.Dense.save_own_variables(dense, store)
    assert len(store) == 2  # kernel (merged) and bias
    keras.layers.Dense.load_own_variables(dense, store)
    assert not np.asarray(dense.lora_kernel_a).any() and not np.asarray(dense.lora_kernel_b).any()


def test_clone_model_rebuilds_a_functional_subclass_through_a_constructor_with_varargs():
    # TFOpenAIGPT(config, *cloned_graph, ...) relies on this to come back as itself.
    class Wrapped(keras.Model):
        def __init__(self, inputs, *rest, **kwargs):
            if rest:
                self.built_from_graph = True
                super().__init__(inputs, rest[0], **kwargs)
            else:
                ids = keras.Input((2,))
                super().__init__(ids, keras.layers.Dense(3)(ids), **kwargs)

    clone = keras.models.clone_model(Wrapped(None))
    assert type(clone) is Wrapped and clone.built_from_graph
