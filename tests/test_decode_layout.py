"""Batch-1 decoding reads (out, in) copies of the block kernels (`gpt_keras.layers.decode_layout`): each
step's logits are the training path's, the copies exist only inside a compiled batch-1 decode, and they
are made from the weights as they are at every call.

The 1e-6 comparisons run the fixture in float64, where the decode and the forward pass compute the same
sums up to rounding far below float32's (their float32 logits come out identical): there the check sees
the layout and nothing else. In float32 the two paths sum in different orders, and the fixture's large
weights (initializer_range 0.5) carry that rounding to ~3e-5 in the logits with or without the copies
(measured: compiled decode vs forward 1.5e-5 to 3.3e-5 in the stored layout, 1.8e-5 to 2.9e-5 with
the copies); the float32 test checks the tokens and that bound.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gpt_keras import TFOpenAIGPTLMHeadModel
from gpt_keras.decoding import DecodingControls, DecodingOptions, build_generate_fn, build_stream_fns
from gpt_keras.export import export_saved_model
from gpt_keras.layers import decode_layout
from gpt_keras.layers.block import TransformerBlock
from gpt_keras.layers.decode_layout import MIN_NEW_TOKENS

PROMPTS = range(3)
NEW_TOKENS = 20  # the fixtures' greedy continuations
# Decodes with room for fewer new tokens read the stored layout: the programs here have room for more,
# and generate calls ask for LONG new tokens (a bucket of MIN_NEW_TOKENS), the fixture's first 20 included.
MAX_LENGTH = 8 + MIN_NEW_TOKENS
LONG = MIN_NEW_TOKENS // 2 + 8
GREEDY = DecodingControls(*(tf.constant(value) for value in (NEW_TOKENS, 1.0, 0, 1.0, 0, False)))


@pytest.fixture(scope="module")
def model(tiny_dir):
    return TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")


@pytest.fixture(scope="module")
def model64(tiny_dir):
    return TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", dtype="float64")


def greedy_steps(model, prompt, steps=NEW_TOKENS - 1):
    """The compiled decode of `prompt`, one token per call: (its prefill state, the logits before each
    new token (steps + 1, vocab), the final state)."""
    prefill_fn, decode_fn = build_stream_fns(model, MAX_LENGTH, DecodingOptions())
    ids = tf.constant(prompt[None], tf.int32)
    state = first = prefill_fn(ids, tf.ones_like(ids))
    logits = [state.logits.numpy()[0]]
    for _ in range(steps):
        state = decode_fn(state, tf.constant(1), GREEDY)
        logits.append(state.logits.numpy()[0])
    return first, np.stack(logits), state


def forward_logits(model, sequence, prompt_length, steps=NEW_TOKENS - 1):
    """The training path's (the model call's) logits for the positions `greedy_steps` predicts from."""
    return model(sequence[None]).logits.numpy()[0, prompt_length - 1 : prompt_length + steps]


def assert_reads_copies(state, model):
    """Every layer of `state.cache` carries its block's kernels, each the transpose of the weight."""
    for layer, block in zip(state.cache, model.transformer.blocks):
        assert len(layer) == 3, "the prefill of a batch-1 decode should add the decode kernels"
        projections = {"attn": (block.attn.c_attn, block.attn.c_proj), "mlp": (block.mlp.c_fc, block.mlp.c_proj)}
        for part, dense_layers in projections.items():
            for dense in dense_layers:
                np.testing.assert_array_equal(layer[2][part][dense.name].numpy(), dense.kernel.numpy().T)


# === Logits: the decode layout computes what the training path computes ===


# float64: the layout alone (1e-6); float32: rounding in other orders, as without the copies (module doc).
@pytest.mark.parametrize("fixture, atol", [("model64", 1e-6), ("model", 5e-5)])
@pytest.mark.parametrize("k", PROMPTS)
def test_every_greedy_step_matches_the_forward_pass(request, expected, fixture, atol, k):
    model = request.getfixturevalue(fixture)
    prompt = expected[f"gen.prompt.{k}"].astype(np.int32)
    sequence = expected[f"gen.greedy.{k}"].astype(np.int32)
    first, logits, state = greedy_steps(model, prompt)
    assert_reads_copies(first, model)
    np.testing.assert_allclose(logits, forward_logits(model, sequence, len(prompt)), rtol=0, atol=atol)
    np.testing.assert_array_equal(state.tokens.numpy()[0, : len(sequence) - 1], sequence[:-1])
    np.testing.assert_array_equal(model.generate(prompt[None], max_new_tokens=LONG).numpy()[0, : len(sequence)], sequence)


