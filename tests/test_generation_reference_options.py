"""`generate` with more of the reference's options: `remove_invalid_values`, `token_type_ids`,
`output_attentions` / `output_hidden_states`, calls inside `tf.function`, TensorFlow's global seed, and
the error a mistyped keyword raises.

Expected values come from math (the reference's `InfNanRemoveLogitsProcessor`) or from properties
(padding does not change a prompt's tokens; the last hidden state of a step gives that step's logits;
a traced call gives the eager call's tokens). The reference's own tokens for these options are pinned in
tests/test_modeling_ported_generation.py.
"""
import numpy as np
import pytest
import tensorflow as tf
from test_generation import pad_batch

from gpt_keras import TFOpenAIGPTLMHeadModel
from gpt_keras.decoding import UnusedKeywordError
from gpt_keras.decoding.processors import remove_invalid_values

F32 = np.finfo(np.float32)


@pytest.fixture(scope="module")
def model(tiny_dir):
    return TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")


PROMPTS = [[5, 17, 42, 8], [99, 3], [7, 7, 250]]


# === remove_invalid_values ===


def test_remove_invalid_values_replaces_nan_and_infinities():
    scores = tf.constant([[np.nan, np.inf, -np.inf, 1.5, -2.0]], tf.float32)
    np.testing.assert_array_equal(remove_invalid_values(scores).numpy(), [[0.0, F32.max, F32.min, 1.5, -2.0]])


def test_remove_invalid_values_runs_after_bad_words(model):
    # A banned token scores -inf, which the processor (last, as in the reference) makes float32's minimum.
    kwargs = dict(max_new_tokens=3, bad_words_ids=[[11]], output_scores=True, return_dict_in_generate=True)
    plain = model.generate(np.array([PROMPTS[0]]), **kwargs)
    cleaned = model.generate(np.array([PROMPTS[0]]), remove_invalid_values=True, **kwargs)
    for before, after in zip(plain.scores, cleaned.scores):
        assert before.numpy()[0, 11] == -np.inf and after.numpy()[0, 11] == F32.min
        np.testing.assert_array_equal(np.delete(before.numpy(), 11, axis=1), np.delete(after.numpy(), 11, axis=1))
    np.testing.assert_array_equal(plain.sequences.numpy(), cleaned.sequences.numpy())


# === token_type_ids ===


@pytest.mark.parametrize("side", ["left", "right"])
def test_token_types_in_a_padded_batch_give_each_prompts_tokens(model, side):
    types = [[1, 2, 2, 3], [4, 9], [6, 6, 2]]
    ids, mask = pad_batch(PROMPTS, side)
    # New tokens take the last column's type (as in the reference): right padding carries the row's last type.
    type_ids = np.zeros_like(ids)
    for i, row in enumerate(types):
        if side == "left":
            type_ids[i, ids.shape[1] - len(row) :] = row
        else:
            type_ids[i, : len(row)], type_ids[i, len(row) :] = row, row[-1]
    batch = model.generate(ids, attention_mask=mask, token_type_ids=type_ids, max_new_tokens=6)
    batch = batch.numpy()[:, ids.shape[1] :]
    for i, (prompt, row_types) in enumerate(zip(PROMPTS, types)):
        alone = model.generate(np.array([prompt]), token_type_ids=np.array([row_types]), max_new_tokens=6)
        np.testing.assert_array_equal(batch[i], alone.numpy()[0, len(prompt) :], err_msg=f"row {i}")


def test_token_types_change_the_tokens(model):
    prompt = np.array([PROMPTS[0]])
    without = model.generate(prompt, max_new_tokens=8).numpy()
    with_types = model.generate(prompt, token_type_ids=np.full_like(prompt, 300), max_new_tokens=8).numpy()
    assert (without != with_types).any()


