"""The reference's PyTorch model tests for this model, ported: transformers 4.57.6's
``tests/models/openai/test_modeling_openai.py`` and the tests of its ``ModelTesterMixin``
(``tests/test_modeling_common.py``) that run for this model, adapted to import gpt_keras.

The PyTorch tester's inputs are ids, token types and a head mask (no attention mask); with labels, the
double-heads model gets (batch, choices, seq) inputs (tests/ported_model_tester.py). A test of the same
name and content as the TF mixin's is ported once, in tests/test_modeling_ported.py (``SAME_AS_TF``;
test_config in tests/test_modeling_ported_config.py).
``torch.no_grad`` / ``.eval()`` become ``training=False`` (the default), ``loss.backward()`` a
``tf.GradientTape`` gradient, ``nn.Embedding`` a ``keras.layers.Embedding``.

What is not ported, and why: ``NOT_PORTED`` below.
"""
import copy
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from ported_model_tester import (
    each_class,
    ALL_MODEL_CLASSES,
    SEQUENCE_LABEL_CLASSES,
    ModelTester,
    class_ids,
    prepare_for_class_pt,
)

from gpt_keras import (
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)

SAME_AS_TF = (
    "test_config, test_determinism, test_hidden_states_output, test_model_main_input_name, "
    "test_model_outputs_equivalence, test_inputs_embeds, test_load_with_mismatched_shapes"
)
NOT_PORTED = {
    # PyTorch machinery that the reference's TF port (whose API gpt_keras keeps) has no counterpart of.
    "test_from_pretrained_no_checkpoint": "from_pretrained(None, state_dict=...) is the PyTorch classes' (the TF "
    "port has no state_dict argument; here: load_state_dict)",
    "test_keep_in_fp32_modules, test_save_load_keys_to_ignore_on_save, test_can_init_all_missing_weights, "
    "test_tied_weights_keys, test_model_weights_reload_no_missing_tied_weights": "PyTorch-internal class attributes "
    "(_keep_in_fp32_modules, _keys_to_ignore_on_save, _init_weights, _tied_weights_keys)",
    "test_resize_embeddings_untied, test_load_save_without_tied_weights": "an untied LM head "
    "(tie_word_embeddings=False) exists in the PyTorch classes only; the TF port's LM head is the token embedding",
    "test_head_pruning, test_head_pruning_save_load_from_pretrained, test_head_pruning_save_load_from_config_init, "
    "test_head_pruning_integration": "prune_heads: the TF port raises NotImplementedError",
    "test_torch_save_load, test_torchscript_*, test_torch_fx*, test_torch_compile_for_training, test_torch_export, "
    "test_retain_grad_hidden_states_attentions": "torch.save, TorchScript, torch.fx, torch.compile, torch.export, "
    "autograd's retain_grad",
    "test_gradient_checkpointing_*, test_training_gradient_checkpointing*, test_peft_gradient_checkpointing_*": "PyTorch "
    "gradient checkpointing",
    "test_*sdpa*, test_*flash_attn*, test_flex_attention_with_grads, test_attn_implementation_composite_models, "
    "test_config_attn_implementation_setter, test_can_set_attention_dynamically*, "
    "test_internal_model_config_and_subconfig_are_same": "PyTorch attention backends (attn_implementation)",
    "test_can_be_initialized_on_meta, test_can_load_with_*device*, "
    "test_cannot_load_with_meta_device_context_manager": "torch devices",
    # Physically impossible here.
    "test_multi_gpu_data_parallel_forward, test_model_parallelization, test_model_parallel_equal_results, "
    "test_model_parallelism, test_disk_offload_*, test_cpu_offload, test_resize_*_with_deepspeed*": "several GPUs, "
    "accelerate or deepspeed",
    # Vacuous or skipped for this model in the reference itself.
    "test_headmasking": "skipped in the 4.57 mixin",
    "test_resize_position_vector_embeddings": "test_resize_position_embeddings is False",
    "test_sliding_window_mask": "no sliding window in this model",
    "test_generation_tester_mixin_inheritance": "checks the test classes' own inheritance",
    "test_model_from_pretrained, OPENAIGPTModelLanguageGenerationTest.test_lm_generate_openai_gpt": "the released "
    "weights from the Hub (slow tests in the reference)",
}


@pytest.fixture
def tester():
    return ModelTester()



