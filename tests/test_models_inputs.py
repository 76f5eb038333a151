"""Bad inputs get a clear exception naming the problem (or, under XLA, a NaN instead of plausible numbers)."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from gpt_keras import TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTLMHeadModel
from gpt_keras.layers.checks import check_ids_in_range, check_mask_values

# The messages below name vocab_size 50; one layer gives two hidden states (embeddings, the block).
SIZES = dict(vocab_size=50, n_layer=1)


@pytest.fixture(scope="module")
def lm():
    return TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))


@pytest.mark.parametrize("bad_id", [-1, 50, 10**6])
def test_out_of_range_ids_raise_eagerly(lm, bad_id):
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 50\)"):
        lm(np.array([[1, 2, bad_id]]))


def test_out_of_range_ids_raise_in_a_traced_graph(lm):
    fn = tf.function(lambda ids: lm(ids).logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids must be < 50"):
        fn(tf.constant([[1, 2, 50]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids must be >= 0"):
        fn(tf.constant([[1, -2, 3]]))


def test_out_of_range_ids_poison_xla_output_with_nan(lm):
    fn = tf.function(lambda ids: lm(ids).logits, jit_compile=True)
    good = fn(tf.constant([[1, 2, 3]])).numpy()
    bad = fn(tf.constant([[1, 2, 50]])).numpy()
    assert np.isfinite(good).all()
    assert np.isnan(bad[0, 2]).all(), "an out-of-range id must not give plausible logits under XLA"


def test_token_type_and_position_ids_are_range_checked(lm):
    ids = np.array([[1, 2, 3]])
    with pytest.raises(ValueError, match="token_type_ids"):
        lm(ids, token_type_ids=np.array([[0, 0, 99]]))
    with pytest.raises(ValueError, match=r"position_ids must be in \[0, 16\)"):
        lm(ids, position_ids=np.array([[0, 1, 16]]))


def test_sequence_longer_than_n_positions(lm):
    with pytest.raises(ValueError, match="sequence length 17 is longer than the model's n_positions=16"):
        lm(np.ones((1, 17), np.int32))


def test_sequence_longer_than_n_positions_in_a_traced_graph(lm):
    fn = tf.function(lambda ids: lm(ids).logits, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    assert fn(tf.ones((1, 16), tf.int32)).shape == (1, 16, 50)
    with pytest.raises(tf.errors.InvalidArgumentError, match="sequence length is longer than n_positions=16"):
        fn(tf.ones((1, 17), tf.int32))


@pytest.mark.parametrize("shape", [(3,), (1, 2, 3)])
def test_wrong_rank(lm, shape):
    with pytest.raises(ValueError, match=r"input_ids must have rank 2 \(batch, seq\)"):
        lm(np.ones(shape, np.int32))


@pytest.mark.parametrize("shape", [(5,), (1, 2, 2, 5)])
def test_double_heads_needs_choices_axis(shape):
    # (choices, seq) is one example without its batch axis (tests/test_migration_model_api.py).
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES))
    with pytest.raises(ValueError, match=r"rank 3 \(batch, choices, seq\)"):
        model(np.ones(shape, np.int32))


def test_double_heads_mc_token_ids_are_range_checked():
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES))
    with pytest.raises(ValueError, match=r"mc_token_ids must be in \[0, 5\)"):
        model(np.ones((1, 2, 5), np.int32), mc_token_ids=np.array([[4, 5]]))


def test_mask_shape_mismatch(lm):
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 2\) but input_ids has shape \(1, 3\)"):
        lm(np.array([[1, 2, 3]]), attention_mask=np.array([[1, 1]]))


def test_float_ids_are_refused(lm):
    with pytest.raises(TypeError, match="input_ids must hold integers"):
        lm(np.array([[1.0, 2.0]]))


def test_ids_and_embeds_are_exclusive(lm):
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        lm(np.array([[1, 2]]), inputs_embeds=np.zeros((1, 2, 16), np.float32))
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        lm()


@pytest.mark.parametrize("shape", [(3, 2), (3,)])
def test_head_mask_shape(lm, shape):
    with pytest.raises(ValueError, match=r"head_mask must have shape \(n_head,\) or \(n_layer, n_head\)"):
        lm(np.array([[1, 2]]), head_mask=np.ones(shape, np.float32))


def test_inputs_embeds_width(lm):
    with pytest.raises(ValueError, match="inputs_embeds must have n_embd=16 features in its last axis, got 8"):
        lm(inputs_embeds=np.zeros((1, 2, 8), np.float32))


def test_mask_shape_mismatch_in_a_traced_graph_with_dynamic_shapes(lm):
    spec = tf.TensorSpec((None, None), tf.int32)
    call = tf.function(lambda ids, mask: lm(ids, attention_mask=mask).logits, input_signature=[spec, spec])
    np.testing.assert_array_equal(call(np.ones((2, 4), np.int32), np.ones((2, 4), np.int32)).shape, (2, 4, 50))
    with pytest.raises(tf.errors.InvalidArgumentError, match="attention_mask must have the shape of input_ids"):
        call(np.ones((2, 4), np.int32), np.ones((2, 1), np.int32))


def test_unknown_input_key(lm):
    with pytest.raises(ValueError, match="unknown input keys"):
        lm({"input_ids": np.array([[1, 2]]), "input_idz": np.array([[1, 2]])})


def test_foreign_keras_backend_is_overridden_with_a_warning():
    code = "import gpt_keras, keras; print(keras.backend.backend())"
    env = {"KERAS_BACKEND": "jax", "PATH": ""}
    result = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "tensorflow"
    assert "KERAS_BACKEND='jax' is not supported by gpt_keras" in result.stderr


def test_keras_already_on_another_backend_is_refused(monkeypatch):
    import types

    from gpt_keras._backend import ensure_tensorflow_backend

    stub = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setitem(sys.modules, "keras", stub)
    with pytest.raises(ImportError, match="gpt_keras needs the Keras 'tensorflow' backend, but Keras was already imported with backend 'jax'"):
        ensure_tensorflow_backend()


def test_tensor_inputs_mix_with_output_flags():
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES))
    out = model(tf.ones((1, 2, 5), tf.int32), mc_token_ids=tf.constant([[4, 4]]), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 2 and out.hidden_states[0].shape == (1, 2, 5, 16)
    assert out.attentions[0].shape == (1, 2, 2, 5, 5)


def test_inputs_a_model_has_no_head_for_are_refused(lm):
    with pytest.raises(ValueError, match="TFOpenAIGPTLMHeadModel takes no mc_labels"):
        lm(np.array([[1, 2]]), mc_labels=np.array([0]))


def test_out_of_range_labels_raise_eagerly(lm):
    with pytest.raises(ValueError, match=r"labels must be in \[0, 50\) or -100"):
        lm(np.array([[1, 2, 3]]), labels=np.array([[1, 50, 3]]))
    # -100 is the documented "ignore" value, not an error
    assert np.isfinite(lm(np.array([[1, 2, 3]]), labels=np.array([[1, -100, 3]])).loss)


def test_out_of_range_labels_fail_in_a_traced_graph_and_poison_xla(lm):
    ids, labels = tf.constant([[1, 2, 3]]), tf.constant([[1, 2, 77]])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be < 50 \(allowed: \[0, 50\) or -100"):
        tf.function(lambda i, l: lm(i, labels=l).loss)(ids, labels)
    loss = tf.function(lambda i, l: lm(i, labels=l).loss, jit_compile=True)(ids, labels)
    assert np.isnan(loss.numpy())


@pytest.mark.parametrize(
    "check, dtype", [(lambda x: check_ids_in_range(x, 50, "labels", ignore_index=-100), tf.int32), (check_mask_values, tf.float32)]
)
def test_in_a_graph_what_a_check_returns_waits_for_the_check(check, dtype):
    # Values already of the returned dtype: a bare cast would hand them back untouched, and the op that
    # reads them (the loss) would race the assertion, failing with its own message or not at all.
    # (Not the function's output, which tf.function makes wait for every assertion, but an op inside.)
    reader = tf.function(lambda x: tf.math.negative(check(x)))
    graph = reader.get_concrete_function(tf.TensorSpec([None, None], dtype)).graph
    (negative,) = [op for op in graph.get_operations() if op.type == "Neg"]
    returned = negative.inputs[0]
    waits_for, pending = set(), list(returned.op.control_inputs)
    while pending:  # through the NoOps that group control dependencies
        op = pending.pop()
        waits_for.add(op.type)
        pending += op.control_inputs
    assert "Assert" in waits_for, f"{returned.op.type} does not wait for the check ({waits_for or 'nothing'})"


def test_out_of_range_multiple_choice_labels_raise():
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES))
    ids = np.ones((2, 3, 4), np.int32)
    with pytest.raises(ValueError, match=r"mc_labels must be in \[0, 3\)"):
        model(ids, mc_token_ids=np.full((2, 3), 3), mc_labels=np.array([0, 3]))


def test_a_cache_write_past_its_end_is_refused():
    from gpt_keras.layers import CausalSelfAttention

    attention = CausalSelfAttention(num_heads=2)
    hidden = np.zeros((1, 3, 8), np.float32)
    attention.build(hidden.shape)
    cache = (np.zeros((2, 4, 4), np.float32), np.zeros((2, 4, 4), np.float32))
    attention(hidden, cache=cache, cache_index=1)  # slots 1..3 of 4: fine
    with pytest.raises(ValueError, match="cache_index \\+ seq = 5 exceeds the cache's 4 slots"):
        attention(hidden, cache=cache, cache_index=2)


def test_one_token_sequences_give_no_warning(lm, recwarn):
    lm(np.array([[1], [2]]))
    assert not [w for w in recwarn if "softmax" in str(w.message)]