@pytest.mark.parametrize(
    "token_type_ids, message",
    [
        (np.zeros((1, 3), np.int32), "token_type_ids has shape \\(1, 3\\) but input_ids has shape \\(1, 4\\)"),
        (np.full((1, 4), 5000), "token_type_ids must be in \\[0, 1000\\)"),
    ],
)
def test_bad_token_types_are_refused(model, token_type_ids, message):
    with pytest.raises(ValueError, match=message):
        model.generate(np.array([PROMPTS[0]]), token_type_ids=token_type_ids, max_new_tokens=2)


# === A mistyped keyword ===


def test_a_mistyped_keyword_is_a_value_error_and_a_type_error(model):
    for error in (ValueError, TypeError, UnusedKeywordError):
        with pytest.raises(error, match="do_samples"):
            model.generate(np.array([PROMPTS[0]]), do_samples=True)


# === generate inside tf.function ===


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_generate_in_a_tf_function_gives_the_eager_tokens(model, jit_compile):
    ids, mask = pad_batch(PROMPTS, "left")
    kwargs = dict(max_new_tokens=5, num_beams=2, num_return_sequences=2)
    traced = tf.function(model.generate, jit_compile=jit_compile)
    got = traced(tf.constant(ids), attention_mask=tf.constant(mask), **kwargs)
    np.testing.assert_array_equal(got.numpy(), model.generate(ids, attention_mask=mask, **kwargs).numpy())


def test_a_traced_call_checks_the_prompts_values(model):
    traced = tf.function(model.generate)
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids must be < 1000"):
        traced(tf.constant([[5, 1000]]), max_new_tokens=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least one token"):
        traced(tf.constant([[5, 6]]), attention_mask=tf.constant([[0, 0]]), max_new_tokens=2)


def test_a_traced_call_has_a_static_width_filled_with_pad(model):
    # Greedy from this prompt ends with EOS early: the eager output stops there, the traced one is padded.
    eos = int(model.generate(np.array([PROMPTS[1]]), max_new_tokens=1).numpy()[0, -1])
    eager = model.generate(np.array([PROMPTS[1]]), max_new_tokens=6, eos_token_id=eos, pad_token_id=0).numpy()
    traced = tf.function(model.generate)(tf.constant([PROMPTS[1]]), max_new_tokens=6, eos_token_id=eos, pad_token_id=0)
    assert eager.shape == (1, 3) and traced.shape == (1, 8)
    np.testing.assert_array_equal(traced.numpy(), np.pad(eager, ((0, 0), (0, 5))))


# === TensorFlow's global seed ===


def test_sampling_without_a_seed_follows_tf_random_set_seed(model):
    prompt = np.array([PROMPTS[0]])
    draws = []
    for _ in range(2):
        tf.random.set_seed(1234)
        draws.append(model.generate(prompt, do_sample=True, top_k=0, max_new_tokens=12).numpy())
    np.testing.assert_array_equal(draws[0], draws[1])
    assert (model.generate(prompt, do_sample=True, top_k=0, max_new_tokens=12).numpy() != draws[0]).any()


# === output_attentions / output_hidden_states ===


@pytest.mark.parametrize("num_beams", [1, 2], ids=["greedy", "beam_search"])
def test_each_steps_hidden_states_give_its_logits(model, num_beams):
    ids, mask = pad_batch(PROMPTS[:2], "left")
    out = model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=4,
        num_beams=num_beams,
        output_logits=True,
        output_attentions=True,
        output_hidden_states=True,
        return_dict_in_generate=True,
    )
    config = model.config
    assert len(out.hidden_states) == len(out.attentions) == len(out.logits) == 4
    for step, (hidden, attentions, logits) in enumerate(zip(out.hidden_states, out.attentions, out.logits)):
        length = ids.shape[1] + step
        assert len(hidden) == config.n_layer + 1 and len(attentions) == config.n_layer
        assert [tuple(h.shape) for h in hidden] == [(2 * num_beams, length, config.n_embd)] * len(hidden)
        expected = (2 * num_beams, config.n_head, length, length)
        assert [tuple(a.shape) for a in attentions] == [expected] * len(attentions)
        np.testing.assert_allclose(attentions[0].numpy().sum(-1), 1.0, atol=1e-5)
        # The rows searched at this step (beams as they were then) continue from their last token.
        np.testing.assert_allclose(model.lm_logits(hidden[-1][:, -1]).numpy(), logits.numpy(), atol=1e-4)


