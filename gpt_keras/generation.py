"""Text generation for the LM models: KV-cached greedy, sampling and beam search decoding under XLA.

The whole decode (prefill of the prompt, then the token loop) is one `tf.function(jit_compile=True)`
over a key/value cache of fixed size. Prompts are padded (on the left) to a bucket length and the cache
to a bucket of new tokens, so calls whose lengths fall in the same buckets run the same compiled
program; the number of new tokens, temperature, top-k, top-p, the seed and greedy-versus-sampling are
tensors, not constants of the program.

Padded prompts work either way round: `attention_mask` says which cache slots are real, and each
token's position counts the real tokens before it, so a prompt gives the same tokens in any batch.

Semantics follow the reference (`transformers` 4.57 `generate`): logits processors in its order
(repetition penalty, no-repeat n-grams, minimum new tokens, then for sampling temperature, top-k,
top-p), its beam search (scores of finished hypotheses divided by `new_length ** length_penalty`,
`early_stopping` False / True / "never"), finished rows filled with `pad_token_id`. Deliberate
differences: sampling draws from a counter-based hash of (seed, step) (same seed, same text; not
torch's stream); positions come from `attention_mask` (the reference counts padding as positions, so
its padded prompts differ from unpadded ones); padding tokens never count as repeated tokens or
n-grams.

`build_generate_fn(model, max_length, options)` returns the traceable core, a function of tensors only,
for export (`tf.Module` / SavedModel); `GenerationMixin.generate` validates, buckets and calls it.
"""
import dataclasses
import inspect
import math
import numbers
import secrets

import numpy as np
import tensorflow as tf

MIN_BUCKET = 8
# The reference's stand-in for minus infinity in beam bookkeeping; kept so that ties resolve alike.
BEAM_NEG = -1.0e9
# Fed to the model in slots nobody reads (bucket padding, finished rows) instead of pad_token_id,
# which need not be a vocabulary id.
FILLER_TOKEN_ID = 0


@dataclasses.dataclass(frozen=True)
class DecodingOptions:
    """The settings that are fixed in a compiled generation program (one program per distinct value).

    Args:
        num_beams: 1 for greedy / sampling, more for beam search.
        num_return_sequences: Best hypotheses returned per prompt (beam search only; sampling repeats
            the prompts instead).
        length_penalty: Beam search: a finished hypothesis scores `sum_logprobs / new_length ** length_penalty`.
        early_stopping: Beam search: False (stop when no running beam can beat the finished ones, with the
            reference's heuristic), True (stop once `num_beams` hypotheses are finished) or "never".
        repetition_penalty: Logits of tokens already in the sequence are divided by it (multiplied when
            negative); 1.0 turns it off.
        no_repeat_ngram_size: Ban tokens that would repeat an n-gram of this size; 0 turns it off.
        min_new_tokens: EOS is banned until this many tokens were generated.
        eos_token_ids: Tuple of end-of-sequence ids (may be empty).
        pad_token_id: Id written after a row has finished.
    """

    num_beams: int = 1
    num_return_sequences: int = 1
    length_penalty: float = 1.0
    early_stopping: object = False
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_new_tokens: int = 0
    eos_token_ids: tuple = ()
    pad_token_id: int = 0

    @property
    def tracks_history(self):
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0


def bucket_length(length, minimum=MIN_BUCKET):
    """The bucket a length falls in: the next power of two, at least `minimum`."""
    return max(minimum, 1 << max(0, int(length) - 1).bit_length())


# === Prefill and the decoding state ===


def positions_from_mask(attention_mask):
    """Position of each slot: the number of real tokens before it (0 for padding slots)."""
    return tf.maximum(tf.cumsum(attention_mask, axis=1) - 1, 0)


def _compact(tokens, attention_mask):
    """Moves each row's real tokens to the front, in order (what follows them is padding)."""
    width = tf.shape(tokens)[1]
    slots = tf.range(width)[None, :]
    order = tf.argsort(tf.where(attention_mask > 0, slots, slots + width), axis=1, stable=True)
    return tf.gather(tokens, order, batch_dims=1)


def prefill(model, input_ids, attention_mask, max_length, options):
    """Runs the prompt through the model into a fresh cache of `max_length` slots.

    Args:
        model: A model with `transformer` and `lm_logits`.
        input_ids: (batch, prompt_len) int32, padded anywhere that `attention_mask` is 0.
        attention_mask: (batch, prompt_len) int32, 1 for real tokens; every row has at least one.
        max_length: Cache slots: prompt_len plus room for every new token.
        options: `DecodingOptions`.

    Returns:
        The decoding state: a dict of tensors (see `decode_steps`).
    """
    config = model.config
    batch, prompt_len = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
    # (batch * heads, slots, head_dim): the layout the attention's batched matmuls read without a reshape,
    # which lets XLA update the cache in place inside the decoding loop (see CausalSelfAttention).
    cache_shape = (batch * config.n_head, max_length, config.head_dim)
    cache_dtype = model.transformer.compute_dtype
    cache = tuple((tf.zeros(cache_shape, cache_dtype), tf.zeros(cache_shape, cache_dtype)) for _ in range(config.n_layer))
    # Slots after the prompt hold generated tokens: real, and hidden from earlier slots by causality.
    slot_mask = tf.concat([attention_mask, tf.ones((batch, max_length - prompt_len), tf.int32)], axis=1)
    slot_mask = tf.ensure_shape(slot_mask, (None, max_length))  # static even when prompt_len is not
    outputs = model.transformer.forward(
        input_ids,
        attention_mask=slot_mask,
        position_ids=positions_from_mask(attention_mask),
        cache=cache,
        cache_index=0,
    )
    last_slot = tf.reduce_max(tf.where(attention_mask > 0, tf.range(prompt_len)[None, :], -1), axis=1)
    last_hidden = tf.gather(outputs["last_hidden_state"], last_slot, batch_dims=1)  # (batch, n_embd)
    tokens = tf.concat([input_ids, tf.fill((batch, max_length - prompt_len), options.pad_token_id)], axis=1)
    tokens = tf.ensure_shape(tokens, (None, max_length))
    state = {
        "step": tf.constant(0, tf.int32),
        "prompt_len": prompt_len,  # slot of the first new token
        "cache": outputs["cache"],
        "logits": model.lm_logits(last_hidden),  # (batch, vocab)
        "tokens": tokens,  # (batch, max_length): the prompt's slots, then one slot per new token
        "lengths": tf.reduce_sum(attention_mask, axis=1),  # real tokens so far = next position
        "finished": tf.zeros((batch,), tf.bool),
        "slot_mask": slot_mask,
    }
    if options.tracks_history:
        state["history"] = _compact(tokens, slot_mask)  # real tokens only, in order
    return state