def test_one_projection_reads_its_copy_as_the_kernel(model):
    dense = model.transformer.blocks[0].mlp.c_fc
    copy = dense.decode_kernel()
    np.testing.assert_array_equal(copy.numpy(), dense.kernel.numpy().T)
    hidden = tf.constant(np.random.default_rng(0).normal(size=(1, 1, dense.kernel.shape[0])).astype(np.float32))
    stored = dense(hidden).numpy()
    np.testing.assert_allclose(dense(hidden, decode_kernel=copy).numpy(), stored, rtol=1e-6, atol=1e-6 * np.abs(stored).max())


# === The copies exist only inside a compiled batch-1 decode ===


def test_nothing_is_copied_by_building_loading_generating_or_eager_decoding(model):
    def held_tensors(model):
        return {
            (layer.path, name)
            for layer in model._flatten_layers()
            for name, value in vars(layer).items()
            if isinstance(value, tf.Tensor)
        }

    weights = sorted(v.path for v in model.variables)
    assert not held_tensors(model)
    model.generate(np.array([[1, 2, 3]], np.int32), max_new_tokens=LONG)
    assert not held_tensors(model) and sorted(v.path for v in model.variables) == weights
    backbone = model.transformer
    eager = backbone.forward(np.array([[1, 2, 3]], np.int32), cache=backbone.init_cache(1, 8))["cache"]
    assert all(len(layer) == 2 for layer in eager), "eager calls read the kernels as stored"


def test_batches_beams_and_short_decodes_read_the_kernels_as_stored(model, expected):
    prefill_fn, _ = build_stream_fns(model, MAX_LENGTH, DecodingOptions())
    ids = tf.constant(np.stack([expected["gen.prompt.0"][:3], expected["gen.prompt.1"][:3]]), tf.int32)
    assert all(len(layer) == 2 for layer in prefill_fn(ids, tf.ones_like(ids)).cache)
    short_prefill_fn, _ = build_stream_fns(model, 3 + MIN_NEW_TOKENS - 1, DecodingOptions())
    assert all(len(layer) == 2 for layer in short_prefill_fn(ids[:1], tf.ones_like(ids[:1])).cache)
    assert all(len(layer) == 3 for layer in prefill_fn(ids[:1], tf.ones_like(ids[:1])).cache)
    # A prompt that leaves less room than that: its token loop keeps the cache as the prefill made it.
    long_prompt = np.r_[np.arange(100, 112), expected["gen.prompt.0"]]
    _, _, state = greedy_steps(model, long_prompt, steps=3)
    assert all(len(layer) == 2 for layer in state.cache)
    eager = build_generate_fn(model, MAX_LENGTH, jit_compile=False)
    ids = tf.constant(long_prompt[None], tf.int32)
    stored = eager(ids, tf.ones_like(ids), *GREEDY)["sequences"].numpy()[0, : len(long_prompt) + 4]
    np.testing.assert_array_equal(state.tokens.numpy()[0, : len(long_prompt) + 3], stored[:-1])
    # A beam search with room for 16 new tokens makes no copies (those over the copies: further down).
    prompt = expected["gen.prompt.0"][None]
    got = model.generate(prompt, max_new_tokens=12, num_beams=4, length_penalty=1.0, early_stopping=False)
    np.testing.assert_array_equal(got.numpy()[0], expected["gen.beam4.0"])


# === Every way of decoding one prompt over a cache that carries the copies ===
# Beams and contrastive candidates gather the keys and values of the rows they continue and read the
# kernels as stored; the copies ride along untouched. Each search must give the tokens (and scores) of
# the same model decoding without copies.


def test_reorder_cache_gathers_keys_and_values_and_keeps_the_kernels(model):
    backbone = model.transformer
    ids = tf.constant([[1, 2, 3]], tf.int32)
    prefill = tf.function(lambda ids: backbone.forward(ids, cache=backbone.init_cache(1, 3 + MIN_NEW_TOKENS)))
    cache = prefill(ids)["cache"]
    reordered = backbone.reorder_cache(cache, tf.constant([0, 0, 0]))
    for layer, prefilled in zip(reordered, cache):
        assert len(layer) == 3
        for tensor, before in zip(layer[:2], prefilled[:2]):  # (3 * heads, slots, head_dim) from (heads, ...)
            three = np.broadcast_to(before.numpy(), (3,) + tuple(before.shape))
            np.testing.assert_array_equal(tensor.numpy().reshape(three.shape), three)
        tf.nest.map_structure(np.testing.assert_array_equal, layer[2], prefilled[2])


@pytest.fixture
def copies_made(monkeypatch):
    """The names of the blocks whose decode kernels the programs traced since have made."""
    made = []
    decode_kernels = TransformerBlock.decode_kernels

    def counting(block):
        made.append(block.name)
        return decode_kernels(block)

    monkeypatch.setattr(TransformerBlock, "decode_kernels", counting)
    return made