# --- OpenAIGPTModelTest's own tests --------------------------------------------------------------
def test_openai_gpt_model(tester):
    config, input_ids, _, head_mask, token_type_ids, *_ = tester.prepare_config_and_inputs()
    model = TFOpenAIGPTModel(config=config)
    model(input_ids, token_type_ids=token_type_ids, head_mask=head_mask)
    model(input_ids, token_type_ids=token_type_ids)
    result = model(input_ids)
    assert tuple(result.last_hidden_state.shape) == (tester.batch_size, tester.seq_length, tester.hidden_size)


def test_openai_gpt_lm_head_model(tester):
    config, input_ids, _, _, token_type_ids, *_ = tester.prepare_config_and_inputs()
    result = TFOpenAIGPTLMHeadModel(config)(input_ids, token_type_ids=token_type_ids, labels=input_ids)
    assert tuple(result.loss.shape) == ()
    assert tuple(result.logits.shape) == (tester.batch_size, tester.seq_length, tester.vocab_size)


def test_openai_gpt_double_lm_head_model(tester):
    config, input_ids, _, _, token_type_ids, *_ = tester.prepare_config_and_inputs()
    result = TFOpenAIGPTDoubleHeadsModel(config)(input_ids, token_type_ids=token_type_ids, labels=input_ids)
    assert tuple(result.loss.shape) == ()
    assert tuple(result.logits.shape) == (tester.batch_size, tester.seq_length, tester.vocab_size)


def test_openai_gpt_classification_model(tester):
    config, input_ids, _, _, token_type_ids, *_ = tester.prepare_config_and_inputs()
    config.num_labels = tester.num_labels
    sequence_labels = tester.ids_tensor([tester.batch_size], tester.type_sequence_label_size)
    result = TFOpenAIGPTForSequenceClassification(config)(input_ids, token_type_ids=token_type_ids, labels=sequence_labels)
    assert tuple(result.logits.shape) == (tester.batch_size, tester.num_labels)


# --- ModelTesterMixin ----------------------------------------------------------------------------
def test_num_layers_is_small(tester):
    assert tester.num_hidden_layers <= 2


def _finite_part(array):
    array = np.array(array, dtype=np.float64)
    array[np.isnan(array)] = 0
    return array[~np.isneginf(array)]


@each_class
def test_save_load(model_class, tester, tmp_path):
    config, inputs_dict = tester.prepare_config_and_inputs_for_common_pt()
    model = model_class(config)
    first = model(**prepare_for_class_pt(tester, inputs_dict, model_class))[0]
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").exists()
    assert model.can_generate() == (tmp_path / "generation_config.json").exists()
    model = model_class.from_pretrained(tmp_path)
    second = model(**prepare_for_class_pt(tester, inputs_dict, model_class))[0]
    # Saved and loaded a second time: what from_pretrained adds to the config must load back too.
    model.save_pretrained(tmp_path)
    model_class.from_pretrained(tmp_path)
    assert np.amax(np.abs(_finite_part(first) - _finite_part(second))) <= 1e-5


def _batching_check(batched, single, name):
    if isinstance(batched, (list, tuple)):
        for batched_value, single_value in zip(batched, single):
            _batching_check(batched_value, single_value, name)
        return
    batched, single = np.asarray(batched), np.asarray(single)
    if batched.ndim == 0 or not np.issubdtype(batched.dtype, np.floating):
        return  # the loss, and integer outputs, are not compared (as in the reference)
    batched_row = batched[tuple(slice(0, size) for size in single.shape)]
    for label, value in (("Batched", batched_row), ("Single row", single)):
        assert not np.isnan(value).any(), f"{label} output has nan for key={name}"
        assert not np.isinf(value).any(), f"{label} output has inf for key={name}"
    np.testing.assert_allclose(batched_row, single, atol=1e-5, rtol=1e-5, err_msg=f"Batched and single row outputs differ for key={name}")


@each_class
def test_batching_equivalence(model_class, tester):
    config, batched_input = tester.prepare_config_and_inputs_for_common_pt()
    config.output_hidden_states = True
    batched_input = prepare_for_class_pt(tester, batched_input, model_class)
    model = model_class(copy.deepcopy(config))
    single_row_input = {
        key: value[: value.shape[0] // tester.batch_size] if value.shape[0] % tester.batch_size == 0 else value
        for key, value in batched_input.items()
    }
    batched_output = model(**batched_input)
    row_output = model(**single_row_input)
    for key in batched_output:
        _batching_check(batched_output[key], row_output[key], key)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES[1:], ids=class_ids(ALL_MODEL_CLASSES[1:]))
