"""Prompt-lookup decoding: the tokens of plain decoding, fewer forward passes when the text repeats.

Expected tokens come from the reference's fixtures (greedy), or are plain decoding's for the same call
(the property prompt lookup promises). Two kinds of model: the shared tiny fixture model (drafts are
tried and mostly rejected) and "position-driven" tiny models, random except for a position table that
makes the greedy next token a chosen function of the position, so that a test knows whether the text
repeats (drafts kept) or never does (nothing drafted).
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from test_generation import pad_batch

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
from gpt_keras.decoding import DecodingControls, DecodingOptions, GenerationConfig, build_generate_fn, build_stream_fns
from gpt_keras.decoding.loop import cast_controls
from gpt_keras.decoding.prompt_lookup import MAX_PAUSE, compact_cache, find_drafts
from gpt_keras.export import export_saved_model

PATTERN = np.array([3, 17, 41, 8, 29, 55, 12, 60])  # ids of a 64-token vocabulary


@pytest.fixture(scope="module")
def model(tiny_dir):
    return TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")


@pytest.fixture(scope="module")
def prompts(expected):
    return [expected[f"gen.prompt.{k}"].astype(np.int32) for k in range(3)]


def position_driven_model(next_tokens, seed=0):
    """A tiny random model whose greedy token after position p is `next_tokens[p]`.

    Row p of the position table is the token embedding of `next_tokens[p]`, scaled to dominate the
    residual stream (the blocks' output projections are shrunk), so the tied head picks that token.
    """
    keras.utils.set_random_seed(seed)
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2))
    for block in model.transformer.blocks:
        for layer in (block.attn.c_proj, block.mlp.c_proj):
            layer.kernel.assign(layer.kernel * 0.1)
    tokens = model.transformer.embeddings.tokens_embed.embeddings.numpy()
    chosen = tokens[np.asarray(next_tokens)]
    scale = 4.0 * np.linalg.norm(tokens, axis=1).mean() / np.linalg.norm(chosen, axis=1, keepdims=True)
    model.transformer.embeddings.positions_embed.embeddings.assign(chosen * scale)
    return model


@pytest.fixture(scope="module")
def periodic_model():
    """Continues PATTERN from any position: a prompt of PATTERN repeated goes on repeating it."""
    return position_driven_model(PATTERN[(np.arange(64) + 1) % len(PATTERN)])


def each_pair_once(size):
    """A cyclic sequence of 0..size-1 holding every ordered pair (repeats included) once: the de Bruijn
    sequence made of the Lyndon words of length 1 and 2 in lexicographic order (a, ab, ac, ..., b, bc, ...)."""
    return np.array([token for a in range(size) for token in [a] + [x for b in range(a + 1, size) for x in (a, b)]])


UNLIKE = PATTERN[each_pair_once(len(PATTERN))]  # 64 tokens, no pair twice


@pytest.fixture(scope="module")
def unlike_model():
    """Follows UNLIKE from position to position."""
    return position_driven_model(UNLIKE[(np.arange(64) + 1) % 64])


@pytest.fixture(scope="module")
def fresh_model():
    """Says token p + 1 after position p: text after a prompt of high ids never repeats a token."""
    return position_driven_model((np.arange(64) + 1) % 64)


def reference_draft(text, num_tokens, max_ngram_size, eos_token_ids=()):
    """The reference's drafting rule (`PromptLookupCandidateGenerator.get_candidates`), on a list."""
    length = len(text)
    for size in range(min(max_ngram_size, length - 1), 0, -1):
        for start in range(length - size + 1):
            if text[start : start + size] == text[length - size :] and start + size < length:
                draft = text[start + size : min(start + size + num_tokens, length)]
                ends = [i for i, token in enumerate(draft) if token in eos_token_ids]
                return draft[: ends[0]] if ends else draft
    return []


def expected_drafting(sequence, prompt_length, num_tokens, max_ngram_size=2):
    """(forward passes, drafted tokens, kept tokens) of prompt lookup producing `sequence` after its
    prompt: each pass keeps the chosen token and the draft's prefix that `sequence` continues with;
    drafts by the reference's rule, paused after a rejection (1, 2, 4, ... up to MAX_PAUSE tokens)."""
    sequence, generated, passes, drafted, kept = list(sequence), 0, 0, 0, 0
    pause, resume_at = 0, 0
    while prompt_length + generated < len(sequence):
        passes += 1
        known = prompt_length + generated + 1  # with the token chosen from the last logits
        draft = reference_draft(sequence[:known], num_tokens, max_ngram_size)[: len(sequence) - known]
        draft = draft if generated >= resume_at else []
        agreeing = 0
        while agreeing < len(draft) and draft[agreeing] == sequence[known + agreeing]:
            agreeing += 1
        generated += 1 + agreeing
        drafted, kept = drafted + len(draft), kept + agreeing
        if draft and not agreeing:
            pause = min(max(2 * pause, 1), MAX_PAUSE)
            resume_at = generated + pause
        elif draft:
            pause = 0
    return passes, drafted, kept


def final_state(model, ids, max_new_tokens, num_tokens, mask=None):
    """The decoding state after prompt-lookup decoding `ids`, with what drafting did (`state.search`)."""
    mask = np.ones_like(ids) if mask is None else mask
    options = DecodingOptions(prompt_lookup_num_tokens=num_tokens)
    return stream_states(model, ids, mask, max_new_tokens, options, max_new_tokens)[0][-1]


def stream_states(model, ids, mask, max_new_tokens, options, chunk, do_sample=False):
    """The decoding state after each chunk of `chunk` tokens (numpy), through the compiled stream programs."""
    width = ids.shape[1]
    prefill_fn, decode_fn = build_stream_fns(model, width + max_new_tokens, options)
    controls = cast_controls(DecodingControls(max_new_tokens, 1.0, 0, 1.0, 0, do_sample))
    state = prefill_fn(tf.constant(ids, tf.int32), tf.constant(mask, tf.int32))
    states = []
    while int(state.step) < max_new_tokens and not bool(tf.reduce_all(state.finished)):
        state = decode_fn(state, tf.constant(chunk), controls)
        states.append(state)
    return states, decode_fn, controls


# === The tokens of plain decoding ===


@pytest.mark.parametrize("num_tokens", [1, 3, 10])
def test_greedy_matches_the_reference_fixtures(model, expected, num_tokens):
    for k in range(3):
        prompt = expected[f"gen.prompt.{k}"][None]
        got = model.generate(prompt, max_new_tokens=20, prompt_lookup_num_tokens=num_tokens).numpy()
        np.testing.assert_array_equal(got[0], expected[f"gen.greedy.{k}"], err_msg=f"prompt {k}, k={num_tokens}")


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_padded_batch_matches_the_fixtures(model, prompts, expected, side):
    ids, mask = pad_batch(prompts, side, pad=7)
    got = model.generate(ids, mask, max_new_tokens=20, prompt_lookup_num_tokens=3).numpy()
    for k, prompt in enumerate(prompts):
        np.testing.assert_array_equal(got[k, ids.shape[1] :], expected[f"gen.greedy.{k}"][len(prompt) :])


def test_more_draft_tokens_than_the_budget_left(model, expected):
    prompt = expected["gen.prompt.1"][None]
    got = model.generate(prompt, max_new_tokens=3, prompt_lookup_num_tokens=10).numpy()
    np.testing.assert_array_equal(got[0], expected["gen.greedy.1"][: prompt.shape[1] + 3])


def test_seeded_sampling_gives_plain_sampling_tokens(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    sample = dict(max_new_tokens=20, do_sample=True, temperature=1.3, top_k=8, top_p=0.9, seed=5)
    plain = model.generate(ids, mask, **sample).numpy()
    np.testing.assert_array_equal(model.generate(ids, mask, prompt_lookup_num_tokens=3, **sample).numpy(), plain)


def test_streaming_equals_generate(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    chunks = list(model.stream(ids, mask, chunk_size=5, max_new_tokens=20, prompt_lookup_num_tokens=3))
    assert [chunk.shape[1] for chunk in chunks] == [5, 5, 5, 5]
    plain = model.generate(ids, mask, max_new_tokens=20).numpy()
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), plain[:, ids.shape[1] :])


# === Drafts that are kept ===


def test_repeated_text_takes_the_reference_rules_passes(periodic_model):
    prompt = np.tile(PATTERN, 2)[None]
    plain = periodic_model.generate(prompt, max_new_tokens=32).numpy()
    assert (plain[0, 16:] == np.tile(PATTERN, 4)).all(), "the model does not continue its pattern"
    state = final_state(periodic_model, prompt, 32, 5)
    np.testing.assert_array_equal(state.tokens.numpy(), plain)
    search = state.search
    got = int(search.forward_passes), int(search.drafted[0]), int(search.kept[0])
    assert got == expected_drafting(plain[0], 16, 5) == (6, 26, 26)  # 1 + 5 tokens a pass


def test_text_that_never_matches_drafts_nothing(fresh_model):
    prompt = np.arange(56, 64)[None]
    plain = fresh_model.generate(prompt, max_new_tokens=24).numpy()
    assert (plain[0, 8:] == np.arange(8, 32)).all(), "the model does not count"
    state = final_state(fresh_model, prompt, 24, 4)
    np.testing.assert_array_equal(state.tokens.numpy(), plain)
    search = state.search
    assert (int(search.forward_passes), int(search.drafted[0])) == (24, 0)


def test_drafts_that_never_continue_pause_drafting(unlike_model):
    # Every token recurs but never with the token after it: each draft is rejected, and each
    # rejection pauses drafting longer.
    prompt = UNLIKE[:8][None]
    plain = unlike_model.generate(prompt, max_new_tokens=40).numpy()
    assert (plain[0] == UNLIKE[:48]).all(), "the model does not follow its sequence"
    state = final_state(unlike_model, prompt, 40, 4)
    np.testing.assert_array_equal(state.tokens.numpy(), plain)
    search = state.search
    got = int(search.forward_passes), int(search.drafted[0]), int(search.kept[0])
    passes, drafted, kept = expected_drafting(plain[0], 8, 4)
    # Drafts after 1, 3, 7, 12, 21 and 38 new tokens (pauses of 1, 2, 4, 8 and 16), not after each.
    assert got == (passes, drafted, kept) == (40, 21, 0)


def test_rows_keep_different_counts_and_finish_alone(periodic_model):
    # Row 0 repeats its pattern from the start; row 1's prompt has none of it, so it drafts nothing
    # until its own text repeats; row 0 is done while row 1 still needs many single steps, which run
    # the shared pointer out of slots: the cache is compacted.
    rows = [np.tile(PATTERN, 2), np.array([1, 2, 4, 5, 6, 7, 9, 10])]
    ids, mask = pad_batch(rows, "left")
    plain = periodic_model.generate(ids, mask, max_new_tokens=32).numpy()
    state = final_state(periodic_model, ids, 32, 3, mask)
    np.testing.assert_array_equal(state.tokens.numpy(), plain)
    kept = state.search.kept.numpy()
    assert kept[0] == 24 and 0 < kept[1] < kept[0]
    # Without compaction the pointer would end past 16 + 32 slots; compacted, it is after row 1's 8 + 32.
    assert int(state.search.cache_index) == 8 + 32
    # Streamed, rows wait for each other at the end of every chunk, and compactions keep waiting rows.
    streamed, _, _ = stream_states(periodic_model, ids, mask, 32, DecodingOptions(prompt_lookup_num_tokens=3), 5)
    np.testing.assert_array_equal(streamed[-1].tokens.numpy(), plain)


@pytest.mark.parametrize("num_tokens", [1, 3])
def test_token_types_give_plain_decodings_tokens(model, num_tokens):
    # Drafts and single steps feed new tokens with their row's last prompt type, as plain decoding does.
    rows, types = [[979, 976, 987, 380, 171], [795, 241, 786]], [[3, 3, 4, 4, 4], [7, 8, 9]]
    ids, mask = pad_batch(rows, "left")
    type_ids = np.zeros_like(ids)
    for i, row in enumerate(types):
        type_ids[i, ids.shape[1] - len(row) :] = row
    kwargs = dict(attention_mask=mask, max_new_tokens=12)
    plain = model.generate(ids, token_type_ids=type_ids, **kwargs).numpy()
    assert (plain != model.generate(ids, **kwargs).numpy()).any(), "the types do not change the tokens"
    looked_up = model.generate(ids, token_type_ids=type_ids, prompt_lookup_num_tokens=num_tokens, **kwargs)
    np.testing.assert_array_equal(looked_up.numpy(), plain)


def test_eos_in_the_repeated_text_ends_each_row_where_plain_decoding_does(periodic_model):
    # The prompts hold EOS (PATTERN[3]) in the middle: a draft stops before it, the row ends on it, and
    # pad follows; the two rows reach it at different steps.
    eos = int(PATTERN[3])
    rows = [np.tile(PATTERN, 2), np.tile(PATTERN, 2)[:13]]
    ids, mask = pad_batch(rows, "left")
    kwargs = dict(max_new_tokens=20, eos_token_id=eos, pad_token_id=-1)
    plain = periodic_model.generate(ids, mask, **kwargs).numpy()
    np.testing.assert_array_equal(plain[:, 16:], [np.r_[PATTERN[:4], [-1] * 3], np.r_[PATTERN[5:], PATTERN[:4]]])
    got = periodic_model.generate(ids, mask, prompt_lookup_num_tokens=4, **kwargs).numpy()
    np.testing.assert_array_equal(got, plain)


def test_processors_see_every_drafted_position(periodic_model):
    prompt = np.tile(PATTERN, 2)[None]
    early_eos = int(PATTERN[2])  # banned at the third new token
    processors = (dict(repetition_penalty=3.0, no_repeat_ngram_size=3), dict(min_new_tokens=6, eos_token_id=early_eos))
    for kwargs in processors:
        plain = periodic_model.generate(prompt, max_new_tokens=24, **kwargs).numpy()
        assert plain[0, 16:].tolist() != np.tile(PATTERN, 3).tolist(), f"{kwargs} changes nothing here"
        got = periodic_model.generate(prompt, max_new_tokens=24, prompt_lookup_num_tokens=4, **kwargs).numpy()
        np.testing.assert_array_equal(got, plain, err_msg=str(kwargs))


# === The cache after a rejection ===


def unattended_slots(state):
    """(rows * heads, slots) bool: the cache slots no later query of the row reads as they are now."""
    slots = state.slot_mask.shape[1]
    unread = (state.slot_mask.numpy() == 0) | (np.arange(slots)[None, :] >= int(state.search.cache_index))
    return np.repeat(unread, state.cache[0][0].shape[0] // unread.shape[0], axis=0)


def test_rejected_drafts_leave_the_cache_as_plain_decoding_has_it(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    lookup, decode_fn, controls = stream_states(model, ids, mask, 40, DecodingOptions(prompt_lookup_num_tokens=4), 5)
    plain, _, _ = stream_states(model, ids, mask, 40, DecodingOptions(), 5)
    search = lookup[-1].search
    assert (search.drafted.numpy() > search.kept.numpy()).all(), "no row had a draft rejected"
    for chunk, (ours, theirs) in enumerate(zip(lookup, plain)):
        np.testing.assert_array_equal(ours.tokens.numpy()[:, :48], theirs.tokens.numpy(), err_msg=f"chunk {chunk}")
        # Not to the bit: a verifying pass multiplies k + 1 rows at once, and XLA sums those products
        # in another order than one row's (1.7e-5 measured over 40 tokens, |logits| < 16; plain
        # decoding's cached logits are as far from an uncached forward pass: 1.65e-5).
        np.testing.assert_allclose(ours.logits.numpy(), theirs.logits.numpy(), atol=3e-5, err_msg=f"chunk {chunk}")
    # Exactly unread: garbage in every slot no query may attend changes nothing, to the bit.
    state = lookup[2]
    poison = unattended_slots(state)[:, :, None]
    poisoned_cache = tf.nest.map_structure(lambda x: tf.where(poison, 1e4, x), state.cache)
    clean = decode_fn(state, tf.constant(5), controls)
    dirty = decode_fn(state._replace(cache=poisoned_cache), tf.constant(5), controls)
    np.testing.assert_array_equal(dirty.logits.numpy(), clean.logits.numpy())
    np.testing.assert_array_equal(dirty.tokens.numpy(), clean.tokens.numpy())


def test_compacting_the_cache_keeps_every_token(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    # Padding slots are gaps too: in a bucket of 8, every row has some.
    ids, mask = (np.pad(x, ((0, 0), (8 - ids.shape[1], 0))) for x in (ids, mask))
    lookup, decode_fn, controls = stream_states(model, ids, mask, 40, DecodingOptions(prompt_lookup_num_tokens=4), 10)
    state = lookup[0]
    compacted = compact_cache(state, ~state.finished, model.config.n_head)
    assert int(compacted.search.cache_index) == int(tf.reduce_max(state.lengths)) < int(state.search.cache_index)
    ours, theirs = decode_fn(compacted, tf.constant(30), controls), decode_fn(state, tf.constant(30), controls)
    np.testing.assert_array_equal(ours.tokens.numpy(), theirs.tokens.numpy())
    np.testing.assert_allclose(ours.logits.numpy(), theirs.logits.numpy(), atol=1e-5, rtol=0)


def test_the_eager_run_equals_the_compiled_one(model, prompts):
    ids, mask = pad_batch(prompts, "left")
    compiled = model.generate(ids, mask, max_new_tokens=20, prompt_lookup_num_tokens=3).numpy()
    eager_fn = build_generate_fn(model, 40, DecodingOptions(prompt_lookup_num_tokens=3), jit_compile=False)
    to_bucket = ((0, 0), (8 - ids.shape[1], 0))
    controls = (tf.constant(20), tf.constant(1.0), tf.constant(0), tf.constant(1.0), tf.constant(0), tf.constant(False))
    eager = eager_fn(tf.constant(np.pad(ids, to_bucket)), tf.constant(np.pad(mask, to_bucket)), *controls)
    np.testing.assert_array_equal(eager["sequences"].numpy()[:, 8:28], compiled[:, ids.shape[1] :])


# === Drafting ===


@settings(max_examples=60, deadline=None)
@given(
    text=st.lists(st.integers(0, 4), min_size=1, max_size=14),
    padding=st.integers(0, 3),
    num_tokens=st.integers(1, 5),
    max_ngram_size=st.integers(1, 4),
    eos=st.sampled_from([(), (2,), (0, 3)]),
)
def test_drafts_follow_the_reference_rule(text, padding, num_tokens, max_ngram_size, eos):
    row = np.array([text + [9] * padding], np.int32)  # what follows a row's tokens is never matched
    drafts, lengths = find_drafts(tf.constant(row), tf.constant([len(text)]), num_tokens, max_ngram_size, eos)
    expected = reference_draft(text, num_tokens, max_ngram_size, eos)
    assert drafts.numpy()[0, : int(lengths[0])].tolist() == expected


# === Programs and options ===


def test_calls_within_a_bucket_reuse_the_compiled_program(model, prompts):
    model.generate(prompts[0][None], max_new_tokens=20, prompt_lookup_num_tokens=3)
    traces = model.generation_trace_count
    for prompt, new in ((prompts[1], 17), (prompts[2], 32), (prompts[0][:1], 20)):
        model.generate(prompt[None], max_new_tokens=new, prompt_lookup_num_tokens=3)
        model.generate(prompt[None], max_new_tokens=new, prompt_lookup_num_tokens=3, do_sample=True, top_k=5, seed=3)
    assert model.generation_trace_count == traces


def test_an_export_with_prompt_lookup_serves_plain_tokens(tmp_path, model, prompts, expected):
    # The exported program's batch is not known when it is traced: the path that compacts the cache is in it.
    options = dict(max_length=32, max_new_tokens=20, prompt_lookup_num_tokens=3)
    version = export_saved_model(model, tmp_path / "lookup", **options)
    generate = tf.saved_model.load(str(version)).signatures["generate"]
    ids, mask = pad_batch(prompts, "left")
    for do_sample in (False, True):
        controls = dict(max_new_tokens=20, temperature=1.0, top_k=0, top_p=1.0, seed=4, do_sample=do_sample)
        request = {name: tf.constant(value) for name, value in controls.items()}
        served = generate(input_ids=tf.constant(ids), attention_mask=tf.constant(mask), **request)["sequences"].numpy()
        plain = model.generate(ids, mask, **controls).numpy()
        np.testing.assert_array_equal(served[:, : plain.shape[1]], plain, err_msg=f"do_sample={do_sample}")


def test_options_are_checked_and_fixed_in_the_program():
    options = GenerationConfig(prompt_lookup_num_tokens=4).validate().decoding_options(OpenAIGPTConfig())
    assert (options.prompt_lookup_num_tokens, options.max_matching_ngram_size) == (4, 2)
    assert GenerationConfig().validate().decoding_options(OpenAIGPTConfig()).prompt_lookup_num_tokens == 0
    with pytest.raises(ValueError, match=r"needs greedy search or sampling \(num_beams=1\), got num_beams=4"):
        GenerationConfig(prompt_lookup_num_tokens=4, num_beams=4).validate()
    bad = (("prompt_lookup_num_tokens", 0), ("prompt_lookup_num_tokens", 1.5), ("max_matching_ngram_size", 0))
    for name, value in bad:
        with pytest.raises(ValueError, match=f"{name} must be an integer >= 1"):
            GenerationConfig(**{name: value}).validate()