def _forward_tokens(model, state, new_tokens):
    """Feeds one token per row at slot `prompt_len + step`; returns the new cache and logits."""
    outputs = model.transformer.forward(
        new_tokens[:, None],
        attention_mask=state["slot_mask"],
        position_ids=state["lengths"][:, None],
        cache=state["cache"],
        cache_index=state["prompt_len"] + state["step"],
    )
    return outputs["cache"], model.lm_logits(outputs["last_hidden_state"][:, 0])


# === Logits processors ===


def _token_mask(tokens, valid, vocab_size):
    """(rows, vocab) bool: which vocabulary ids occur among `tokens` where `valid`."""
    rows, width = tf.shape(tokens)[0], tf.shape(tokens)[1]
    row_ids = tf.broadcast_to(tf.range(rows)[:, None], (rows, width))
    indices = tf.stack([row_ids, tokens], axis=-1)
    hits = tf.tensor_scatter_nd_max(tf.zeros((rows, vocab_size), tf.int32), indices, tf.cast(valid, tf.int32))
    return hits > 0


def _banned_ngram_tokens(history, lengths, ngram_size, vocab_size):
    """(rows, vocab) bool: tokens that would complete an n-gram already present in `history`."""
    width = history.shape[1]
    starts = width - ngram_size + 1
    last = tf.gather(history, tf.maximum(lengths[:, None] - ngram_size + 1 + tf.range(ngram_size - 1), 0), batch_dims=1)
    matches = tf.ones_like(history[:, :starts], tf.bool)
    for i in range(ngram_size - 1):
        matches &= history[:, i : i + starts] == last[:, i : i + 1]
    matches &= tf.range(starts)[None, :] + ngram_size - 1 < lengths[:, None]
    return _token_mask(history[:, ngram_size - 1 :], matches, vocab_size)


def process_scores(scores, state, options):
    """Applies repetition penalty, no-repeat n-grams and minimum new tokens, in the reference's order.

    Args:
        scores: (rows, vocab) float32 logits (log-probabilities in beam search).
        state: The decoding state (`history`, `lengths`, `step` are read).
        options: `DecodingOptions`.

    Returns:
        The processed (rows, vocab) scores.
    """
    vocab_size = scores.shape[-1]
    if options.tracks_history:
        history, lengths = state["history"], state["lengths"]
        if options.repetition_penalty != 1.0:
            valid = tf.range(history.shape[1])[None, :] < lengths[:, None]
            seen = _token_mask(history, valid, vocab_size)
            penalty = options.repetition_penalty
            penalized = tf.where(scores < 0, scores * penalty, scores / penalty)
            scores = tf.where(seen, penalized, scores)
        if 0 < options.no_repeat_ngram_size <= history.shape[1]:
            banned = _banned_ngram_tokens(history, lengths, options.no_repeat_ngram_size, vocab_size)
            scores = tf.where(banned, -math.inf, scores)
    if options.min_new_tokens > 0 and options.eos_token_ids:
        is_eos = _is_eos(tf.range(vocab_size), options)[None, :]
        scores = tf.where(is_eos & (state["step"] < options.min_new_tokens), -math.inf, scores)
    return scores


def warp_scores(scores, temperature, top_k, top_p, min_tokens_to_keep=1):
    """Temperature, then top-k, then top-p (nucleus) filtering; filtered entries become -inf.

    Args:
        scores: (rows, vocab) float32.
        temperature: Scalar > 0.
        top_k: Scalar int; 0 keeps every token.
        top_p: Scalar in (0, 1]; 1 keeps every token.
        min_tokens_to_keep: Neither filter keeps fewer tokens than this.

    Returns:
        The warped (rows, vocab) scores.
    """
    vocab_size = scores.shape[-1]
    scores = scores / tf.cast(temperature, scores.dtype)
    ranked = tf.sort(scores, axis=-1, direction="DESCENDING")
    k = tf.clip_by_value(tf.maximum(tf.cast(top_k, tf.int32), min_tokens_to_keep), 1, vocab_size)
    kth = tf.where(top_k > 0, ranked[:, k - 1], -math.inf)[:, None]
    ranked = tf.where(ranked >= kth, ranked, -math.inf)
    # The reference removes the low tail whose (ascending) cumulative probability is <= 1 - top_p.
    tail_mass = tf.cumsum(tf.nn.softmax(ranked, axis=-1), axis=-1, reverse=True)
    top_p = tf.cast(top_p, scores.dtype)
    removed = (tail_mass <= 1.0 - top_p) & (tf.range(vocab_size)[None, :] >= min_tokens_to_keep)
    kept = vocab_size - tf.reduce_sum(tf.cast(removed, tf.int32), axis=-1)
    nucleus_floor = tf.gather(ranked, kept - 1, batch_dims=1)[:, None]
    floor = tf.where(top_p < 1.0, tf.maximum(kth, nucleus_floor), kth)
    return tf.where(scores >= floor, scores, -math.inf)


def _hash32(x):
    """An avalanching 32-bit integer hash (Wellons' "lowbias32")."""
    x ^= tf.bitwise.right_shift(x, 16)
    x *= tf.constant(0x7FEB352D, tf.uint32)
    x ^= tf.bitwise.right_shift(x, 15)
    x *= tf.constant(0x846CA68B, tf.uint32)
    return x ^ tf.bitwise.right_shift(x, 16)