def test_training(model_class, tester):
    # The base model is skipped, as in the reference (it has no loss).
    config, inputs_dict = tester.prepare_config_and_inputs_for_common_pt()
    config.return_dict = True
    model = model_class(config)
    inputs = prepare_for_class_pt(tester, inputs_dict, model_class, return_labels=True)
    with tf.GradientTape() as tape:
        loss = model(**inputs, training=True).loss
    gradients = tape.gradient(loss, model.trainable_variables)
    assert any(gradient is not None for gradient in gradients)


@each_class
def test_attention_outputs(model_class, tester):
    config, inputs_dict = tester.prepare_config_and_inputs_for_common_pt()
    config.return_dict = True
    inputs_dict["output_attentions"] = True
    inputs_dict["output_hidden_states"] = False
    model = model_class(config)
    outputs = model(**prepare_for_class_pt(tester, inputs_dict, model_class))
    assert len(outputs.attentions) == tester.num_hidden_layers

    # output_attentions also works through the config.
    del inputs_dict["output_attentions"]
    config.output_attentions = True
    model = model_class(config)
    outputs = model(**prepare_for_class_pt(tester, inputs_dict, model_class))
    attentions = outputs.attentions
    assert len(attentions) == tester.num_hidden_layers
    assert list(attentions[0].shape[-3:]) == [tester.num_attention_heads, tester.seq_length, tester.seq_length]
    out_len = len(outputs)

    # Attentions come last, and the order is kept.
    inputs_dict["output_attentions"] = True
    inputs_dict["output_hidden_states"] = True
    model = model_class(config)
    outputs = model(**prepare_for_class_pt(tester, inputs_dict, model_class))
    assert len(outputs) == out_len + 1
    assert len(outputs.attentions) == tester.num_hidden_layers
    assert list(outputs.attentions[0].shape[-3:]) == [tester.num_attention_heads, tester.seq_length, tester.seq_length]


@each_class
def test_feed_forward_chunking(model_class, tester):
    # The reference builds both models from one seed; here the second takes the first's weights.
    original_config, inputs_dict = tester.prepare_config_and_inputs_for_common_pt()
    model = model_class(copy.deepcopy(original_config))
    hidden_states_no_chunk = model(**prepare_for_class_pt(tester, inputs_dict, model_class))[0]
    original_config.chunk_size_feed_forward = 1
    chunked = model_class(copy.deepcopy(original_config))
    chunked.set_weights(model.get_weights())
    hidden_states_with_chunk = chunked(**prepare_for_class_pt(tester, inputs_dict, model_class))[0]
    np.testing.assert_allclose(np.asarray(hidden_states_no_chunk), np.asarray(hidden_states_with_chunk), rtol=1e-3, atol=1e-3)


def _weight(embedding_layer):
    return np.asarray(embedding_layer.embeddings)


@each_class
def test_resize_tokens_embeddings(model_class, tester):
    original_config, inputs_dict = tester.prepare_config_and_inputs_for_common_pt()
    config = copy.deepcopy(original_config)
    model = model_class(config)
    type_before = type(model.get_input_embeddings())
    model_vocab_size = config.vocab_size
    cloned_embeddings = _weight(model.resize_token_embeddings(model_vocab_size))

    # A larger vocabulary enlarges the model's.
    model_embed = model.resize_token_embeddings(model_vocab_size + 10)
    assert model.config.vocab_size == model_vocab_size + 10
    weight = _weight(model_embed)
    assert weight.shape[0] == cloned_embeddings.shape[0] + 10
    assert type(model_embed) is type_before
    # The new rows' mean is close to the old rows' mean.
    np.testing.assert_allclose(weight[:-10].mean(axis=0), weight[-10:].mean(axis=0), rtol=1e-3, atol=1e-3)
    model(**prepare_for_class_pt(tester, inputs_dict, model_class))

    # A smaller one shrinks it; ids are clamped to the new size.
    model_embed = model.resize_token_embeddings(model_vocab_size - 15)
    assert model.config.vocab_size == model_vocab_size - 15
    assert _weight(model_embed).shape[0] == cloned_embeddings.shape[0] - 15
    inputs_dict["input_ids"] = tf.minimum(inputs_dict["input_ids"], model_vocab_size - 15 - 1)
    model(**prepare_for_class_pt(tester, inputs_dict, model_class))
    # Adding and removing rows kept the first ones.
    np.testing.assert_array_equal(cloned_embeddings[: model_vocab_size - 15], _weight(model_embed))

    # pad_to_multiple_of.
    model = model_class(copy.deepcopy(original_config))
    model.resize_token_embeddings(model_vocab_size + 10, pad_to_multiple_of=1)
    assert model.config.vocab_size == model_vocab_size + 10
    model_embed = model.resize_token_embeddings(model_vocab_size, pad_to_multiple_of=64)
    assert _weight(model_embed).shape[0] % 64 == 0
    assert _weight(model_embed).shape[0] == model.config.vocab_size
    model_embed = model.resize_token_embeddings(model_vocab_size + 13, pad_to_multiple_of=64)
    assert _weight(model_embed).shape[0] % 64 == 0
    model_embed = model.resize_token_embeddings(128, pad_to_multiple_of=64)
    assert _weight(model_embed).shape[0] == 128
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        model.resize_token_embeddings(model_vocab_size, pad_to_multiple_of=1.3)

    # A vocabulary smaller than the hidden size.
    config = copy.deepcopy(original_config)
    config.vocab_size = 4
    config.pad_token_id = 3
    model = model_class(config)
    cloned_embeddings = _weight(model.resize_token_embeddings(4))
    model_embed = model.resize_token_embeddings(4 + 10)
    assert model.config.vocab_size == 14
    weight = _weight(model_embed)
    assert weight.shape[0] == cloned_embeddings.shape[0] + 10
    assert type(model_embed) is type_before
    np.testing.assert_allclose(weight[:-10].mean(axis=0), weight[-10:].mean(axis=0), rtol=1e-3, atol=1e-3)


