"""The reference's model API as a migrating user calls it: input forms, return_dict and the config's
defaults, accessors, parameter counts, (choices, seq) double-heads inputs, and `fit` with labels as y
and sample weights.

Expected values come from tests/fixtures/reference_model_api.json (made with the reference by
tests/fixtures_tools/make_reference_model_api_fixtures.py), from ../shared's expected.npz, or from numpy.
"""
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import ATOL, assert_matches, tiny_config

from gpt_keras import (
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)
from gpt_keras.tokenization.batch_encoding import BatchEncoding

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "reference_model_api.json").read_text())
CLASSES = (TFOpenAIGPTModel, TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification)
CHECKPOINT = {TFOpenAIGPTDoubleHeadsModel: "double-heads", TFOpenAIGPTForSequenceClassification: "seq-cls"}
# Small models for the training tests (a pad token: the classifier finds each row's end without a mask;
# no dropout: training steps and evaluation give the same losses).
NO_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0)
SIZES = dict(vocab_size=40, n_embd=16, n_head=2, pad_token_id=0, **NO_DROPOUT)


def reference_name(cls):
    return cls.__name__[2:]


@pytest.fixture(scope="module")
def models(tiny_dir):
    return {cls: cls.from_pretrained(tiny_dir / CHECKPOINT.get(cls, "lm")) for cls in CLASSES}


def full_inputs(cls, e):
    """The inputs of the reference fixture's call that gives every output of `cls`."""
    if cls is TFOpenAIGPTDoubleHeadsModel:
        return dict(input_ids=e["dh.input_ids"], mc_token_ids=e["dh.mc_token_ids"], labels=e["dh.labels"], mc_labels=e["dh.mc_labels"])
    if cls is TFOpenAIGPTForSequenceClassification:
        return dict(input_ids=e["sc.input_ids"], labels=e["sc.labels"])
    inputs = dict(input_ids=e["input_ids"], attention_mask=e["attention_mask"])
    if cls is TFOpenAIGPTLMHeadModel:
        inputs["labels"] = e["labels"]
    return inputs


# === Input forms ===


@pytest.mark.parametrize("cls", CLASSES)
def test_list_inputs_are_matched_to_the_parameters_in_the_reference_tf_ports_order(cls):
    from gpt_keras.models.inputs import call_parameters

    # `training` ends both lists; the reference's own tests leave it out of list inputs.
    reference = [name for name in REFERENCE["tf"]["call_parameters"]["TF" + reference_name(cls)] if name != "training"]
    ours = call_parameters(cls)
    assert {name: ours.index(name) for name in reference} == {name: i for i, name in enumerate(reference)}


def test_list_and_tuple_inputs_give_the_reference_outputs(models, expected):
    e = expected
    assert REFERENCE["tf"]["list_input_equals_keywords"]
    base = models[TFOpenAIGPTModel]
    for inputs in ([e["input_ids"], e["attention_mask"]], (e["input_ids"], e["attention_mask"])):
        assert_matches(base(inputs).last_hidden_state, e["base.masked.last_hidden_state"], "list input")
    # The double-heads model takes mc_token_ids seventh, after inputs_embeds.
    out = models[TFOpenAIGPTDoubleHeadsModel]([e["dh.input_ids"], None, None, None, None, None, e["dh.mc_token_ids"]])
    assert_matches(out.mc_logits, e["dh.mc_logits"], "dh.mc_logits")
    labels_after_return_dict = [e["input_ids"], e["attention_mask"], None, None, None, None, None, None, None, e["labels"]]
    assert_matches(models[TFOpenAIGPTLMHeadModel](labels_after_return_dict).loss, e["lm.loss"], "lm.loss")
    with pytest.raises(ValueError, match="TFOpenAIGPTModel takes at most 13 inputs in a list"):
        base([e["input_ids"]] * 14)
    with pytest.raises(ValueError, match="attention_mask given twice, in the input list and as a keyword"):
        base([e["input_ids"], e["attention_mask"]], attention_mask=e["attention_mask"].copy())