def _gumbel(shape, seed, step):
    """Gumbel noise that is a pure function of (seed, step, element index).

    TensorFlow's stateless RNG kernels draw different streams on CPU and under XLA, so the noise is
    hashed from integers here: the same seed gives the same tokens eagerly, compiled and exported.
    """
    golden = tf.constant(0x9E3779B9, tf.uint32)
    key = _hash32(tf.cast(seed, tf.uint32) + _hash32(tf.cast(step, tf.uint32) + golden))
    index = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
    bits = _hash32(index * golden + key)
    uniform = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) / float(1 << 24)  # in (0, 1)
    return -tf.math.log(-tf.math.log(uniform))


def _is_eos(tokens, options):
    hits = tf.zeros_like(tokens, tf.bool)
    for eos in options.eos_token_ids:
        hits |= tokens == eos
    return hits


def _write_column(buffer, column, values):
    """Writes `values` (rows,) into column `column` (scalar, or (rows,) per row) of `buffer`."""
    column = tf.reshape(column, (-1, 1))
    return tf.where(tf.range(buffer.shape[1])[None, :] == column, values[:, None], buffer)


# === Greedy search and sampling ===


def decode_steps(model, state, stop_step, controls, options):
    """Runs the greedy / sampling token loop from `state["step"]` up to `stop_step` (or all finished).

    State keys: `step` (tokens generated so far), `prompt_len` (slot of the first new token), `cache`, `logits` (batch, vocab) for the next token,
    `tokens` (batch, max_length) output slots, `lengths` (real tokens = next position), `finished`,
    `slot_mask`, and `history` when a processor needs it.

    Args:
        model: The model.
        state: From `prefill` or an earlier `decode_steps`.
        stop_step: Scalar int32: stop once this many tokens were generated.
        controls: Dict of scalar tensors `max_new_tokens`, `temperature`, `top_k`, `top_p`, `seed`,
            `do_sample`.
        options: `DecodingOptions` with num_beams == 1.

    Returns:
        The new state.
    """

    def select(scores, step):
        def sample():
            warped = warp_scores(scores, controls["temperature"], controls["top_k"], controls["top_p"])
            return tf.argmax(warped + _gumbel(tf.shape(scores), controls["seed"], step), axis=-1, output_type=tf.int32)

        return tf.cond(controls["do_sample"], sample, lambda: tf.argmax(scores, axis=-1, output_type=tf.int32))

    def body(state):
        scores = process_scores(state["logits"], state, options)
        chosen = select(scores, state["step"])
        new_tokens = tf.where(state["finished"], options.pad_token_id, chosen)
        # Finished rows are written as pad_token_id, which may lie outside the vocabulary (-1, or an
        # added <pad>); the model is fed an id it can look up, whose results nobody reads.
        fed_tokens = tf.where(state["finished"], FILLER_TOKEN_ID, chosen)
        state = dict(state)
        state["tokens"] = _write_column(state["tokens"], state["prompt_len"] + state["step"], new_tokens)
        if options.tracks_history:
            state["history"] = _write_column(state["history"], state["lengths"], fed_tokens)
        state["finished"] = state["finished"] | _is_eos(new_tokens, options)
        state["cache"], state["logits"] = _forward_tokens(model, state, fed_tokens)
        state["lengths"] = state["lengths"] + 1
        state["step"] = state["step"] + 1
        return (state,)

    def cond(state):
        return (state["step"] < stop_step) & ~tf.reduce_all(state["finished"])

    return tf.while_loop(cond, body, (state,))[0]


# === Beam search ===


