"""Careless and hostile call arguments: every integer input is range-checked in its own dtype before any
cast (eagerly, in graphs, under XLA, in `generate` and in the exported signatures), XLA programs carry no
assertions, generation options are checked whole, and tiny temperatures sample greedily."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from gpt_keras import TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTLMHeadModel, export
from gpt_keras.decoding import GenerationConfig, warp_scores
from gpt_keras.layers import checks

SIZES = dict(vocab_size=50, n_layer=1)
WRAPS_TO_5 = 2**32 + 5  # int32(2**32 + 5) == 5
IDS = np.array([[1, 2, 3]])


@pytest.fixture(scope="module")
def lm():
    return TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))


def graph(fn):
    return tf.function(fn)


def xla(fn):
    return tf.function(fn, jit_compile=True)


# === Integer inputs: checked before the cast ===


@pytest.mark.parametrize("argument", ["input_ids", "token_type_ids", "position_ids"])
def test_int64_ids_that_would_wrap_are_refused_eagerly(lm, argument):
    wrapped = np.array([[1, 2, WRAPS_TO_5]], np.int64)
    inputs = {"input_ids": IDS, argument: wrapped}
    with pytest.raises(ValueError, match=rf"{argument} must be in \[0, \d+\), got value\(s\) \[{WRAPS_TO_5}\]"):
        lm(inputs)


def test_int64_ids_that_would_wrap_fail_in_a_graph_and_poison_xla(lm):
    wrapped = tf.constant([[1, 2, WRAPS_TO_5]], tf.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids must be < 50"):
        graph(lambda ids: lm(ids).logits)(wrapped)
    logits = xla(lambda ids: lm(ids).logits)(wrapped).numpy()
    assert np.isnan(logits[0, 2]).all(), "id 2**32 + 5 must not give the logits of id 5"
    position = tf.constant([[0, 1, 2**32 + 1]], tf.int64)
    logits = xla(lambda ids, p: lm(ids, position_ids=p).logits)(tf.constant(IDS), position).numpy()
    assert np.isnan(logits[0, 2]).all()


def test_a_label_that_would_wrap_to_the_ignore_index_is_refused(lm):
    labels = np.array([[1, 2**32 - 100, 3]], np.int64)  # int32: -100, "ignore"
    with pytest.raises(ValueError, match=r"labels must be in \[0, 50\) or -100 \(ignored\), got value\(s\) \[4294967196\]"):
        lm(IDS, labels=labels)
    loss = lambda ids, l: lm(ids, labels=l).loss
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < 50"):
        graph(loss)(tf.constant(IDS), tf.constant(labels))
    assert np.isnan(xla(loss)(tf.constant(IDS), tf.constant(labels)).numpy())


@pytest.mark.parametrize("values", [[1, 2, 1], [1, -1, 1], [1, 1, 2**32 + 1], [1.0, 0.5, 1.0]], ids=["2", "-1", "wraps_to_1", "0.5"])
def test_mask_values_other_than_0_and_1_are_refused(lm, values):
    mask = np.array([values], np.float32 if isinstance(values[1], float) else np.int64)
    with pytest.raises(ValueError, match=r"attention_mask must hold only 0 \(padding\) and 1 \(real token\), got value"):
        lm(IDS, attention_mask=mask)
    call = lambda ids, m: lm(ids, attention_mask=m).logits
    with pytest.raises(tf.errors.InvalidArgumentError, match="attention_mask must hold only 0"):
        graph(call)(tf.constant(IDS), tf.constant(mask))
    assert np.isnan(xla(call)(tf.constant(IDS), tf.constant(mask)).numpy()).all()


@pytest.mark.parametrize("dtype", [np.float32, np.bool_, np.uint8, np.int64])
def test_masks_of_0_and_1_work_in_any_dtype(lm, dtype):
    # Float masks are accepted as the reference accepts them (it casts any mask to its float dtype),
    # as long as they hold 0.0 and 1.0 only.
    mask = np.array([[1, 1, 0]])
    expected = lm(IDS, attention_mask=mask.astype(np.int32)).logits.numpy()
    np.testing.assert_array_equal(lm(IDS, attention_mask=mask.astype(dtype)).logits.numpy(), expected)


def test_boolean_ids_are_refused_and_unsigned_ids_checked_exactly(lm):
    for ids in (np.array([[True, False]]), tf.constant([[True, False]])):
        with pytest.raises(TypeError, match="input_ids must hold integers, got a (numpy array|tensor) of bool"):
            lm(ids)
    expected = lm(IDS.astype(np.int32)).logits.numpy()
    np.testing.assert_array_equal(lm(IDS.astype(np.uint64)).logits.numpy(), expected)
    huge = np.array([[1, 2**63 + 1]], np.uint64)
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 50\), got value\(s\) \[9223372036854775809\]"):
        lm(huge)
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids must be < 50"):
        graph(lambda ids: lm(ids).logits)(tf.constant(huge))
    with pytest.raises(ValueError, match=r"got value\(s\) \[1180591620717411303424\]"):
        lm(IDS, token_type_ids=[[1, 2, 2**70]])  # beyond int64: numpy keeps Python ints


def test_multiple_choice_token_ids_that_would_wrap_are_refused():
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config(**SIZES))
    ids = np.ones((1, 2, 5), np.int32)
    with pytest.raises(ValueError, match=r"mc_token_ids must be in \[0, 5\)"):
        model(ids, mc_token_ids=np.array([[4, 2**32 + 1]], np.int64))
    with pytest.raises(TypeError, match="mc_token_ids must hold integers"):
        model(ids, mc_token_ids=np.array([[True, False]]))
    # A length known only when the graph runs: the summary's own check, also before the cast.
    spec = [tf.TensorSpec((None, None, None), tf.int32), tf.TensorSpec((None, None), tf.int64)]
    call = tf.function(lambda i, m: model(i, mc_token_ids=m).mc_logits, input_signature=spec)
    mc_logits = call(ids, np.array([[4, 2**32 + 1]], np.int64)).numpy()
    assert np.isfinite(mc_logits[0, 0]) and np.isnan(mc_logits[0, 1])


def test_generate_checks_ids_and_mask_before_the_cast(lm):
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 50\) \(padding included\), got \[4294967301\]"):
        lm.generate(np.array([[1, WRAPS_TO_5]], np.int64), max_new_tokens=2)
    with pytest.raises(ValueError, match=r"attention_mask must hold only 0 \(padding\) and 1"):
        lm.generate(np.array([[1, 2]]), np.array([[1, 2**32 + 1]], np.int64), max_new_tokens=2)
    with pytest.raises(TypeError, match="input_ids must hold integers, got a numpy array of bool"):
        lm.generate(np.array([[True, True]]), max_new_tokens=2)
    greedy = lm.generate(np.array([[1, 2]]), np.array([[1, 1]]), max_new_tokens=3).numpy()
    for mask in (np.array([[1.0, 1.0]], np.float32), np.array([[True, True]])):
        np.testing.assert_array_equal(lm.generate(np.array([[1, 2]]), mask, max_new_tokens=3).numpy(), greedy)


def test_a_top_k_beyond_int32_keeps_every_token(lm):
    sample = lambda top_k: lm.generate(IDS, max_new_tokens=6, do_sample=True, seed=7, top_k=top_k).numpy()
    everything, two = sample(0), sample(2)
    assert not np.array_equal(everything, two), "pick a seed where top_k=2 changes the sample"
    np.testing.assert_array_equal(sample(2**32 + 2), everything)  # int32 would make it 2


def test_the_exported_signatures_take_int32_only(lm):
    serve = export._forward_function(lm)
    mask = tf.ones((1, 3), tf.int32)
    assert serve(tf.constant(IDS, tf.int32), mask)["logits"].shape == (1, 3, 50)
    with pytest.raises((TypeError, ValueError), match="int64|int32"):
        serve(tf.constant([[1, 2, WRAPS_TO_5]], tf.int64), mask)


# === XLA programs carry no assertions; graphs keep them ===


def _op_types(concrete_function):
    graph_def = concrete_function.graph.as_graph_def()
    types = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        types |= {node.op for node in function.node_def}
    return types


def test_in_xla_program_tells_xla_traces_apart():
    seen = {}

    def probe(name):
        def fn(x):
            seen[name] = checks.in_xla_program()
            return tf.cond(x > 0, lambda: x + int(seen.setdefault(name + " in cond", checks.in_xla_program())), lambda: x)

        return fn

    tf.function(probe("xla"), jit_compile=True)(tf.constant(1))
    tf.function(probe("graph"))(tf.constant(1))
    assert seen == {"xla": True, "xla in cond": True, "graph": False, "graph in cond": False}
    assert not checks.in_xla_program()


def test_a_compiled_training_step_has_no_assert_ops_and_still_trains():
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    model.compile(optimizer="adam", jit_compile=True)
    ids = np.random.default_rng(0).integers(0, 50, (4, 6))
    data = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids, "position_ids": np.tile(np.arange(6), (4, 1)), "labels": ids}
    history = model.fit(data, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    batch = {name: tf.constant(value[:2]) for name, value in data.items()}
    compiled = tf.function(model.train_step, jit_compile=True).get_concrete_function(batch)
    assert "Assert" not in _op_types(compiled)
    # The same step traced as a plain graph keeps its assertions, so the inspection would see them.
    assert "Assert" in _op_types(tf.function(model.train_step).get_concrete_function(batch))


def test_bad_values_in_a_compiled_training_step_give_nan_and_in_a_graph_step_an_error_naming_them():
    ids = np.array([[1, 2, 3, 4]])
    bad = {"input_ids": np.array([[1, 2, WRAPS_TO_5, 4]], np.int64), "labels": ids}
    for jit_compile in (True, False):
        model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
        model.compile(optimizer="adam", jit_compile=jit_compile)
        if jit_compile:
            assert np.isnan(model.test_on_batch(bad))
        else:
            with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids must be < 50"):
                model.test_on_batch(bad)
            with pytest.raises(tf.errors.InvalidArgumentError, match="attention_mask must hold only 0"):
                model.test_on_batch({"input_ids": ids, "attention_mask": np.array([[1, 1, 2, 1]]), "labels": ids})


# === Generation options ===


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(max_new_tokens=float("inf")), "max_new_tokens must be an integer >= 1, got inf"),
        (dict(max_new_tokens=float("nan")), "max_new_tokens must be an integer >= 1, got nan"),
        (dict(top_k=float("inf")), r"top_k must be an integer >= 0 \(0 disables it\), got inf"),
        (dict(top_k=float("nan")), "top_k must be an integer >= 0 .*, got nan"),
        (dict(num_beams=float("inf")), "num_beams must be an integer >= 1, got inf"),
        (dict(num_beams=float("nan")), "num_beams must be an integer >= 1, got nan"),
        (dict(repetition_penalty=float("inf")), "repetition_penalty must be > 0, got inf"),
        (dict(max_length=float("inf")), "max_length must be a finite number"),
        (dict(length_penalty=float("nan"), num_beams=2), "length_penalty must be a finite number, got nan"),
        (dict(temperature=float("inf"), do_sample=True), "temperature must be > 0 when do_sample is true, got inf"),
        (dict(temperature=float("inf")), "temperature must be a finite number, got inf"),
        (dict(eos_token_id="abc"), "eos_token_id must be an int or a list of ints, got 'abc'"),
        (dict(eos_token_id=[3, "x"]), "eos_token_id must be a number, got 'x'"),
        (dict(eos_token_id=2**40), r"eos_token_id must be an integer in \[-2147483648, 2147483647\]"),
        (dict(pad_token_id=2**40), r"pad_token_id must be an integer in \[-2147483648, 2147483647\] \(an id of the int32 sequences\), got 1099511627776"),
        (dict(pad_token_id=1.5), "pad_token_id must be an integer"),
        (dict(seed=1.2, do_sample=True), "seed must be an integer, got 1.2"),
        (dict(seed=float("nan"), do_sample=True), "seed must be a finite number, got nan"),
        (dict(top_k=10**400), None),  # a 400-digit top_k keeps every token: accepted, not an OverflowError
    ],
    ids=lambda value: str(value)[:40],
)
def test_generation_options_are_checked_naming_them(options, message):
    if message is None:
        assert GenerationConfig(**options).validate().controls(1).top_k == 2**31 - 1
        return
    with pytest.raises(ValueError, match=message):
        GenerationConfig(**options).validate()


def test_bad_options_fail_in_generate_before_any_program_is_traced(lm):
    before = lm.generation_trace_count
    for options in (dict(pad_token_id=2**40), dict(eos_token_id="abc"), dict(max_new_tokens=float("inf")), dict(seed=1.9, do_sample=True)):
        with pytest.raises(ValueError):
            lm.generate(IDS, **{"max_new_tokens": 2, **options})
    assert lm.generation_trace_count == before
    whole = lm.generate(IDS, max_new_tokens=3, do_sample=True, seed=2.0).numpy()
    np.testing.assert_array_equal(whole, lm.generate(IDS, max_new_tokens=3, do_sample=True, seed=2).numpy())


# === Tiny temperatures: the limit is greedy ===


def test_warping_by_a_tiny_temperature_keeps_the_best_token_on_top():
    scores = tf.constant([[1.0, 3.0, 2.0, -1.0], [-5.0, -6.0, -4.0, -7.0]])
    for temperature in (1e-38, 1e-45, 0.0):
        warped = warp_scores(scores, temperature, 0, 1.0).numpy()
        np.testing.assert_array_equal(np.argmax(warped, axis=-1), [1, 2])
        assert (warped[[0, 1], [1, 2]] == 0).all() and np.isneginf(np.delete(warped, [1, 6])).all(), warped


@pytest.mark.parametrize("temperature", [1e-38, 1e-45])
def test_sampling_at_a_tiny_temperature_is_greedy(lm, temperature):
    prompts = np.array([[1, 2, 3], [4, 5, 6]])
    greedy = lm.generate(prompts, max_new_tokens=5).numpy()
    for seed in (0, 1):
        sampled = lm.generate(prompts, max_new_tokens=5, do_sample=True, temperature=temperature, seed=seed)
        np.testing.assert_array_equal(sampled.numpy(), greedy)


@pytest.mark.parametrize("chunk_size", [float("inf"), float("nan"), 0, 2.5])
def test_a_bad_streaming_chunk_size_is_named(chunk_size):
    model = TFOpenAIGPTLMHeadModel(tiny_config(**SIZES))
    with pytest.raises(ValueError, match="chunk_size must be"):
        next(model.stream(np.ones((1, 3), "int32"), chunk_size=chunk_size, max_new_tokens=2))