def with_and_without_copies(model, monkeypatch, copies_made, decode):
    """`decode()` with the copies, then compiled anew with no decode long enough to make them."""
    model.forget_compiled_programs()
    with_copies = decode()
    assert copies_made, "the prefill of this decode should make the copies"
    monkeypatch.setattr(decode_layout, "MIN_NEW_TOKENS", 10**9)
    model.forget_compiled_programs()
    copies_made.clear()
    stored = decode()
    assert not copies_made, "with MIN_NEW_TOKENS out of reach no decode should make copies"
    return with_copies, stored


def assert_same_outputs(got, want):
    """Equal token ids and beam indices; scores, logits and per-step tensors to float32 rounding (module doc)."""
    if isinstance(want, tf.Tensor):
        got, want = {"sequences": got}, {"sequences": want}
    assert sorted(name for name, value in got.items() if value is not None) == sorted(
        name for name, value in want.items() if value is not None
    )
    for name, value in want.items():
        for got_part, want_part in zip(tf.nest.flatten(got[name]), tf.nest.flatten(value)):
            got_part, want_part = np.asarray(got_part), np.asarray(want_part)
            if want_part.dtype.kind in "iub":
                np.testing.assert_array_equal(got_part, want_part, err_msg=name)
            else:
                np.testing.assert_allclose(got_part, want_part, rtol=0, atol=5e-5, err_msg=name)


SEARCHES = {
    "beam search": dict(num_beams=4, num_return_sequences=2, length_penalty=1.0),
    "beam sampling": dict(num_beams=3, do_sample=True, seed=7),
    "beam search with scores": dict(num_beams=3, return_dict_in_generate=True, output_scores=True, output_logits=True),
    "contrastive search": dict(penalty_alpha=0.6, top_k=4),
    "sampling with scores": dict(do_sample=True, seed=5, top_k=20, return_dict_in_generate=True, output_scores=True),
    "per-step attentions": dict(return_dict_in_generate=True, output_attentions=True, output_hidden_states=True),
    # Verifying a draft feeds k + 1 tokens (the stored kernels); the single steps between read the copies.
    "prompt lookup": dict(prompt_lookup_num_tokens=3),
}


@pytest.mark.parametrize("search", SEARCHES)
def test_every_search_over_the_copies_gives_the_stored_layouts_tokens(
    tiny_dir, expected, monkeypatch, copies_made, search
):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    prompt = expected["gen.prompt.2"][None].astype(np.int32)
    got, want = with_and_without_copies(
        model, monkeypatch, copies_made, lambda: model.generate(prompt, max_new_tokens=LONG, **SEARCHES[search])
    )
    assert_same_outputs(got, want)


def test_a_stream_over_the_copies_gives_the_tokens_of_the_stored_layout(tiny_dir, expected, monkeypatch, copies_made):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    prompt = expected["gen.prompt.1"][None].astype(np.int32)

    def streamed():
        chunks = model.stream(prompt, max_new_tokens=LONG, chunk_size=8, do_sample=True, seed=3)
        return tf.constant(np.concatenate(list(chunks), axis=1))

    got, want = with_and_without_copies(model, monkeypatch, copies_made, streamed)
    assert got.shape == (1, LONG)
    assert_same_outputs(got, want)


def test_generate_in_a_tf_function_reads_the_copies_and_the_export_reads_the_stored_kernels(
    tiny_dir, expected, copies_made, tmp_path
):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    prompt = expected["gen.prompt.0"][None].astype(np.int32)
    eager = model.generate(prompt, max_new_tokens=LONG)
    assert copies_made, "the prefill of this decode should make the copies"
    copies_made.clear()
    traced = tf.function(lambda ids: model.generate(ids, max_new_tokens=LONG))(tf.constant(prompt))
    assert copies_made, "a static batch-1 prompt in a tf.function should decode over the copies too"
    np.testing.assert_array_equal(traced.numpy(), eager.numpy())

    # The generate signature takes prompts of any batch and width: its program reads the stored kernels.
    copies_made.clear()
    version = export_saved_model(model, tmp_path / "export", max_length=64, max_new_tokens=LONG)
    assert not copies_made
    served = tf.saved_model.load(str(version)).signatures["generate"](
        input_ids=tf.constant(prompt),
        attention_mask=tf.ones_like(prompt),
        max_new_tokens=tf.constant(LONG),
        temperature=tf.constant(1.0),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(0),
        do_sample=tf.constant(False),
    )["sequences"]
    np.testing.assert_array_equal(served.numpy()[:, : eager.shape[1]], eager.numpy())


# === Never stale: each call reads the weights as they are, and no call retraces for it ===