def _beam_search(model, state, controls, options):
    """Beam search as the reference runs it, vectorized over (batch, beams) with fixed shapes.

    Returns:
        (sequences (batch * num_return_sequences, max_length), num_generated scalar).
    """
    beams = options.num_beams
    batch = tf.shape(state["tokens"])[0]
    max_length = state["tokens"].shape[1]
    vocab_size = state["logits"].shape[-1]
    max_new_tokens = controls["max_new_tokens"]
    # At least `beams` candidates per step must not end in EOS, so that `beams` beams can continue.
    candidates = max(2, 1 + len(options.eos_token_ids)) * beams
    min_tokens_to_keep = len(options.eos_token_ids) + 1 if options.eos_token_ids else 2

    def repeat(x):
        return tf.repeat(x, beams, axis=0)

    def repeat_cache(x):
        return _select_sequences(x, tf.repeat(tf.range(batch), beams), model.config.n_head)

    state = {
        key: value if key in ("step", "prompt_len") else tf.nest.map_structure(repeat_cache if key == "cache" else repeat, value)
        for key, value in state.items()
    }
    state["running_scores"] = tf.tile(tf.constant([[0.0] + [BEAM_NEG] * (beams - 1)]), (batch, 1))
    state["best_tokens"] = tf.reshape(state["tokens"], (batch, beams, max_length))
    state["best_scores"] = tf.fill((batch, beams), BEAM_NEG)
    state["best_done"] = tf.zeros((batch, beams), tf.bool)
    state["best_lengths"] = tf.zeros((batch, beams), tf.int32)
    state["improvable"] = tf.ones((batch,), tf.bool)
    batch_offsets = tf.range(batch)[:, None] * beams

    def gather_beams(x, indices):
        return tf.gather(x, indices, batch_dims=1)

    def body(state):
        step = state["step"]
        log_probs = process_scores(tf.nn.log_softmax(state["logits"], axis=-1), state, options)
        log_probs = tf.cond(
            controls["do_sample"],
            lambda: warp_scores(log_probs, controls["temperature"], controls["top_k"], controls["top_p"], min_tokens_to_keep),
            lambda: log_probs,
        )
        totals = tf.reshape(log_probs, (batch, beams, vocab_size)) + state["running_scores"][:, :, None]
        totals = tf.reshape(totals, (batch, beams * vocab_size))
        # Sampling without replacement from softmax(totals) is a top-k of Gumbel-perturbed totals.
        picked = tf.cond(
            controls["do_sample"],
            lambda: tf.math.top_k(totals + _gumbel(tf.shape(totals), controls["seed"], step), candidates).indices,
            lambda: tf.math.top_k(totals, candidates).indices,
        )
        picked_scores = gather_beams(totals, picked)  # (batch, candidates)
        source = picked // vocab_size + batch_offsets  # flat row each candidate extends
        new_tokens = picked % vocab_size
        candidate_tokens = tf.reshape(tf.gather(state["tokens"], source), (batch, candidates, max_length))
        candidate_tokens = tf.where(
            tf.range(max_length)[None, None, :] == state["prompt_len"] + step, new_tokens[:, :, None], candidate_tokens
        )
        ends = _is_eos(new_tokens, options) | (step + 1 >= max_new_tokens)

        # Beams that continue: the best candidates that did not just end.
        running_scores = picked_scores + tf.cast(ends, tf.float32) * BEAM_NEG
        keep = tf.math.top_k(running_scores, beams).indices
        state = dict(state)
        state["running_scores"] = gather_beams(running_scores, keep)
        flat_source = tf.reshape(gather_beams(source, keep), (-1,))
        flat_tokens = tf.reshape(gather_beams(new_tokens, keep), (-1,))
        state["tokens"] = tf.reshape(gather_beams(candidate_tokens, keep), (-1, max_length))

        # Finished hypotheses: among the top `beams` candidates only, merged with the kept best.
        just_finished = ends & (tf.range(candidates) < beams)[None, :]
        new_length = step + 1
        finished_scores = picked_scores / tf.cast(new_length, tf.float32) ** options.length_penalty
        closed = ~state["improvable"][:, None]
        if options.early_stopping is True:
            closed |= tf.reduce_all(state["best_done"], axis=1, keepdims=True)
        finished_scores += tf.cast(closed | ~just_finished, tf.float32) * BEAM_NEG
        merged_scores = tf.concat([state["best_scores"], finished_scores], axis=1)
        best = tf.math.top_k(merged_scores, beams).indices
        state["best_scores"] = gather_beams(merged_scores, best)
        state["best_tokens"] = gather_beams(tf.concat([state["best_tokens"], candidate_tokens], axis=1), best)
        state["best_done"] = gather_beams(tf.concat([state["best_done"], just_finished], axis=1), best)
        new_lengths = tf.fill((batch, candidates), new_length)
        state["best_lengths"] = gather_beams(tf.concat([state["best_lengths"], new_lengths], axis=1), best)

        # The continuing beams take their source beam's cache and history.
        state["cache"] = tf.nest.map_structure(
            lambda x: _select_sequences(x, flat_source, model.config.n_head), state["cache"]
        )
        state["lengths"] = tf.gather(state["lengths"], flat_source)
        if options.tracks_history:
            history = tf.gather(state["history"], flat_source)
            state["history"] = _write_column(history, state["lengths"], flat_tokens)
        state["cache"], state["logits"] = _forward_tokens(model, state, flat_tokens)
        state["lengths"] = state["lengths"] + 1
        state["step"] = step + 1

        # Can a running beam still beat the worst finished one? (The reference's heuristic.)
        if options.early_stopping == "never" and options.length_penalty > 0:
            hoped_length = max_new_tokens
        else:
            hoped_length = state["step"]
        best_possible = state["running_scores"][:, :1] / tf.cast(hoped_length, tf.float32) ** options.length_penalty
        worst_finished = tf.where(
            state["best_done"], tf.reduce_min(state["best_scores"], axis=1, keepdims=True), BEAM_NEG
        )
        state["improvable"] &= tf.reduce_any(best_possible > worst_finished, axis=1)
        return (state,)

    def cond(state):
        going = (state["step"] < max_new_tokens) & tf.reduce_any(state["improvable"])
        if options.early_stopping is True:
            going &= ~tf.reduce_all(state["best_done"])
        return going

    state = tf.while_loop(cond, body, (state,))[0]
    returned = options.num_return_sequences
    sequences = tf.reshape(state["best_tokens"][:, :returned], (-1, max_length))
    return sequences, tf.reduce_max(state["best_lengths"][:, :returned])


# === The compiled program ===


def _select_sequences(cache, sequences, num_heads):
    """The rows of sequences `sequences` (a list of indices) of a (batch * heads, slots, head_dim) cache."""
    per_sequence = tf.reshape(cache, tf.concat([[-1, num_heads], tf.shape(cache)[1:]], axis=0))
    return tf.reshape(tf.gather(per_sequence, sequences), tf.concat([[-1], tf.shape(cache)[1:]], axis=0))


def build_generate_fn(model, max_length, options=DecodingOptions(), jit_compile=True, on_trace=None):
    """The generation program: prefill and the whole token loop, as one function of tensors.

    Args:
        model: A `TFOpenAIGPTLMHeadModel` or `TFOpenAIGPTDoubleHeadsModel`.
        max_length: Cache / output slots: the prompt width plus room for every new token.
        options: `DecodingOptions` (fixed in the program).
        jit_compile: Wrap in `tf.function(jit_compile=True)`; False returns the plain Python function,
            which runs eagerly (same results, e.g. for debugging).
        on_trace: Optional callable run each time the function is traced (counts compilations).

    Returns:
        `fn(input_ids, attention_mask, max_new_tokens, temperature, top_k, top_p, seed, do_sample)`
        taking int32 (batch, prompt_len) ids and mask (every row with a real token, prompt_len +
        max_new_tokens <= max_length), int32 scalars `max_new_tokens`, `top_k`, `seed`, float32
        `temperature`, `top_p` and bool `do_sample`; returning `{"sequences": (rows, max_length) int32,
        "num_generated": int32 scalar}`, rows = batch * num_return_sequences for beam search. Slots
        `[prompt_len, prompt_len + num_generated)` hold the new tokens.

    Example:
        >>> fn = build_generate_fn(model, 64)
        >>> out = fn(ids, mask, tf.constant(20), tf.constant(1.0), tf.constant(0), tf.constant(1.0),
        ...          tf.constant(0), tf.constant(False))
    """

    def generate_fn(input_ids, attention_mask, max_new_tokens, temperature, top_k, top_p, seed, do_sample):
        if on_trace is not None:
            on_trace()
        controls = {
            "max_new_tokens": tf.cast(max_new_tokens, tf.int32),
            "temperature": tf.cast(temperature, tf.float32),
            "top_k": tf.cast(top_k, tf.int32),
            "top_p": tf.cast(top_p, tf.float32),
            "seed": tf.cast(seed, tf.int32),
            "do_sample": tf.cast(do_sample, tf.bool),
        }
        input_ids = tf.cast(input_ids, tf.int32)
        attention_mask = tf.cast(attention_mask, tf.int32)
        state = prefill(model, input_ids, attention_mask, max_length, options)
        if options.num_beams > 1:
            sequences, num_generated = _beam_search(model, state, controls, options)
        else:
            state = decode_steps(model, state, controls["max_new_tokens"], controls, options)
            sequences, num_generated = state["tokens"], state["step"]
        return {"sequences": sequences, "num_generated": num_generated}

    return tf.function(generate_fn, jit_compile=True) if jit_compile else generate_fn