@each_class
def test_model_get_set_embeddings(model_class, tester):
    # The LM head here is the token embedding itself (as in the TF port), so the output embedding
    # is a Keras layer rather than a Linear.
    config, _ = tester.prepare_config_and_inputs_for_common_pt()
    model = model_class(copy.deepcopy(config))
    assert isinstance(model.get_input_embeddings(), keras.layers.Embedding)
    # The reference swaps in the module it is given (a 10 x 10 Embedding for a 32-wide model, which no
    # forward pass can then use). gpt_keras copies the given layer's table into its own embedding (a
    # deliberate difference, in the README's migration table), so the table given must fit the model:
    # a 10-row table of the model's width, which also resizes the vocabulary to 10.
    new_input_embedding_layer = keras.layers.Embedding(10, config.n_embd)
    model.set_input_embeddings(new_input_embedding_layer)
    np.testing.assert_array_equal(
        np.asarray(model.get_input_embeddings().embeddings), np.asarray(new_input_embedding_layer.embeddings)
    )
    assert model.config.vocab_size == 10
    with pytest.raises(ValueError):
        model.set_input_embeddings(keras.layers.Embedding(10, 10))  # not the model's width
    x = model.get_output_embeddings()
    assert x is None or isinstance(x, keras.layers.Layer)


@pytest.mark.parametrize("model_class", [TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification], ids=["TFOpenAIGPTDoubleHeadsModel", "TFOpenAIGPTForSequenceClassification"])
def test_correct_missing_keys(model_class, tester, tmp_path):
    # The models with weights outside the backbone (the LM head is the token embedding). The reference
    # saves `model.base_model`; here the base model class saves the same backbone.
    config, _ = tester.prepare_config_and_inputs_for_common_pt()
    model = model_class(config)
    base = TFOpenAIGPTModel(config)
    base.set_weights(model.transformer.get_weights())
    base.save_pretrained(tmp_path)
    model, loading_info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    assert len(loading_info["missing_keys"]) > 0


def test_tie_model_weights(tester):
    # The class with output embeddings: after a resize the LM head stays the token embedding.
    config, _ = tester.prepare_config_and_inputs_for_common_pt()
    model_tied = TFOpenAIGPTLMHeadModel(copy.deepcopy(config))
    params_tied = len(model_tied.weights)
    model_tied.resize_token_embeddings(config.vocab_size + 10)
    assert len(model_tied.weights) == params_tied
    assert model_tied.get_output_embeddings().embeddings is model_tied.get_input_embeddings().embeddings


@each_class
def test_can_use_safetensors(model_class, tester, tmp_path):
    config, _ = tester.prepare_config_and_inputs_for_common_pt()
    model_tied = model_class(config)
    model_tied.save_pretrained(tmp_path, safe_serialization=True)
    model_reloaded, infos = model_class.from_pretrained(tmp_path, output_loading_info=True)
    reloaded_state = model_reloaded.get_state_dict()
    for key, value in model_tied.get_state_dict().items():
        assert key in reloaded_state, f"Key {key} is missing from reloaded"
        np.testing.assert_array_equal(value, reloaded_state[key], err_msg=f"{model_class.__name__}: tensor {key}")
    assert infos["missing_keys"] == []
    # Tied weights stay one variable.
    output_embeddings = model_reloaded.get_output_embeddings()
    if output_embeddings is not None:
        assert output_embeddings.embeddings is model_reloaded.get_input_embeddings().embeddings