def test_a_list_of_keras_inputs_goes_by_their_names():
    model = TFOpenAIGPTModel(tiny_config())
    ids = keras.Input(shape=(5,), dtype="int32", name="input_ids")
    mask = keras.Input(shape=(5,), dtype="int32", name="attention_mask")
    functional = keras.Model([ids, mask], model([mask, ids])[0])
    batch = np.array([[1, 2, 3, 4, 5]]), np.array([[1, 1, 1, 0, 0]])
    np.testing.assert_allclose(functional(list(batch)), model(batch[0], attention_mask=batch[1]).last_hidden_state, atol=ATOL)


def test_flags_in_the_input_dict(models, expected):
    e = expected
    assert REFERENCE["tf"]["dict_flag_hidden_states"] == 3
    out = models[TFOpenAIGPTModel]({"input_ids": e["input_ids"], "output_hidden_states": True, "output_attentions": True})
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    for i in range(3):
        assert_matches(out.hidden_states[i], e[f"base.hidden_states.{i}"], f"hidden_states.{i}")
    as_tuple = models[TFOpenAIGPTModel]({"input_ids": e["input_ids"], "return_dict": False})
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1


def test_a_tokenizers_batch_encoding_is_an_input_dict(models, expected):
    e = expected
    for tensor_type in (None, "np", "tf"):
        data = {"input_ids": e["input_ids"].tolist(), "attention_mask": e["attention_mask"].tolist()}
        encoding = BatchEncoding(data, tensor_type=tensor_type)
        out = models[TFOpenAIGPTModel](encoding)
        assert_matches(out.last_hidden_state, e["base.masked.last_hidden_state"], f"BatchEncoding({tensor_type})")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "tf.float32", bool])
def test_float_and_bool_attention_masks_are_cast_like_the_reference(models, expected, dtype):
    mask = expected["attention_mask"]
    mask = tf.constant(mask, tf.float32) if dtype == "tf.float32" else mask.astype(dtype)
    out = models[TFOpenAIGPTModel](expected["input_ids"], attention_mask=mask)
    assert_matches(out.last_hidden_state, expected["base.masked.last_hidden_state"], f"{dtype} mask")


def test_a_mask_of_other_values_than_0_and_1_is_refused(models, expected):
    # The reference turns 0.5 into a bias of -5000 (neither attended nor masked): refused here.
    mask = expected["attention_mask"].astype(np.float32) * 0.5
    with pytest.raises(ValueError, match="attention_mask"):
        models[TFOpenAIGPTModel](expected["input_ids"], attention_mask=mask)


# === Outputs: return_dict and the config's defaults ===