def build_stream_fns(model, max_length, options=DecodingOptions(), on_trace=None):
    """Compiled prefill and decode-a-chunk functions for streaming (greedy / sampling only).

    Chunks continue exactly where the last one stopped (cache, positions and the RNG stream), so the
    concatenated chunks equal one `generate` call.

    Returns:
        `(prefill_fn(input_ids, attention_mask) -> state, decode_fn(state, num_steps, controls) -> state)`;
        `state["tokens"][:, prompt_len:prompt_len + state["step"]]` are the tokens so far.
    """

    def prefill_fn(input_ids, attention_mask):
        if on_trace is not None:
            on_trace()
        return prefill(model, input_ids, attention_mask, max_length, options)

    def decode_fn(state, num_steps, controls):
        if on_trace is not None:
            on_trace()
        stop = tf.minimum(state["step"] + num_steps, controls["max_new_tokens"])
        return decode_steps(model, state, stop, controls, options)

    return tf.function(prefill_fn, jit_compile=True), tf.function(decode_fn, jit_compile=True)


# === The models' API ===


class _CompiledPrograms:
    """Compiled generation programs of one model, keyed by (kind, max_length, options); counts traces."""

    def __init__(self):
        self.functions = {}
        self.trace_count = 0

    def count_trace(self):
        self.trace_count += 1


@dataclasses.dataclass
class _Request:
    """A validated generation call: bucketed numpy inputs, the tensor controls and the static options."""

    input_ids: np.ndarray  # (rows, prompt_bucket), left-padded to the bucket
    attention_mask: np.ndarray
    prompt_width: int  # the caller's prompt width (output starts that many slots before the bucket end)
    max_new_tokens: int
    max_length: int
    controls: dict
    options: DecodingOptions