def test_attentions_and_hidden_states_are_refused_in_a_tf_function(model):
    traced = tf.function(model.generate)
    with pytest.raises(ValueError, match="not available inside a tf.function"):
        traced(tf.constant([PROMPTS[0]]), max_new_tokens=2, output_attentions=True, return_dict_in_generate=True)


# === Contrastive search ===


def _contrastive_without_cache(model, prompt, steps, alpha, k, token_types=None):
    """Contrastive search as its paper and the reference define it, one full forward pass per
    candidate (no cache, no batching), in numpy. With `token_types` (the prompt's), every new token
    takes the prompt's last type."""
    ids = list(prompt)

    def last_hidden(tokens):
        types = None
        if token_types is not None:
            types = tf.constant([list(token_types) + [token_types[-1]] * (len(tokens) - len(token_types))])
        tokens = tf.constant([tokens], tf.int32)
        outputs = model.transformer.forward(tokens, attention_mask=tf.ones_like(tokens), token_type_ids=types)
        return outputs["last_hidden_state"][0].numpy()

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    for _ in range(steps):
        context = last_hidden(ids)
        logits = model.lm_logits(tf.constant(context[-1:])).numpy()[0].astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        candidates = np.argsort(-probs, kind="stable")[:k]
        ranks = [
            (1 - alpha) * probs[c] - alpha * np.max(unit(context) @ unit(last_hidden(ids + [int(c)])[-1]))
            for c in candidates
        ]
        ids.append(int(candidates[int(np.argmax(ranks))]))
    return ids


@pytest.mark.parametrize("prompt", PROMPTS[:2])
def test_contrastive_search_ranks_candidates_by_the_degeneration_penalty(model, prompt):
    got = model.generate(np.array([prompt]), max_new_tokens=8, penalty_alpha=0.6, top_k=4).numpy()[0].tolist()
    assert got == _contrastive_without_cache(model, prompt, 8, 0.6, 4)


def test_contrastive_search_with_token_types(model):
    # The context of the first step is the prompt's hidden states with its types, as every step's are.
    prompt, types = [979, 976, 987, 380, 171], [3, 3, 4, 4, 4]
    kwargs = dict(max_new_tokens=12, penalty_alpha=0.6, top_k=4)
    got = model.generate(np.array([prompt]), token_type_ids=np.array([types]), **kwargs).numpy()[0].tolist()
    assert got == _contrastive_without_cache(model, prompt, 12, 0.6, 4, types)
    assert got != model.generate(np.array([prompt]), **kwargs).numpy()[0].tolist(), "the types change nothing"


def test_contrastive_search_in_a_padded_batch_and_under_xla(model):
    ids, mask = pad_batch(PROMPTS, "left")
    kwargs = dict(max_new_tokens=8, penalty_alpha=0.6, top_k=4)
    batch = model.generate(ids, attention_mask=mask, **kwargs).numpy()
    for i, prompt in enumerate(PROMPTS):
        alone = model.generate(np.array([prompt]), **kwargs).numpy()[0, len(prompt) :]
        np.testing.assert_array_equal(batch[i, ids.shape[1] :], alone, err_msg=f"row {i}")
    traced = tf.function(model.generate, jit_compile=True)(tf.constant(ids), attention_mask=tf.constant(mask), **kwargs)
    np.testing.assert_array_equal(traced.numpy(), batch)


def test_contrastive_search_needs_one_sequence_per_prompt(model):
    with pytest.raises(ValueError, match="num_return_sequences must be 1 in contrastive search"):
        model.generate(np.array([PROMPTS[0]]), penalty_alpha=0.6, top_k=4, num_beams=2, num_return_sequences=2)