@pytest.mark.parametrize("cls", CLASSES)
def test_return_dict_false_gives_the_reference_tuple(models, expected, cls):
    reference = REFERENCE["torch"]["outputs"][reference_name(cls)]
    model, inputs = models[cls], full_inputs(cls, expected)
    out = model(**inputs, output_attentions=True, output_hidden_states=True)
    assert list(out.keys()) == reference["fields"]
    as_tuple = model(**inputs, output_attentions=True, output_hidden_states=True, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == reference["tuple_length"]
    for ours, in_dict in zip(as_tuple, out.values()):
        np.testing.assert_allclose(np.asarray(tf.nest.flatten(ours)[0]), np.asarray(tf.nest.flatten(in_dict)[0]), atol=ATOL)
    if reference["tuple_first"] is not None:
        np.testing.assert_allclose(float(as_tuple[0]), reference["tuple_first"], atol=ATOL)
    assert isinstance(model(**inputs, return_dict=True), dict)


@pytest.mark.parametrize("cls", CLASSES)
def test_the_configs_output_flags_and_return_dict_are_the_calls_defaults(tiny_dir, expected, cls):
    reference = REFERENCE["torch"]["outputs"][reference_name(cls)]
    model = cls.from_pretrained(tiny_dir / CHECKPOINT.get(cls, "lm"))
    inputs = full_inputs(cls, expected)
    model.config.output_hidden_states = True
    model.config.output_attentions = True
    out = model(**inputs)
    assert len(out.hidden_states) == reference["hidden_states_from_config"] and len(out.attentions) == 2
    assert "hidden_states" not in model(**inputs, output_hidden_states=False)
    model.config.return_dict = False
    assert isinstance(model(**inputs), tuple) == reference["config_return_dict_false_is_tuple"]
    assert isinstance(model(**inputs, return_dict=True), dict)


def test_outputs_from_a_config_without_return_dict_cannot_train_silently():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    model.config.return_dict = False
    model.compile(optimizer="sgd")
    ids = np.ones((2, 4), np.int32)
    with pytest.raises(ValueError, match=r"returned a tuple \(config.return_dict is False\)"):
        model.fit({"input_ids": ids, "labels": ids}, verbose=0)


def test_loss_shapes_are_the_pytorch_models_scalars(models, expected):
    # Decided: every loss is the scalar mean, shape (), as the PyTorch model's; the TF port gives the
    # LM loss shape (1,) and the classifier's one loss per example (README, migration table).
    assert REFERENCE["tf"]["loss_shapes"] == {"TFOpenAIGPTLMHeadModel": [1], "TFOpenAIGPTForSequenceClassification": [3]}
    for cls in (TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification):
        out = models[cls](**full_inputs(cls, expected))
        assert out.loss.shape == tuple(REFERENCE["torch"]["outputs"][reference_name(cls)]["loss_shape"]) == ()


# === Accessors ===


@pytest.mark.parametrize("cls", CLASSES)
def test_main_input_name_embeddings_and_lm_head(models, cls):
    model = models[cls]
    assert cls.main_input_name == model.main_input_name == "input_ids"
    embeddings = model.get_input_embeddings()
    assert isinstance(embeddings, keras.layers.Layer)
    assert embeddings.embeddings.shape == (model.config.vocab_size, model.config.n_embd)
    # As the reference's test_model_common_attributes: models with an LM head give it as output
    # embeddings (tied: the same layer), the others None; no LM head has a bias.
    if cls in (TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel):
        assert model.get_output_embeddings() is embeddings and model.get_lm_head() is embeddings
    else:
        assert model.get_output_embeddings() is None and model.get_lm_head() is None
        with pytest.raises(ValueError, match="has no LM head"):
            model.set_output_embeddings(np.zeros((3, model.config.n_embd)))
    assert model.get_bias() is None


def test_set_input_embeddings_replaces_the_table_and_the_tied_head_follows():
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    ids = np.array([[3, 1, 4, 1, 5]])
    table = np.random.default_rng(0).normal(size=(60, 16)).astype(np.float32)
    model.set_input_embeddings(tf.Variable(table))
    np.testing.assert_array_equal(model.get_input_embeddings().embeddings.numpy(), table)
    hidden = model.transformer({"input_ids": ids})["last_hidden_state"]
    np.testing.assert_allclose(model(ids).logits, np.asarray(hidden) @ table.T, atol=1e-4)
    # A table of another size resizes the vocabulary; a Keras Embedding gives its table.
    other = keras.layers.Embedding(64, 16)
    other.build()
    model.set_output_embeddings(other)
    assert model.config.vocab_size == 64 and model(ids).logits.shape == (1, 5, 64)
    np.testing.assert_array_equal(model.get_input_embeddings().embeddings.numpy(), other.embeddings.numpy())
    with pytest.raises(ValueError, match=r"value must be a \(rows, n_embd=16\) table, got shape \(64, 8\)"):
        model.set_input_embeddings(np.zeros((64, 8)))
    # A layer not built yet (a PyTorch module has its weights at once) is built, then its table taken.
    unbuilt = keras.layers.Embedding(50, 16)
    model.set_input_embeddings(unbuilt)
    assert unbuilt.built and model.config.vocab_size == 50
    np.testing.assert_array_equal(model.get_input_embeddings().embeddings.numpy(), unbuilt.embeddings.numpy())
    with pytest.raises(ValueError, match=r"value must be a \(rows, n_embd=16\) table, got shape \(10, 10\)"):
        model.set_input_embeddings(keras.layers.Embedding(10, 10))


@pytest.mark.parametrize("cls", CLASSES)
def test_num_parameters_match_the_reference(models, cls):
    reference = REFERENCE["torch"]["num_parameters"][reference_name(cls)]
    for only_trainable in (False, True):
        for exclude_embeddings in (False, True):
            key = f"only_trainable={only_trainable},exclude_embeddings={exclude_embeddings}"
            assert models[cls].num_parameters(only_trainable, exclude_embeddings) == reference[key], key


def test_num_parameters_only_trainable_leaves_frozen_parts_out():
    model = TFOpenAIGPTForSequenceClassification(tiny_config(num_labels=3))
    model.transformer.trainable = False
    assert model.num_parameters(only_trainable=True) == 16 * 3  # the classifier alone
    assert model.num_parameters() > model.num_parameters(exclude_embeddings=True) > 16 * 3


# === The double-heads model on one example, (choices, seq) ===


def test_double_heads_take_one_example_without_its_batch_axis(models, expected):
    e, reference = expected, REFERENCE["torch"]["double_heads_one_example"]
    assert reference["max_logits_difference_from_batch_of_one"] == 0.0
    shapes = REFERENCE["tf"]["double_heads_one_example"]
    model, k = models[TFOpenAIGPTDoubleHeadsModel], reference["example"]
    one = {name: e[f"dh.{name}"][k] for name in ("input_ids", "mc_token_ids", "labels")}
    one["mc_labels"] = e["dh.mc_labels"][k : k + 1]
    out = model(**one, output_hidden_states=True, output_attentions=True)
    assert list(out.logits.shape) == shapes["logits_shape"] == reference["logits_shape"]
    assert list(out.mc_logits.shape) == shapes["mc_logits_shape"]
    assert_matches(out.logits, e["dh.logits"][k], "one example's logits", 2 * ATOL)
    np.testing.assert_allclose(out.mc_logits, reference["mc_logits"], atol=ATOL)
    np.testing.assert_allclose([out.loss, out.mc_loss], [reference["loss"], reference["mc_loss"]], atol=ATOL)
    assert out.hidden_states[-1].shape == (3, 10, 32) and out.attentions[0].shape == (3, 4, 10, 10)
    # A scalar label, tensors under tf.function, and inputs_embeds (choices, seq, n_embd) work the same.
    traced = tf.function(lambda ids, tokens, label: model(ids, mc_token_ids=tokens, mc_labels=label).mc_loss)
    mc_loss = traced(tf.constant(one["input_ids"]), tf.constant(one["mc_token_ids"]), tf.constant(one["mc_labels"][0]))
    np.testing.assert_allclose(mc_loss, reference["mc_loss"], atol=ATOL)
    embeds = tf.gather(model.get_input_embeddings().embeddings, one["input_ids"])
    np.testing.assert_allclose(model(inputs_embeds=embeds, mc_token_ids=one["mc_token_ids"]).mc_logits, reference["mc_logits"], atol=ATOL)
    with pytest.raises(ValueError, match=r"mc_labels of one example .* must be one index, of shape \(\) or \(1,\); got shape \(2,\)"):
        model(one["input_ids"], mc_labels=np.array([0, 1]))


# === Training: labels as y, sample weights ===


def lm_batch(n=4, seq=6, seed=0):
    ids = np.random.default_rng(seed).integers(1, 40, (n, seq))
    return ids


def log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def token_losses(logits, labels):
    """Per-position next-token cross-entropy and the 0/1 mask of counted positions, in numpy."""
    targets = labels[..., 1:]
    picked = -np.take_along_axis(log_softmax(logits)[..., :-1, :], np.maximum(targets, 0)[..., None], -1)[..., 0]
    return picked, (targets != -100).astype(np.float64)


def evaluate_once(model, x, y=None, sample_weight=None):
    """The loss of one evaluation batch (the whole data)."""
    batch = len(x["input_ids"] if isinstance(x, dict) else x)
    return model.evaluate(x, y, sample_weight=sample_weight, batch_size=batch, verbose=0)


def test_the_lm_weights_examples_and_tokens_like_a_hand_computation():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    ids = lm_batch()
    labels = ids.copy()
    labels[0, 4:] = -100
    loss, counted = token_losses(model(ids).logits, labels)
    per_example = np.array([0.5, 1.0, 2.0, 0.0])
    want = (loss * counted * per_example[:, None]).sum() / counted.sum()
    x = {"input_ids": ids, "labels": labels}
    # Checked where the first trace knows the shapes (later traces may not: then the graph fails).
    with pytest.raises(ValueError, match=r"sample_weight has shape \(4, 3\); expected one weight per example, \(4,\)"):
        evaluate_once(model, x, sample_weight=np.ones((4, 3)))
    np.testing.assert_allclose(evaluate_once(model, x, sample_weight=per_example), want, rtol=1e-5)
    np.testing.assert_allclose(evaluate_once(model, ids, labels, sample_weight=per_example), want, rtol=1e-5)
    np.testing.assert_allclose(model.train_on_batch(x, sample_weight=per_example), want, rtol=1e-5)
    # Per token, laid out like the labels: w[:, t] weights the prediction of labels[:, t].
    per_token = np.random.default_rng(1).uniform(0, 2, ids.shape)
    want = (loss * counted * per_token[:, 1:]).sum() / counted.sum()
    np.testing.assert_allclose(evaluate_once(model, x, sample_weight=per_token), want, rtol=1e-5)
    # Weights of one are the unweighted loss; a weight of the wrong shape is named.
    np.testing.assert_allclose(evaluate_once(model, x, sample_weight=np.ones(4)), evaluate_once(model, x), rtol=1e-6)


def test_the_classifier_weights_examples_like_a_hand_computation_and_like_a_compiled_keras_loss():
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTForSequenceClassification(tiny_config(**SIZES, num_labels=3))
    ids, labels = lm_batch(n=6), np.array([0, 2, 1, -100, 2, 0])
    weights = np.array([1.0, 0.5, 2.0, 3.0, 0.0, 1.5])
    log_probs = log_softmax(model(ids).logits)
    counted = labels != -100
    picked = -log_probs[np.arange(6), np.maximum(labels, 0)]
    want = (picked * weights * counted).sum() / counted.sum()
    accuracy = (log_probs.argmax(-1) == labels)
    model.compile(optimizer=keras.optimizers.SGD(0.0), metrics=["accuracy"])
    logs = model.evaluate(ids, labels, sample_weight=weights, batch_size=6, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], want, rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], (accuracy * weights * counted).sum() / (weights * counted).sum(), atol=1e-6)
    # Keras weights its compiled loss the same way.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100))
    logs = model.evaluate(ids, labels, sample_weight=weights, batch_size=6, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], want, rtol=1e-5)
    # Class weights become sample weights when the labels come as y.
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    kept = labels != -100
    by_class = {0: 2.0, 1: 0.5, 2: 1.0}
    class_weights = np.array([by_class[int(label)] for label in labels[kept]])
    want = (picked[kept] * class_weights).sum() / kept.sum()
    logs = model.train_on_batch(ids[kept], labels[kept], class_weight=by_class, return_dict=True)
    np.testing.assert_allclose(logs["loss"], want, rtol=1e-5)