def _as_numpy_ids(value, argument):
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{argument} must hold integers, got {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{argument} must have shape (batch, seq), got shape {array.shape}")
    return array.astype(np.int32)


def eos_and_pad_ids(config, eos_token_id=None, pad_token_id=None):
    """The EOS ids (a tuple; `config.eos_token_id` when None) and the pad id (`config.pad_token_id`,
    else the first EOS id, else 0) that generation uses."""
    eos = _eos_tuple(config.eos_token_id if eos_token_id is None else eos_token_id)
    if pad_token_id is None:
        pad_token_id = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
    return eos, int(pad_token_id)


def _eos_tuple(eos_token_id):
    if eos_token_id is None:
        return ()
    ids = (eos_token_id,) if np.ndim(eos_token_id) == 0 else tuple(np.asarray(eos_token_id).reshape(-1))
    return tuple(int(i) for i in ids)


class GenerationMixin:
    """Adds `generate`, `stream`, `generate_text` and `stream_text` to models that have `transformer`
    (a `TFOpenAIGPT`) and `lm_logits(hidden_states)`."""

    @property
    def generation_trace_count(self):
        """How many times a generation program was traced (each trace is followed by an XLA compile)."""
        return self._compiled_programs().trace_count

    def _compiled_programs(self):
        programs = self.__dict__.get("_generation_programs")
        if programs is None:
            programs = _CompiledPrograms()
            self.__dict__["_generation_programs"] = programs
        return programs

    def _program(self, kind, max_length, options):
        programs = self._compiled_programs()
        key = (kind, max_length, options)
        if key not in programs.functions:
            if kind == "generate":
                programs.functions[key] = build_generate_fn(self, max_length, options, on_trace=programs.count_trace)
            else:
                programs.functions[key] = build_stream_fns(self, max_length, options, on_trace=programs.count_trace)
        return programs.functions[key]

    def _prepare_request(self, input_ids, attention_mask, settings):
        """Validates a call of `generate` / `stream` (settings: its keyword arguments) into a `_Request`."""
        settings = _checked_settings(settings)
        (
            max_new_tokens, max_length, min_new_tokens, do_sample, temperature, top_k, top_p, num_beams,
            length_penalty, early_stopping, num_return_sequences, repetition_penalty, no_repeat_ngram_size,
            eos_token_id, pad_token_id, seed, truncate_prompt,
        ) = (settings[name] for name in _generate_settings())  # fmt: skip
        config = self.config
        input_ids = _as_numpy_ids(input_ids, "input_ids")
        if attention_mask is None:
            attention_mask = np.ones_like(input_ids)
        attention_mask = _as_numpy_ids(attention_mask, "attention_mask")
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask has shape {attention_mask.shape} but input_ids has shape {input_ids.shape}; they must match"
            )
        if not np.isin(attention_mask, (0, 1)).all():
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (real token)")
        if input_ids.shape[0] == 0:
            raise ValueError("input_ids is an empty batch: give at least one prompt")
        prompt_lengths = attention_mask.sum(axis=1)
        if input_ids.shape[1] == 0 or (prompt_lengths == 0).any():
            empty = [int(i) for i in np.flatnonzero(prompt_lengths == 0)] if input_ids.shape[1] else "all"
            raise ValueError(f"input_ids has an empty prompt (rows {empty}): every prompt needs at least one token")
        if input_ids.min() < 0 or input_ids.max() >= config.vocab_size:
            bad = sorted(set(input_ids[(input_ids < 0) | (input_ids >= config.vocab_size)].tolist()))[:8]
            raise ValueError(f"input_ids must be in [0, {config.vocab_size}) (padding included), got {bad}")

        if max_new_tokens is None:
            # The reference's default: max_length (20 when not given) counts the prompt too.
            max_new_tokens = (20 if max_length is None else max_length) - input_ids.shape[1]
            argument = "max_length"
        else:
            argument = "max_new_tokens"
        if int(max_new_tokens) != max_new_tokens or max_new_tokens < 1:
            raise ValueError(f"{argument} leaves {max_new_tokens} new tokens for a prompt of width {input_ids.shape[1]}; need at least 1")
        max_new_tokens = int(max_new_tokens)
        room = config.n_positions - max_new_tokens
        if prompt_lengths.max() > room:
            if not truncate_prompt or room < 1:
                raise ValueError(
                    f"prompt + new tokens exceed n_positions={config.n_positions}: the longest prompt has "
                    f"{prompt_lengths.max()} tokens and max_new_tokens={max_new_tokens}; shorten the prompt, lower "
                    "max_new_tokens, or pass truncate_prompt=True to keep only each prompt's last tokens"
                )
            input_ids, attention_mask = _keep_last_tokens(input_ids, attention_mask, room)

        if do_sample and not temperature > 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if int(top_k) != top_k or top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0 disables it), got {top_k}")
        if int(num_beams) != num_beams or num_beams < 1:
            raise ValueError(f"num_beams must be an integer >= 1, got {num_beams}")
        if int(num_return_sequences) != num_return_sequences or num_return_sequences < 1:
            raise ValueError(f"num_return_sequences must be an integer >= 1, got {num_return_sequences}")
        if num_beams > 1 and num_return_sequences > num_beams:
            raise ValueError(
                f"num_return_sequences ({num_return_sequences}) must be <= num_beams ({num_beams}) in beam search"
            )
        if num_beams == 1 and not do_sample and num_return_sequences > 1:
            raise ValueError(
                f"num_return_sequences={num_return_sequences} needs sampling (do_sample=True) or beam search "
                "(num_beams > 1): greedy search returns one sequence per prompt"
            )
        if not repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0, got {repetition_penalty}")
        if int(no_repeat_ngram_size) != no_repeat_ngram_size or no_repeat_ngram_size < 0:
            raise ValueError(f"no_repeat_ngram_size must be an integer >= 0, got {no_repeat_ngram_size}")
        if int(min_new_tokens) != min_new_tokens or min_new_tokens < 0:
            raise ValueError(f"min_new_tokens must be an integer >= 0, got {min_new_tokens}")
        check_early_stopping(early_stopping)

        eos, pad_token_id = eos_and_pad_ids(config, eos_token_id, pad_token_id)
        options = DecodingOptions(
            num_beams=int(num_beams),
            num_return_sequences=int(num_return_sequences) if num_beams > 1 else 1,
            length_penalty=float(length_penalty),
            early_stopping=early_stopping,
            repetition_penalty=float(repetition_penalty),
            no_repeat_ngram_size=int(no_repeat_ngram_size),
            min_new_tokens=int(min_new_tokens),
            eos_token_ids=eos,
            pad_token_id=pad_token_id,
        )
        if num_beams == 1 and num_return_sequences > 1:
            # Sampling several sequences per prompt: each prompt repeated, as the reference expands it.
            input_ids = np.repeat(input_ids, num_return_sequences, axis=0)
            attention_mask = np.repeat(attention_mask, num_return_sequences, axis=0)

        prompt_width = input_ids.shape[1]
        prompt_bucket = bucket_length(prompt_width)
        left = prompt_bucket - prompt_width
        input_ids = np.pad(input_ids, ((0, 0), (left, 0)), constant_values=FILLER_TOKEN_ID)
        attention_mask = np.pad(attention_mask, ((0, 0), (left, 0)))
        controls = {
            "max_new_tokens": tf.constant(max_new_tokens, tf.int32),
            "temperature": tf.constant(temperature if do_sample else 1.0, tf.float32),
            "top_k": tf.constant(int(top_k), tf.int32),
            "top_p": tf.constant(top_p, tf.float32),
            "seed": tf.constant(secrets.randbelow(2**31) if seed is None else int(seed) % 2**31, tf.int32),
            "do_sample": tf.constant(bool(do_sample)),
        }
        return _Request(
            input_ids=input_ids,
            attention_mask=attention_mask,
            prompt_width=prompt_width,
            max_new_tokens=max_new_tokens,
            max_length=prompt_bucket + bucket_length(max_new_tokens),
            controls=controls,
            options=options,
        )

    def generate(
        self,
        input_ids,
        attention_mask=None,
        *,
        max_new_tokens=None,
        max_length=None,
        min_new_tokens=0,
        do_sample=False,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        num_beams=1,
        length_penalty=1.0,
        early_stopping=False,
        num_return_sequences=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        eos_token_id=None,
        pad_token_id=None,
        seed=None,
        truncate_prompt=False,
    ):
        """Generates continuations of token-id prompts: greedy, sampling or beam search.

        Prefill and the token loop run as one XLA program, compiled once per (prompt bucket, length
        bucket, fixed options): lengths are rounded up to powers of two (at least 8), so calls whose
        lengths share buckets reuse it.

        Args:
            input_ids: (batch, seq) ints: the prompts, padded left or right where `attention_mask` is 0.
            attention_mask: (batch, seq) 1 for real tokens, 0 for padding; all ones when None.
            max_new_tokens: How many tokens to generate (at most).
            max_length: Prompt width plus new tokens, used when `max_new_tokens` is None (default 20).
            min_new_tokens: EOS is banned until this many tokens were generated.
            do_sample: Sample instead of taking the most likely token.
            temperature: Logits are divided by it before sampling (> 0).
            top_k: Sample among the k most likely tokens only; 0 disables.
            top_p: Sample among the most likely tokens whose probabilities sum to top_p; 1 disables.
            num_beams: Beam search with this many beams when > 1 (sampled beams with `do_sample`).
            length_penalty: Beam search: finished hypotheses score `sum_logprobs / new_length ** length_penalty`.
            early_stopping: Beam search: False, True or "never", as in the reference.
            num_return_sequences: Sequences returned per prompt (<= num_beams with beam search).
            repetition_penalty: > 1 discourages tokens already present (prompt included, padding not).
            no_repeat_ngram_size: Forbid repeating any n-gram of this size; 0 disables.
            eos_token_id: Int or list of ints ending a sequence; `config.eos_token_id` when None.
            pad_token_id: Fills finished rows; `config.pad_token_id`, else the first EOS id, else 0. Any
                int (-1, or an added token outside the vocabulary): it is written, never fed to the model.
            seed: Int seed of the stateless sampling RNG: the same seed gives the same tokens; random
                when None.
            truncate_prompt: When prompt + max_new_tokens exceeds `n_positions`, keep each prompt's last
                tokens instead of raising.

        Returns:
            int32 tensor (batch * num_return_sequences, seq + generated): the prompts as given, then the
            new tokens; rows that ended early are filled with `pad_token_id`, and the width stops at the
            last step any row needed (as the reference returns it).

        Raises:
            ValueError: An argument is out of range (the message names it), a prompt is empty, or prompt
                + new tokens exceed `n_positions` without `truncate_prompt`.

        Example:
            >>> model.generate(np.array([[40477, 249, 3]]), max_new_tokens=20)  # doctest: +SKIP
        """
        arguments = locals()
        settings = {name: arguments[name] for name in _generate_settings()}
        return tf.constant(self._run_request(self._prepare_request(input_ids, attention_mask, settings)))

    def _run_request(self, request):
        """Runs a validated request; numpy (rows, prompt width + new tokens) int32 sequences."""
        generate_fn = self._program("generate", request.max_length, request.options)
        controls = request.controls
        outputs = generate_fn(
            tf.constant(request.input_ids),
            tf.constant(request.attention_mask),
            controls["max_new_tokens"],
            controls["temperature"],
            controls["top_k"],
            controls["top_p"],
            controls["seed"],
            controls["do_sample"],
        )
        prompt_bucket = request.input_ids.shape[1]
        end = prompt_bucket + int(outputs["num_generated"])
        return outputs["sequences"].numpy()[:, prompt_bucket - request.prompt_width : end]

    def stream(self, input_ids, attention_mask=None, *, chunk_size=8, **kwargs):
        """Generates like `generate` (greedy or sampling), yielding new tokens as they are produced.

        Each chunk of `chunk_size` tokens is one compiled call; the cache stays between chunks, so the
        concatenated chunks equal `generate`'s new tokens for the same arguments and seed.

        Args:
            input_ids, attention_mask: As for `generate`.
            chunk_size: Tokens per compiled call (>= 1).
            **kwargs: Any keyword of `generate` except beam search (`num_beams` must be 1).

        Yields:
            int32 numpy arrays (batch * num_return_sequences, n) of the next n new tokens (n <= chunk_size;
            rows that finished are filled with the pad id). Stops after max_new_tokens or when every row
            has finished.
        """
        _check_streaming(chunk_size, kwargs)
        request = self._request_from_keywords(input_ids, attention_mask, kwargs, "stream")
        yield from self._stream_request(request, chunk_size)

    def _stream_request(self, request, chunk_size):
        """Yields the new tokens of a validated request, `chunk_size` steps per compiled call."""
        prefill_fn, decode_fn = self._program("stream", request.max_length, request.options)
        state = prefill_fn(tf.constant(request.input_ids), tf.constant(request.attention_mask))
        prompt_bucket, done = request.input_ids.shape[1], 0
        num_steps = tf.constant(int(chunk_size), tf.int32)
        while done < request.max_new_tokens:
            state = decode_fn(state, num_steps, request.controls)
            step = int(state["step"])
            if step == done:
                return
            yield state["tokens"].numpy()[:, prompt_bucket + done : prompt_bucket + step]
            done = step
            if bool(tf.reduce_all(state["finished"])):
                return

    def generate_text(self, tokenizer, prompts, *, return_full_text=False, **kwargs):
        """Generates from text: encodes the prompts, generates, decodes.

        Args:
            tokenizer: Has `encode(text) -> list[int]` and `decode(ids, skip_special_tokens=...)`
                (e.g. `gpt_keras.tokenizer.OpenAIGPTTokenizer`); its `eos_token_id`, if any, ends
                sequences unless `eos_token_id` or the config gives one.
            prompts: A str or a list of str (batched, left-padded).
            return_full_text: Return prompt + continuation instead of the continuation only.
            **kwargs: Keywords of `generate`.

        Returns:
            list of str: len(prompts) * num_return_sequences texts, those of each prompt together.
        """
        input_ids, attention_mask = self._encode_prompts(tokenizer, prompts)
        kwargs = self._with_tokenizer_eos(tokenizer, kwargs)
        request = self._request_from_keywords(input_ids, attention_mask, kwargs, "generate_text")
        sequences = self._run_request(request)
        # The continuation starts after the prompt as generation used it (truncate_prompt may have cut
        # it) and ends at the EOS ids generation stopped at; a full text keeps the whole prompt.
        repeats = sequences.shape[0] // input_ids.shape[0]
        eos = set(request.options.eos_token_ids)
        texts = []
        for row, sequence in enumerate(sequences):
            prompt_row = row // repeats
            new_ids = _until_eos(sequence[request.prompt_width :].tolist(), eos)
            prompt = input_ids[prompt_row][attention_mask[prompt_row] > 0].tolist() if return_full_text else []
            texts.append(tokenizer.decode(prompt + new_ids, skip_special_tokens=True))
        return texts

    def stream_text(self, tokenizer, prompt, *, chunk_size=8, **kwargs):
        """Streams the continuation of one text prompt: yields text as it is produced.

        Words made of several tokens are not split: text is decoded incrementally (with the
        tokenizer's `decode_stream()` when it has one, which holds back an unfinished word).

        Args:
            tokenizer: As for `generate_text`.
            prompt: A str.
            chunk_size: Tokens per compiled call.
            **kwargs: Keywords of `generate` (greedy or sampling; one sequence).

        Yields:
            str pieces whose concatenation is the decoded continuation.

        Example:
            >>> for piece in model.stream_text(tokenizer, "it was a dark", max_new_tokens=40):  # doctest: +SKIP
            ...     print(piece, end="", flush=True)
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        if kwargs.get("num_return_sequences", 1) != 1:
            raise ValueError("num_return_sequences must be 1 for stream_text")
        _check_streaming(chunk_size, kwargs)
        input_ids, attention_mask = self._encode_prompts(tokenizer, [prompt])
        kwargs = self._with_tokenizer_eos(tokenizer, kwargs)
        request = self._request_from_keywords(input_ids, attention_mask, kwargs, "stream_text")
        eos = set(request.options.eos_token_ids)  # the ids generation stops at
        decoder = _TextStream(tokenizer)
        for chunk in self._stream_request(request, chunk_size):
            ids = chunk[0].tolist()
            kept = _until_eos(ids, eos)
            piece = decoder.step(kept)
            if piece:
                yield piece
            if len(kept) < len(ids):
                break
        rest = decoder.flush()
        if rest:
            yield rest

    def _request_from_keywords(self, input_ids, attention_mask, kwargs, caller):
        """`_prepare_request` for a method that takes `generate`'s options as **kwargs."""
        unknown = set(kwargs) - set(_generate_settings())
        if unknown:
            raise TypeError(f"{caller}() got unexpected keyword arguments {sorted(unknown)}")
        return self._prepare_request(input_ids, attention_mask, {**_generate_settings(), **kwargs})

    def _encode_prompts(self, tokenizer, prompts):
        if isinstance(prompts, str):
            prompts = [prompts]
        if not prompts or not all(isinstance(prompt, str) for prompt in prompts):
            raise ValueError("prompts must be a str or a non-empty list of str")
        encoded = [list(tokenizer.encode(prompt)) for prompt in prompts]
        empty = [i for i, ids in enumerate(encoded) if not ids]
        if empty:
            raise ValueError(f"prompts {empty} encode to no tokens: every prompt needs at least one token")
        width = max(len(ids) for ids in encoded)
        input_ids = np.array([[FILLER_TOKEN_ID] * (width - len(ids)) + ids for ids in encoded], np.int32)
        attention_mask = np.array([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], np.int32)
        return input_ids, attention_mask

    def _with_tokenizer_eos(self, tokenizer, kwargs):
        tokenizer_eos = getattr(tokenizer, "eos_token_id", None)
        if kwargs.get("eos_token_id") is None and self.config.eos_token_id is None and tokenizer_eos is not None:
            return dict(kwargs, eos_token_id=tokenizer_eos)
        return kwargs


