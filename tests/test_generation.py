"""Generation: parity with the reference's fixtures, the KV cache, padding, sampling, compilation reuse.

XLA compiles cost seconds each, so the tests share a few programs: batch-1 and batch-3 prompts of
width <= 8 with 20 new tokens (greedy and sampling share one program) and 12-token beam search.
"""
import numpy as np
import pytest
import tensorflow as tf

from gpt_keras import TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTLMHeadModel
from gpt_keras.decoding import DecodingOptions, build_generate_fn, forward_tokens, prefill, process_scores, warp_scores
from gpt_keras.decoding.request import _keep_last_tokens

PROMPTS = range(3)


@pytest.fixture(scope="module")
def model(tiny_dir):
    return TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")


@pytest.fixture(scope="module")
def prompts(expected):
    return [expected[f"gen.prompt.{k}"].astype(np.int32) for k in PROMPTS]


def pad_batch(rows, side, pad=0):
    """Stacks 1-D prompts into (batch, width) ids and mask, padded on the given side."""
    width = max(len(row) for row in rows)
    ids = np.full((len(rows), width), pad, np.int32)
    mask = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        ids[i, span], mask[i, span] = row, 1
    return ids, mask


def new_tokens(sequences, width):
    return np.asarray(sequences)[:, width:]


# === Parity with the reference ===


@pytest.mark.parametrize("k", PROMPTS)
def test_greedy_matches_reference(model, expected, k):
    prompt = expected[f"gen.prompt.{k}"][None]
    got = model.generate(prompt, max_new_tokens=20).numpy()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got[0], expected[f"gen.greedy.{k}"])


@pytest.mark.parametrize("k", PROMPTS)
def test_beam_search_matches_reference(model, expected, k):
    prompt = expected[f"gen.prompt.{k}"][None]
    got = model.generate(prompt, max_new_tokens=12, num_beams=4, length_penalty=1.0, early_stopping=False)
    np.testing.assert_array_equal(got.numpy()[0], expected[f"gen.beam4.{k}"])


# === Padding: a prompt gives the same tokens alone and in any batch ===


@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_mixed_lengths_equal_one_by_one(model, prompts, expected, side):
    ids, mask = pad_batch(prompts, side, pad=7)
    got = model.generate(ids, mask, max_new_tokens=20).numpy()
    np.testing.assert_array_equal(got[:, : ids.shape[1]], ids)  # the prompts come back as given
    for k, prompt in enumerate(prompts):
        np.testing.assert_array_equal(new_tokens(got, ids.shape[1])[k], expected[f"gen.greedy.{k}"][len(prompt) :])


def test_batched_beam_search_equals_one_by_one(model, prompts, expected):
    ids, mask = pad_batch(prompts, "left")
    got = model.generate(ids, mask, max_new_tokens=12, num_beams=4).numpy()
    for k, prompt in enumerate(prompts):
        np.testing.assert_array_equal(new_tokens(got, ids.shape[1])[k], expected[f"gen.beam4.{k}"][len(prompt) :])


def test_cache_steps_match_full_forward_with_padding(model):
    """Prefill then one token per step gives the full forward's logits at every position."""
    rng = np.random.RandomState(0)
    full = [rng.randint(0, 1000, 12).astype(np.int32), rng.randint(0, 1000, 9).astype(np.int32)]
    prompt_lengths = [5, 2]
    options = DecodingOptions()
    for side in ("left", "right"):
        ids, mask = pad_batch([row[:n] for row, n in zip(full, prompt_lengths)], side)
        state = prefill(model, tf.constant(ids), tf.constant(mask), 16, options)
        steps = [state.logits]
        for step in range(6):
            next_ids = tf.constant([row[n + step] for row, n in zip(full, prompt_lengths)], tf.int32)
            cache, logits = forward_tokens(model, state, next_ids)
            state = state._replace(cache=cache, lengths=state.lengths + 1, step=state.step + 1)
            steps.append(logits)
        steps = np.stack([s.numpy() for s in steps], axis=1)  # (batch, 7, vocab)
        for i, (row, n) in enumerate(zip(full, prompt_lengths)):
            reference = model(row[None, : n + 6]).logits.numpy()[0, n - 1 :]
            np.testing.assert_allclose(steps[i], reference, atol=1e-5, rtol=0, err_msg=f"{side} padding, row {i}")


# === Sampling ===