def test_the_double_heads_model_weights_both_losses_per_example():
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES), lm_coef=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    ids = lm_batch(n=12).reshape(4, 3, 6)
    mc_labels = np.array([0, 2, 1, 1])
    weights = np.array([1.0, 0.0, 2.0, 0.5])
    out = model(ids)
    lm_loss, counted = token_losses(out.logits, ids)
    lm = (lm_loss * counted * weights[:, None, None]).sum() / counted.sum()
    mc = -(log_softmax(out.mc_logits)[np.arange(4), mc_labels] * weights).sum() / 4
    x = {"input_ids": ids, "labels": ids}
    logs = model.evaluate(x, mc_labels, sample_weight=weights, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose([logs["loss"], logs["mc_loss"], logs["lm_loss"]], [mc + 0.5 * lm, mc, lm], rtol=1e-5)
    # y as a dict of both labels: Keras gives each its copy of the weights.
    y = {"labels": ids, "mc_labels": mc_labels}
    logs = model.evaluate({"input_ids": ids}, y, sample_weight=weights, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], mc + 0.5 * lm, rtol=1e-5)


@pytest.mark.parametrize("cls", [TFOpenAIGPTLMHeadModel, TFOpenAIGPTForSequenceClassification, TFOpenAIGPTDoubleHeadsModel])
def test_fit_takes_the_labels_as_y_in_every_form(cls):
    # As the reference's test_keras_fit: labels in the input dict, or as y (an array or a dict of label
    # names), with sample weights, give the same losses and the same logs.
    keras.utils.set_random_seed(0)
    model = cls(tiny_config(**SIZES))
    ids = lm_batch(n=8)
    if cls is TFOpenAIGPTDoubleHeadsModel:
        ids = ids.reshape(4, 2, 6)
        labels = {"mc_labels": np.array([0, 1, 1, 0])}
    else:
        labels = {"labels": ids if cls is TFOpenAIGPTLMHeadModel else ids[:, 0] % 2}
    inputs = {"input_ids": ids}
    weights = np.full(len(ids), 0.5, np.float32)
    model.compile(optimizer=keras.optimizers.SGD(0.0), metrics=[keras.metrics.SparseCategoricalAccuracy()], run_eagerly=True)
    with_labels = {**inputs, **labels}
    first = model.fit(with_labels, validation_data=with_labels, sample_weight=weights, shuffle=False, verbose=0).history
    as_dict = model.fit(inputs, labels, validation_data=(inputs, labels), sample_weight=weights, shuffle=False, verbose=0).history
    (name, array), = labels.items()
    as_array = model.fit(ids, array, validation_data=(ids, array), sample_weight=weights, shuffle=False, verbose=0).history
    assert first.keys() == as_dict.keys() == as_array.keys()
    for key in first:
        np.testing.assert_allclose([as_dict[key], as_array[key]], [first[key], first[key]], rtol=1e-5, err_msg=key)
    unweighted = model.evaluate(with_labels, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(first["loss"][0], 0.5 * unweighted, rtol=1e-5)
    with pytest.raises(ValueError, match=f"{name} given twice, in the input dict and as y"):
        model.fit(with_labels, array, verbose=0)
    with pytest.raises(ValueError, match=r"y holds \['label'\], which are not labels"):
        model.fit(inputs, {"label": array}, verbose=0)


def _op_types(concrete):
    graph = concrete.graph.as_graph_def()
    return {node.op for node in graph.node} | {node.op for function in graph.library.function for node in function.node_def}


def test_a_weighted_xla_training_step_holds_no_assert_op_and_weights_the_loss():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=True)
    ids = lm_batch()
    weights = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    history = model.fit(ids, ids, sample_weight=weights, batch_size=4, verbose=0)
    loss, counted = token_losses(model(ids).logits, ids)
    np.testing.assert_allclose(history.history["loss"][0], loss[0].sum() / counted.sum(), rtol=1e-5)
    spec = tf.TensorSpec([None, None], tf.int32)
    step = tf.function(model.train_step, jit_compile=True)
    concrete = step.get_concrete_function(({"input_ids": spec}, spec, tf.TensorSpec([None], tf.float32)))
    assert "Assert" not in _op_types(concrete)