def _check_streaming(chunk_size, kwargs):
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size}")
    if kwargs.get("num_beams", 1) != 1:
        raise ValueError(f"num_beams must be 1 for streaming (beam search decides at the end), got {kwargs['num_beams']}")


def check_early_stopping(value):
    """Beam search's `early_stopping` must be True, False or "never" (not 1 or 0, which `is True` misses)."""
    if not (isinstance(value, bool) or value == "never"):
        raise ValueError(f'early_stopping must be True, False or "never", got {value!r}')


def _checked_settings(settings):
    """`settings` with None read as the default (as the reference reads an unset option) and every
    number checked to be one, so that a wrong type is named instead of failing in a conversion."""
    defaults = _generate_settings()
    settings = {name: defaults[name] if value is None else value for name, value in settings.items()}
    for name, value in settings.items():
        if name in ("eos_token_id", "early_stopping", "do_sample", "truncate_prompt") or value is None:
            continue
        if np.ndim(value) == 0 and not isinstance(value, (str, bytes)) and hasattr(value, "dtype"):
            value = np.asarray(value).item()  # a scalar tensor or numpy value
            settings[name] = value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r}")
    return settings


def _generate_settings():
    """The keyword-only arguments of `generate`, in order, with their defaults."""
    parameters = inspect.signature(GenerationMixin.generate).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _until_eos(ids, eos):
    for i, token in enumerate(ids):
        if token in eos:
            return ids[:i]
    return ids