def test_seeded_sampling_is_reproducible_and_seed_dependent(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    sample = dict(max_new_tokens=20, do_sample=True, temperature=1.5)
    first = model.generate(ids, mask, seed=11, **sample).numpy()
    again = model.generate(ids, mask, seed=11, **sample).numpy()
    other = model.generate(ids, mask, seed=12, **sample).numpy()
    greedy = model.generate(ids, mask, max_new_tokens=20).numpy()
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()
    assert (first != greedy).any()


def test_top_k_1_sampling_equals_greedy(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    sampled = model.generate(ids, mask, max_new_tokens=20, do_sample=True, top_k=1, temperature=3.0, seed=5)
    greedy = model.generate(ids, mask, max_new_tokens=20)
    np.testing.assert_array_equal(sampled.numpy(), greedy.numpy())


def test_sampling_draws_from_the_softmax(model):
    """Token frequencies over many seeds follow softmax(logits / temperature) (chi-square bound)."""
    prompt = np.array([[5, 6, 7]], np.int32)
    logits = model(prompt).logits.numpy()[0, -1] / 2.0
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    # 64 sampled rows per call (one prompt, num_return_sequences=64), 8 calls; top_k=0: the whole softmax.
    sample = dict(max_new_tokens=1, do_sample=True, temperature=2.0, top_k=0, num_return_sequences=64)
    draws = np.concatenate([model.generate(prompt, seed=s, **sample).numpy()[:, -1] for s in range(8)])
    top = np.argsort(probabilities)[::-1][:5]
    observed = np.array([(draws == t).sum() for t in top] + [np.isin(draws, top, invert=True).sum()])
    expected_counts = len(draws) * np.append(probabilities[top], 1 - probabilities[top].sum())
    chi_square = ((observed - expected_counts) ** 2 / expected_counts).sum()
    assert chi_square < 20.5, (observed, expected_counts)  # p = 0.001 at 5 degrees of freedom


def test_warp_scores_top_k_and_top_p():
    scores = tf.math.log(tf.constant([[0.05, 0.4, 0.1, 0.3, 0.15]]))
    keep = lambda warped: np.isfinite(warped.numpy()[0]).tolist()
    assert keep(warp_scores(scores, 1.0, 2, 1.0)) == [False, True, False, True, False]
    # Nucleus 0.8: 0.4 + 0.3 + 0.15 covers it; the 0.1 and 0.05 tails (mass 0.15 <= 0.2) go.
    assert keep(warp_scores(scores, 1.0, 0, 0.8)) == [False, True, False, True, True]
    assert keep(warp_scores(scores, 1.0, 0, 0.01)) == [False, True, False, False, False]
    assert keep(warp_scores(scores, 1.0, 0, 0.01, min_tokens_to_keep=2)) == [False, True, False, True, False]
    np.testing.assert_allclose(warp_scores(scores, 2.0, 0, 1.0).numpy(), scores.numpy() / 2.0, rtol=1e-6)


# === Logits processors (the reference's rules, computed independently here) ===


def test_repetition_penalty_and_no_repeat_ngram_processors():
    history = np.array([[3, 1, 3, 2, 3, 1, 0, 0]], np.int32)  # 6 real tokens, then padding
    state = {"history": tf.constant(history), "lengths": tf.constant([6]), "step": tf.constant(0)}
    scores = tf.constant([[1.0, -2.0, 0.5, 4.0, -1.0]])
    penalized = process_scores(scores, DecodingOptions(repetition_penalty=2.0), **state).numpy()
    np.testing.assert_allclose(penalized, [[1.0, -4.0, 0.25, 2.0, -1.0]])  # tokens 1, 2, 3 seen
    # Last token 1; bigrams starting with 1: (1, 3) -> 3 banned. Trigrams ending after (3, 1): (3, 1, 3).
    for size, banned in ((2, [3]), (3, [3]), (1, [1, 2, 3])):
        got = process_scores(scores, DecodingOptions(no_repeat_ngram_size=size), **state).numpy()[0]
        assert np.flatnonzero(np.isinf(got)).tolist() == banned, size
    options = DecodingOptions(eos_token_ids=(4, 0))
    floor = tf.constant(2)
    early = process_scores(scores, options, **dict(state, step=tf.constant(1)), min_new_tokens=floor).numpy()[0]
    assert np.isinf(early[[0, 4]]).all() and np.isfinite(early[1:4]).all()
    late = process_scores(scores, options, **dict(state, step=tf.constant(2)), min_new_tokens=floor).numpy()[0]
    np.testing.assert_array_equal(late, scores.numpy()[0])


def test_bad_words_processor_bans_completions_of_real_tokens():
    # Row 0: 6 real tokens (.. 2, 3, 1), then padding 0; row 1: one real token, 3.
    history = tf.constant([[3, 1, 3, 2, 3, 1, 0, 0], [3, 0, 0, 0, 0, 0, 0, 0]])
    state = {"history": history, "lengths": tf.constant([6, 1]), "step": tf.constant(0)}
    scores = tf.zeros((2, 5))
    # [4] always; [3, 1, 2] after ..3, 1; [1, 0] after ..1; [0, 0, 3] never (padding is no prefix);
    # [2, 3, 4]'s prefix is not at the end.
    words = ((4,), (3, 1, 2), (1, 0), (0, 0, 3), (2, 3, 4))
    got = process_scores(scores, DecodingOptions(bad_words_ids=words), **state).numpy()
    assert [np.flatnonzero(np.isinf(row)).tolist() for row in got] == [[0, 2, 4], [4]]
    assert np.isneginf(got[np.isinf(got)]).all()


def test_no_repeat_ngram_generation_has_no_repeated_bigram(model, expected):
    prompt = expected["gen.prompt.0"][None]
    tokens = model.generate(prompt, max_new_tokens=20, no_repeat_ngram_size=2).numpy()[0].tolist()
    bigrams = list(zip(tokens, tokens[1:]))
    assert len(bigrams) == len(set(bigrams))
    assert tokens != expected["gen.greedy.0"].tolist()  # the greedy path repeats (55, 55)


def test_eos_ends_rows_and_pads_them(model, prompts, expected):
    eos = int(expected["gen.greedy.0"][7])  # the third new token of prompt 0; absent from prompt 1's path
    assert eos not in expected["gen.greedy.1"][3:].tolist()
    ids, mask = pad_batch(prompts[:2], "left")
    got = model.generate(ids, mask, max_new_tokens=20, eos_token_id=[eos, 999], pad_token_id=1).numpy()
    width = ids.shape[1]
    np.testing.assert_array_equal(got[0, width:], np.r_[expected["gen.greedy.0"][5:8], [1] * 17])
    np.testing.assert_array_equal(got[1, width:], expected["gen.greedy.1"][3:])
    alone = model.generate(prompts[0][None], max_new_tokens=20, eos_token_id=eos).numpy()
    np.testing.assert_array_equal(alone[0], expected["gen.greedy.0"][:8])  # stops when every row ended


@pytest.mark.parametrize("pad", [-1, 1000])
def test_a_pad_id_outside_the_vocabulary_only_fills_finished_rows(model, prompts, expected, pad):
    # -1 and an added <pad> (= vocab_size) are common pad ids; the reference only writes them into rows
    # that have finished, so the model never reads them.
    alone = model.generate(prompts[0][None], max_new_tokens=20, pad_token_id=pad).numpy()
    np.testing.assert_array_equal(alone[0], expected["gen.greedy.0"])
    eos = int(expected["gen.greedy.0"][7])
    ids, mask = pad_batch(prompts[:2], "left")
    got = model.generate(ids, mask, max_new_tokens=20, eos_token_id=eos, pad_token_id=pad).numpy()
    width = ids.shape[1]
    np.testing.assert_array_equal(got[0, width:], np.r_[expected["gen.greedy.0"][5:8], [pad] * 17])
    np.testing.assert_array_equal(got[1, width:], expected["gen.greedy.1"][3:])


# === Compilation ===


def test_calls_within_a_bucket_reuse_the_compiled_program(model, prompts):
    model.generate(prompts[0][None], max_new_tokens=20)
    traces = model.generation_trace_count
    assert traces >= 1
    for prompt, new in ((prompts[1], 17), (prompts[2], 32), (prompts[0][:1], 20)):
        model.generate(prompt[None], max_new_tokens=new, do_sample=True, top_p=0.9, top_k=5, seed=3)
    assert model.generation_trace_count == traces


def test_eager_run_equals_compiled_for_seeded_sampling(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    compiled = model.generate(ids, mask, max_new_tokens=20, do_sample=True, top_k=0, top_p=0.95, seed=21).numpy()
    eager_fn = build_generate_fn(model, 40, jit_compile=False)
    bucketed_ids, bucketed_mask = np.pad(ids, ((0, 0), (1, 0))), np.pad(mask, ((0, 0), (1, 0)))  # width 8
    controls = (tf.constant(20), tf.constant(1.0), tf.constant(0), tf.constant(0.95), tf.constant(21), tf.constant(True))
    eager = eager_fn(tf.constant(bucketed_ids), tf.constant(bucketed_mask), *controls)
    np.testing.assert_array_equal(eager["sequences"].numpy()[:, 8:28], compiled[:, ids.shape[1] :])


def test_double_heads_model_generates_greedily(tiny_dir):
    model = TFOpenAIGPTDoubleHeadsModel.from_pretrained(tiny_dir / "double-heads")
    tokens = [3, 14, 15]
    for _ in range(5):  # greedy by repeated full forward passes
        logits = model(np.array([[tokens]], np.int32)).logits.numpy()[0, 0, -1]
        tokens.append(int(np.argmax(logits)))
    got = model.generate(np.array([tokens[:3]]), max_new_tokens=5).numpy()[0]
    np.testing.assert_array_equal(got, tokens)


# === Bad input ===


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(do_sample=True, temperature=0.0), "temperature"),
        (dict(do_sample=True, temperature=-1.0), "temperature"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(top_k=-1), "top_k"),
        (dict(num_beams=0), "num_beams"),
        (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
        (dict(num_return_sequences=2), "num_return_sequences"),
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(max_new_tokens=60), "n_positions"),
        (dict(repetition_penalty=0.0), "repetition_penalty"),
        (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
        (dict(early_stopping="sometimes"), "early_stopping"),
        (dict(num_beams=2, early_stopping=1), "early_stopping"),
        (dict(max_new_tokens="5"), "max_new_tokens must be a number"),
        (dict(seed="a", do_sample=True), "seed must be a number"),
        (dict(num_beams=2, length_penalty="x"), "length_penalty must be a number"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(model, kwargs, argument):
    kwargs = {"max_new_tokens": 5, **kwargs}
    with pytest.raises(ValueError, match=argument):
        model.generate(np.arange(1, 8)[None], **kwargs)


def test_options_may_be_scalar_tensors_or_numpy_values(model, expected):
    prompt = expected["gen.prompt.0"][None]
    got = model.generate(prompt, max_new_tokens=tf.constant(20), top_k=np.int64(0), temperature=np.array(1.0))
    np.testing.assert_array_equal(got.numpy()[0], expected["gen.greedy.0"])


def test_unset_options_read_as_their_defaults(model, expected):
    # As the reference, None means "not set": top_k=None and top_p=None do not filter.
    prompt = expected["gen.prompt.0"][None]
    got = model.generate(prompt, max_new_tokens=20, top_k=None, top_p=None, temperature=None, num_beams=None)
    np.testing.assert_array_equal(got.numpy()[0], expected["gen.greedy.0"])


def test_bad_prompts_raise(model):
    with pytest.raises(ValueError, match="empty prompt"):
        model.generate(np.zeros((1, 0), np.int32), max_new_tokens=3)
    with pytest.raises(ValueError, match="empty prompt"):
        model.generate(np.array([[1, 2], [3, 4]]), np.array([[1, 1], [0, 0]]), max_new_tokens=3)
    with pytest.raises(ValueError, match="input_ids"):
        model.generate(np.array([[1, 5000]]), max_new_tokens=3)
    with pytest.raises(ValueError, match="attention_mask"):
        model.generate(np.array([[1, 2]]), np.array([[1, 1, 1]]), max_new_tokens=3)
    # Lists: rows of different lengths, and an empty prompt (numpy makes [[]] float64).
    with pytest.raises(ValueError, match="input_ids is a ragged list"):
        model.generate([[979, 976, 987], [795, 241]], max_new_tokens=3)
    with pytest.raises(ValueError, match=r"input_ids has an empty prompt \(every row\)"):
        model.generate([[]], max_new_tokens=3)
    with pytest.raises(ValueError, match="leaves no room for a prompt in n_positions=64, even truncated"):
        model.generate(np.array([[5]]), max_new_tokens=64, truncate_prompt=True)


def test_truncate_prompt_keeps_the_last_tokens(model, expected):
    ids, mask = pad_batch([np.arange(1, 8), np.arange(10, 13)], "right", pad=9)
    kept_ids, kept_mask = _keep_last_tokens(ids, mask, 4)
    np.testing.assert_array_equal(kept_ids, [[4, 5, 6, 7], [9, 10, 11, 12]])
    np.testing.assert_array_equal(kept_mask, [[1, 1, 1, 1], [0, 1, 1, 1]])
    # 60 prompt tokens + 20 new > n_positions=64: the last 44 are kept and generation goes on.
    long_prompt = np.r_[np.arange(100, 155), expected["gen.prompt.0"]][None]
    got = model.generate(long_prompt, max_new_tokens=20, truncate_prompt=True).numpy()
    assert got.shape == (1, 44 + 20)
    np.testing.assert_array_equal(got[0, :44], long_prompt[0, -44:])