def changed_weights(model, seed):
    """The model's weights with every kernel's rows shuffled (the same function class, other tokens)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(w) if w.ndim == 2 else w for w in model.get_weights()]


def test_set_weights_an_optimizer_step_and_load_weights_reach_the_next_call(tiny_dir, expected, tmp_path):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    prompt = expected["gen.prompt.0"][None]

    def tokens(model):
        return model.generate(prompt, max_new_tokens=LONG).numpy()

    def fresh(weights):
        other = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
        other.set_weights(weights)
        return tokens(other)

    original = tokens(model)
    np.testing.assert_array_equal(original[0, : len(expected["gen.greedy.0"])], expected["gen.greedy.0"])
    model.save_weights(tmp_path / "original.weights.h5")
    traces = model.generation_trace_count

    model.set_weights(changed_weights(model, seed=1))
    after_set = tokens(model)
    assert not np.array_equal(after_set, original), "the change should show in the tokens"
    np.testing.assert_array_equal(after_set, fresh(model.get_weights()))

    # An optimizer step outside compile()/fit(): nothing tells the programs; the next call reads it.
    optimizer = keras.optimizers.SGD(learning_rate=5.0)
    with tf.GradientTape() as tape:
        loss = model(prompt, labels=prompt).loss
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    after_step = tokens(model)
    assert not np.array_equal(after_step, after_set), "the step should show in the tokens"
    np.testing.assert_array_equal(after_step, fresh(model.get_weights()))
    model.generate(prompt[:, 1:], max_new_tokens=LONG - 3)  # the same buckets
    assert model.generation_trace_count == traces, "weight changes and calls within a bucket must not retrace"

    model.load_weights(tmp_path / "original.weights.h5")
    np.testing.assert_array_equal(tokens(model), original)


def test_a_fit_step_reaches_the_next_call(tiny_dir, expected):
    # Seeded (as every test, by conftest): fit's dropout draws otherwise differ from run to run, and some
    # draws make a step of this size turn the tiny model chaotic (saturated attention, where float32
    # rounding flips which key wins).
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    prompt = expected["gen.prompt.1"][None].astype(np.int32)
    before = model.generate(prompt, max_new_tokens=LONG).numpy()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    model.fit({"input_ids": prompt, "labels": prompt}, batch_size=1, epochs=1, verbose=0)
    after = model.generate(prompt, max_new_tokens=LONG).numpy()
    assert not np.array_equal(after, before), "the step should show in the tokens"
    other = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    other.set_weights(model.get_weights())
    np.testing.assert_array_equal(after, other.generate(prompt, max_new_tokens=LONG).numpy())
    _, logits, state = greedy_steps(model, prompt[0])
    sequence = state.tokens.numpy()[0, : prompt.shape[1] + NEW_TOKENS - 1]
    np.testing.assert_allclose(logits, forward_logits(model, sequence, prompt.shape[1]), rtol=0, atol=5e-5)


# === Quantized and LoRA models ===


def test_quantized_projections_decode_as_they_are(tiny_dir, expected):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    model.quantize("int8")
    prompt = tf.constant(expected["gen.prompt.0"][None], tf.int32)
    prefill_fn, _ = build_stream_fns(model, MAX_LENGTH, DecodingOptions())
    # The layers Keras quantized have no float kernel to copy: the cache carries no copies for them.
    assert all(layer[2] == {"attn": {}, "mlp": {}} for layer in prefill_fn(prompt, tf.ones_like(prompt)).cache)
    controls = list(GREEDY)
    compiled = build_generate_fn(model, MAX_LENGTH)(prompt, tf.ones_like(prompt), *controls)["sequences"]
    eager = build_generate_fn(model, MAX_LENGTH, jit_compile=False)(prompt, tf.ones_like(prompt), *controls)["sequences"]
    np.testing.assert_array_equal(compiled.numpy(), eager.numpy())


def test_lora_decodes_with_its_update_to_1e_6(tiny_dir, expected):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", dtype="float64")
    model.enable_lora(4)
    rng = np.random.default_rng(3)
    for weight in model.weights:
        if "lora" in weight.path and weight.path.endswith("_b"):
            weight.assign(rng.normal(0, 0.2, weight.shape))
    prompt = expected["gen.prompt.2"].astype(np.int32)
    first, logits, state = greedy_steps(model, prompt)
    sequence = state.tokens.numpy()[0, : len(prompt) + NEW_TOKENS - 1]
    assert not np.array_equal(sequence, expected["gen.greedy.2"][:-1]), "the update should change the tokens"
    np.testing.assert_allclose(logits, forward_logits(model, sequence, len(prompt)), rtol=0, atol=1e-6)
    for layer, block in zip(first.cache, model.transformer.blocks):
        np.testing.assert_array_equal(layer[2]["attn"]["c_attn"].numpy(), block.attn.c_attn.kernel.numpy().T)
    model.merge_lora()
    _, merged, _ = greedy_steps(model, prompt)
    np.testing.assert_allclose(merged, logits, rtol=0, atol=1e-6)