class _TextStream:
    """The tokenizer's incremental decoder, or (without one) the growth of the whole decoded text."""

    def __init__(self, tokenizer):
        make = getattr(tokenizer, "decode_stream", None)
        self._decoder = make(skip_special_tokens=True) if make is not None else None
        self._tokenizer, self._ids, self._emitted = tokenizer, [], ""

    def step(self, ids):
        if self._decoder is not None:
            return self._decoder.step(ids)
        self._ids.extend(ids)
        return self.flush()

    def flush(self):
        if self._decoder is not None:
            return self._decoder.flush()
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        new = text[len(self._emitted) :] if text.startswith(self._emitted) else ""
        self._emitted = text
        return new


def _keep_last_tokens(input_ids, attention_mask, keep):
    """Each prompt's last `keep` real tokens, left-padded to a common width (for `truncate_prompt`)."""
    rows = [ids[mask > 0][-keep:] for ids, mask in zip(input_ids, attention_mask)]
    width = max(len(row) for row in rows)
    pad = input_ids[attention_mask == 0][0] if (attention_mask == 0).any() else 0
    new_ids = np.full((len(rows), width), pad, np.int32)
    new_mask = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        new_ids[i, width - len(row) :] = row
        new_mask[i, width - len(row) :] = 1
    return new_ids, new_mask