def test_inputs_embeds_matches_input_ids(tester):
    # The reference runs this for its base-model class only.
    config, inputs_dict = tester.prepare_config_and_inputs_for_common_pt()
    model = TFOpenAIGPTModel(config)
    inputs = prepare_for_class_pt(tester, inputs_dict, TFOpenAIGPTModel)
    pad_token_id = config.pad_token_id
    input_ids = inputs.pop("input_ids")
    input_ids = tf.where(input_ids == pad_token_id, pad_token_id - 1, input_ids)  # no padding in the ids
    inputs_embeds = model.get_input_embeddings()(input_ids)
    out_ids = model(input_ids=input_ids, **inputs)[0]
    out_embeds = model(inputs_embeds=inputs_embeds, **inputs)[0]
    np.testing.assert_allclose(np.asarray(out_embeds), np.asarray(out_ids), rtol=1.3e-6, atol=1e-5)


@pytest.mark.parametrize(
    "problem_type, num_labels, dtype",
    [("multi_label_classification", 2, "float32"), ("single_label_classification", 1, "int32"), ("regression", 1, "float32")],
)
def test_problem_types(problem_type, num_labels, dtype, tester):
    config, inputs_dict = tester.prepare_config_and_inputs_for_common_pt()
    model_class = SEQUENCE_LABEL_CLASSES[0]
    config.problem_type = problem_type
    config.num_labels = num_labels
    model = model_class(config)
    inputs = prepare_for_class_pt(tester, inputs_dict, model_class, return_labels=True)
    if num_labels > 1:
        inputs["labels"] = tf.repeat(inputs["labels"][:, None], num_labels, axis=1)
    inputs["labels"] = tf.cast(inputs["labels"], dtype)
    with tf.GradientTape() as tape:
        loss = model(**inputs, training=True).loss
    assert loss is not None and np.isfinite(np.asarray(loss)).all()
    assert any(gradient is not None for gradient in tape.gradient(loss, model.trainable_variables))


def test_can_load_ignoring_mismatched_shapes(tester, tmp_path, caplog):
    config, _ = tester.prepare_config_and_inputs_for_common_pt()
    configs_no_init = copy.deepcopy(config)
    configs_no_init.initializer_range = 0.0  # the reference's _config_zero_init
    configs_no_init.num_labels = 3
    model_class = TFOpenAIGPTForSequenceClassification
    model = model_class(configs_no_init)
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError):
        model_class.from_pretrained(tmp_path, num_labels=42)
    with caplog.at_level(logging.WARNING, logger="gpt_keras"):
        new_model = model_class.from_pretrained(tmp_path, num_labels=42, ignore_mismatched_sizes=True)
    assert "score.weight" in caplog.text and "shape" in caplog.text
    old_state, new_state = model.get_state_dict(), new_model.get_state_dict()
    assert list(old_state) == list(new_state)
    for name in old_state:
        if name.startswith("score."):
            assert old_state[name].shape[0] == 3  # (out, in), as the reference stores it
            assert new_state[name].shape[0] == 42
            assert new_state[name].mean() <= 1e-1, f"Issue with {name}"
        else:
            np.testing.assert_array_equal(old_state[name], new_state[name])


@each_class
def test_model_is_small(model_class, tester):
    config, _ = tester.prepare_config_and_inputs_for_common_pt()
    num_params = model_class(copy.deepcopy(config)).num_parameters()
    assert num_params < 1000000, f"{model_class} is too big for the common tests ({num_params})! It should have 1M max."


@each_class
def test_bc_torch_dtype(model_class, tester, tmp_path):
    # torch dtypes themselves are left out: the strings are what a TF user passes.
    config, _ = tester.prepare_config_and_inputs_for_common_pt()
    model_class(copy.deepcopy(config)).save_pretrained(tmp_path)
    for dtype in ["float16", "bfloat16", "float32", "auto"]:
        model_torch_dtype = model_class.from_pretrained(tmp_path, torch_dtype=dtype)
        model_dtype = model_class.from_pretrained(tmp_path, dtype=dtype)
        for v1, v2 in zip(model_torch_dtype.weights, model_dtype.weights):
            assert v1.path == v2.path
            assert v1.dtype == v2.dtype
            np.testing.assert_array_equal(np.asarray(v1), np.asarray(v2))
