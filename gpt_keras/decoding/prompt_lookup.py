"""Prompt-lookup decoding: greedy search or sampling that drafts tokens from the text so far and checks
them in one cached forward pass per step, inside the same compiled program as plain decoding.

Each step of `run_prompt_lookup`, per row: choose the next token from the last logits, as plain decoding
does; draft up to k tokens that followed the first earlier occurrence of the text's last n-gram
(longest n first, as the reference's `PromptLookupCandidateGenerator` drafts); feed that token and the
draft (k + 1 positions, a static width) at the cache pointer; keep the draft's longest prefix that
agrees with what the model chooses after each position. The tokens are those of plain decoding; drafts
only change how many come per forward pass (so draft tokens that a logits processor bans, which the
reference leaves out of its drafts, are simply rejected here). A step where no row has a draft feeds
one token, as plain decoding does, so text that never repeats costs what plain decoding costs.

The cache keeps one write pointer for the batch. A row that kept fewer tokens than the batch's best
leaves slots it does not attend to (`slot_mask` 0); positions count each row's real tokens, so the gaps
change nothing. When the slots left cannot take another window, `compact_cache` moves every row's real
slots to the front (a batch of one never needs it: its pointer is its length).

A draft costs a pass of k + 1 positions (2 to 2.5 single steps at k = 10 on a 2-core CPU), so text
whose tokens recur without their continuations (every draft rejected) ran at 0.55x plain decoding.
So a row whose whole draft was rejected drafts again only after 1, then 2, 4, ... up to `MAX_PAUSE`
tokens, and at once again after a draft that kept a token (0.96x on that text). This changes when
drafts are tried, never the tokens.

Sampling draws from the same hash of (seed, step) as plain sampling, so with a seed it gives the very
tokens plain sampling gives.
"""
from typing import NamedTuple

import tensorflow as tf

from gpt_keras.decoding.config import FILLER_TOKEN_ID
from gpt_keras.decoding.loop import forward_slots, new_token_types
from gpt_keras.decoding.noise import gumbel_noise
from gpt_keras.decoding.processors import is_eos, process_scores, warp_scores
from gpt_keras.layers.decode_layout import map_keys_values


# The longest pause in drafting after rejected drafts, in tokens (see the module docstring).
MAX_PAUSE = 32


class LookupState(NamedTuple):
    """Prompt lookup's own part of the decoding state (`DecodingState.search`)."""

    generated: tf.Tensor  # (rows,) new tokens of each row so far
    cache_index: tf.Tensor  # () the slot the next window is written at
    pause: tf.Tensor  # (rows,) tokens the row last stopped drafting for (0 after a kept draft)
    resume_at: tf.Tensor  # (rows,) the row drafts again once it has this many new tokens
    # What drafting did, for benchmarks and tests:
    forward_passes: tf.Tensor  # () steps run, each one forward pass
    drafted: tf.Tensor  # (rows,) drafted tokens fed
    kept: tf.Tensor  # (rows,) drafted tokens kept


def find_drafts(text, lengths, num_tokens, max_ngram_size, eos_token_ids):
    """Each row's draft: the tokens after the first earlier occurrence of its text's last n-gram.

    As the reference drafts: n from `max_ngram_size` down to 1, the first n with a match that is
    followed by at least one token wins, the draft stops at the text's end and before its first EOS.

    Args:
        text: (rows, width) int32, each row's tokens first (padding after them is never matched).
        lengths: (rows,) int32 real tokens of each row of `text`.
        num_tokens: Static int k: the most tokens drafted.
        max_ngram_size: Static int: the longest n-gram matched.
        eos_token_ids: Tuple of EOS ids.

    Returns:
        `(drafts, draft_lengths)`: (rows, k) int32 tokens, valid where below (rows,) `draft_lengths`.
    """
    width = text.shape[1]
    ends = tf.range(width)[None, :]
    # matches[:, p]: the text's last `size` tokens also end at p (and p is not the text's last token).
    matches = ends + 1 < lengths[:, None]
    starts = tf.zeros_like(lengths)
    found = tf.zeros_like(lengths, tf.bool)
    for size in range(1, min(max_ngram_size, width - 1) + 1):
        back = size - 1
        earlier = tf.concat([tf.fill(tf.shape(text[:, :back]), -1), text[:, : width - back]], axis=1)  # text[p - back]
        wanted = tf.gather(text, tf.clip_by_value(lengths - size, 0, width - 1), batch_dims=1)[:, None]
        matches &= (earlier == wanted) & (ends >= back)
        first_end = tf.reduce_min(tf.where(matches, ends, width), axis=1)
        hit = first_end < width
        # Longer n-grams come later and win; the draft starts after the match.
        starts, found = tf.where(hit, first_end + 1, starts), found | hit
    drafts = tf.gather(text, tf.minimum(starts[:, None] + tf.range(num_tokens), width - 1), batch_dims=1)
    before_eos = tf.cumsum(tf.cast(is_eos(drafts, eos_token_ids), tf.int32), axis=1) == 0
    draft_lengths = tf.minimum(lengths - starts, tf.reduce_sum(tf.cast(before_eos, tf.int32), axis=1))
    return drafts, tf.where(found, tf.minimum(draft_lengths, num_tokens), 0)


def write_spans(buffer, starts, counts, values):
    """`buffer` (rows, width) with `values[i, :counts[i]]` written from column `starts[i]` of each row."""
    offsets = tf.range(buffer.shape[1])[None, :] - starts[:, None]
    written = (offsets >= 0) & (offsets < counts[:, None])
    spread = tf.gather(values, tf.clip_by_value(offsets, 0, values.shape[1] - 1), batch_dims=1)
    return tf.where(written, spread, buffer)


def window_histories(history, lengths, window):
    """The history before each position j of the window: `history` then `window[:, :j + 1]`.

    Args:
        history: (rows, width) each row's `lengths` tokens first.
        lengths: (rows,) int32.
        window: (rows, k + 1) tokens fed after them.

    Returns:
        (rows * (k + 1), width) histories, row-major in (row, position).
    """
    width = window.shape[1]
    offsets = tf.range(history.shape[1])[None, :] - lengths[:, None]  # (rows, columns): index into the window
    spread = tf.gather(window, tf.clip_by_value(offsets, 0, width - 1), batch_dims=1)
    fed = (offsets[:, None, :] >= 0) & (offsets[:, None, :] <= tf.range(width)[None, :, None])
    histories = tf.where(fed, spread[:, None, :], history[:, None, :])  # (rows, k + 1, columns)
    return tf.reshape(histories, (-1, history.shape[1]))


def compact_cache(state, unfinished, num_heads):
    """`state` with each row's real cache slots (those before the pointer that `slot_mask` marks) moved
    to the front, in order, and the pointer after the longest `unfinished` row (a row that will be fed
    again, in this call or a later one: the others' slots may be overwritten).

    Slot order, and so causality, is kept, and positions are each row's own: nothing a row attends to
    changes. The keys' and values' layout is (rows * num_heads, slots, head_dim).
    """
    slots = state.slot_mask.shape[1]
    index = tf.range(slots)[None, :]
    real = (state.slot_mask > 0) & (index < state.search.cache_index)
    order = tf.argsort(tf.where(real, index, index + slots), axis=1, stable=True)  # (rows, slots)
    head_order = tf.repeat(order, num_heads, axis=0)
    cache = map_keys_values(state.cache, lambda x: tf.gather(x, head_order, batch_dims=1))
    pointer = tf.reduce_max(tf.where(unfinished, state.lengths, 0))
    slot_mask = tf.cast((index < state.lengths[:, None]) | (index >= pointer), tf.int32)
    return state._replace(cache=cache, slot_mask=slot_mask, search=state.search._replace(cache_index=pointer))


def choose_tokens(scores, controls, noise):
    """Greedy tokens of (n, vocab) processed `scores`, or with `controls.do_sample` the argmax of the
    warped scores plus `noise()` (plain sampling's Gumbel noise for each row's step)."""

    def sample():
        warped = warp_scores(scores, controls.temperature, controls.top_k, controls.top_p)
        return tf.argmax(warped + noise(), axis=-1, output_type=tf.int32)

    return tf.cond(controls.do_sample, sample, lambda: tf.argmax(scores, axis=-1, output_type=tf.int32))


class Plan(NamedTuple):
    """What the next step feeds, made after each step (the loops' conditions read it)."""

    active: tf.Tensor  # (rows,) bool: the row still needs tokens
    window: tf.Tensor  # (rows, k + 1): the next token, chosen as plain decoding chooses it, then the draft
    draft_lengths: tf.Tensor  # (rows,) drafted tokens in the window (0: none; FILLER_TOKEN_ID after them)


class PromptLookupSearch:
    """Greedy search or sampling (chosen by `controls.do_sample`) with drafts from the text.

    `start` and `finish` are those of the other search strategies; `plan` and `step` are one step of
    `run_prompt_lookup`, which runs them.

    Args:
        options: `DecodingOptions` with `num_beams == 1` and `prompt_lookup_num_tokens > 0`.
        controls: `DecodingControls` of tensors.
    """

    def __init__(self, options, controls):
        self.options = options
        self.controls = controls
        self.num_tokens = options.prompt_lookup_num_tokens

    def start(self, model, state):
        zeros = tf.zeros((tf.shape(state.tokens)[0],), tf.int32)
        search = LookupState(zeros, state.prompt_len, zeros, zeros, tf.constant(0), zeros, zeros)
        return state._replace(search=search)

    def finish(self, state):
        return state.tokens, state.step

    def extra_outputs(self, state):
        # Nothing is recorded: validation refuses return_dict_in_generate with prompt lookup.
        return dict(num_steps=state.step)

    def plan(self, state, stop_step):
        """The next step's `Plan`: each row's next token and the draft that follows it."""
        options, generated = self.options, state.search.generated
        active = ~state.finished & (generated < stop_step)
        scores = process_scores(
            state.logits, options, state.history, state.lengths, generated[:, None], self.controls.min_new_tokens
        )

        def noise():
            return gumbel_noise(tf.shape(scores), self.controls.seed, generated[:, None])

        first = choose_tokens(scores, self.controls, noise)
        text = write_spans(state.history, state.lengths, tf.ones_like(first), first[:, None])
        drafts, draft_lengths = find_drafts(
            text, state.lengths + 1, self.num_tokens, options.max_matching_ngram_size, options.eos_token_ids
        )
        # The first token and the draft must fit the budget; a row whose first token ends it drafts nothing.
        budget = stop_step - generated - 1
        drafts_now = active & ~is_eos(first, options.eos_token_ids) & (generated >= state.search.resume_at)
        draft_lengths = tf.where(drafts_now, tf.minimum(draft_lengths, budget), 0)
        drafts = tf.where(tf.range(self.num_tokens)[None, :] < draft_lengths[:, None], drafts, FILLER_TOKEN_ID)
        return Plan(active, tf.concat([first[:, None], drafts], axis=1), draft_lengths)

    def verify(self, model, state, plan):
        """Feeds every window (k + 1 positions); returns the cache, the logits after each row's last kept
        token and how many tokens each row keeps."""
        width = self.num_tokens + 1
        # Positions past the table belong to draft slots past every row's budget: never kept.
        last_position = model.transformer.config.n_positions - 1
        positions = tf.minimum(state.lengths[:, None] + tf.range(width)[None, :], last_position)
        fed = tf.where(plan.active[:, None], plan.window, FILLER_TOKEN_ID)
        cache, hidden = forward_slots(
            model, state.cache, state.slot_mask, fed, positions, state.search.cache_index, new_token_types(state, width)
        )
        logits = model.lm_logits(hidden)  # (rows, k + 1, vocab)
        chosen = self.window_tokens(logits, state, plan.window)
        drafts = plan.window[:, 1:]
        agree = (drafts == chosen[:, :-1]) & (tf.range(self.num_tokens)[None, :] < plan.draft_lengths[:, None])
        accepted = tf.reduce_sum(tf.math.cumprod(tf.cast(agree, tf.int32), axis=1), axis=1)
        return cache, tf.gather(logits, accepted, batch_dims=1), accepted + 1

    def single(self, model, state, plan):
        """Feeds each row's next token alone, as plain decoding does (no row has a draft)."""
        fed = tf.where(plan.active, plan.window[:, 0], FILLER_TOKEN_ID)[:, None]
        cache, hidden = forward_slots(
            model, state.cache, state.slot_mask, fed, state.lengths[:, None], state.search.cache_index,
            new_token_types(state),
        )
        return cache, model.lm_logits(hidden[:, 0]), tf.ones_like(state.lengths)

    def window_tokens(self, logits, state, window):
        """What the model chooses after each window position: (rows, k + 1) tokens.

        Position j follows the text and `window[:, :j + 1]`; it is processed and drawn as plain
        decoding would at step `generated + j + 1`.
        """
        options, width = self.options, self.num_tokens + 1
        rows, vocab_size = tf.shape(logits)[0], logits.shape[-1]
        generated = state.search.generated
        offsets = tf.range(1, width + 1)[None, :]
        histories = window_histories(state.history, state.lengths, window) if options.tracks_history else ()
        lengths = tf.reshape(state.lengths[:, None] + offsets, (-1,))
        steps = tf.reshape(generated[:, None] + offsets, (-1, 1))
        scores = process_scores(
            tf.reshape(logits, (-1, vocab_size)), options, histories, lengths, steps, self.controls.min_new_tokens
        )

        def noise():
            # Plain sampling's noise of row i at step s hashes (seed, s, i * vocab + v): drawn per position.
            seed = self.controls.seed
            per_position = [gumbel_noise((rows, vocab_size), seed, generated[:, None] + j) for j in range(1, width + 1)]
            return tf.reshape(tf.stack(per_position, axis=1), (-1, vocab_size))

        return tf.reshape(choose_tokens(scores, self.controls, noise), (rows, width))

    def step(self, state, plan, forward, stop_step):
        """`state` after one forward pass (`forward` is `verify` or `single`), and the next plan."""
        cache, logits, counts = forward(state, plan)
        counts = tf.where(plan.active, counts, 0)
        generated, cache_index, pause, resume_at, forward_passes, drafted, kept = state.search
        advance = tf.reduce_max(counts)
        # Slots this step wrote past a row's kept tokens, before the new pointer: never attended again.
        slot_index = tf.range(state.slot_mask.shape[1])[None, :]
        gap = (slot_index >= cache_index + counts[:, None]) & (slot_index < cache_index + advance)
        first = plan.window[:, 0]
        # A row whose whole draft was rejected stops drafting for 1, 2, 4, ... tokens (up to MAX_PAUSE).
        drafted_now = plan.draft_lengths > 0
        rejected = drafted_now & (counts == 1)
        pause = tf.where(rejected, tf.clip_by_value(2 * pause, 1, MAX_PAUSE), tf.where(drafted_now, 0, pause))
        state = state._replace(
            cache=cache,
            # A row that waits (a streamed chunk's end) keeps its logits for the next chunk.
            logits=tf.where(plan.active[:, None], logits, state.logits),
            tokens=write_spans(state.tokens, state.prompt_len + generated, counts, plan.window),
            history=write_spans(state.history, state.lengths, counts, plan.window),
            lengths=state.lengths + counts,
            finished=state.finished | (plan.active & is_eos(first, self.options.eos_token_ids)),
            slot_mask=tf.where(gap, 0, state.slot_mask),
            step=tf.reduce_max(generated + counts),
            search=LookupState(
                generated + counts,
                cache_index + advance,
                pause,
                tf.where(rejected, generated + counts + pause, resume_at),
                forward_passes + 1,
                drafted + plan.draft_lengths,
                kept + tf.maximum(counts - 1, 0),
            ),
        )
        return state, self.plan(state, stop_step)


def run_prompt_lookup(model, state, search, stop_step):
    """Runs prompt-lookup decoding from `state` until every row has `stop_step` new tokens or ended.

    Steps without any draft feed one token, steps with one feed k + 1: a loop of single steps and a
    loop of at most one verifying step, inside the loop over both, rather than a `tf.cond` between the
    two. XLA updates the cache in place in a loop but copies every cache buffer into and out of a
    conditional's branches (24 buffers per step at full size: measured ~4% of a step).

    Args:
        model: The model (`transformer`, `lm_logits`).
        state: A `DecodingState` from `search.start` (or an earlier run).
        search: A `PromptLookupSearch`.
        stop_step: Scalar int32: rows stop after this many new tokens.

    Returns:
        The `DecodingState` after the last step; `step` is the most new tokens of any row.
    """
    window_slots = search.num_tokens + 1
    cache_slots = state.slot_mask.shape[1]
    num_heads = model.transformer.config.n_head
    # Only rows that kept different counts leave gaps; one row's pointer is its length, which never
    # runs out of slots.
    may_fill = state.tokens.shape[0] != 1

    def at_most_once(condition, run, state, plan):
        """`run(state, plan)` if `condition(state, plan)`: a loop of at most one pass (see above)."""

        def once(state, plan, ran):
            return ~ran & condition(state, plan)

        def body(state, plan, ran):
            return (*run(state, plan), tf.constant(True))

        state, plan, _ = tf.while_loop(once, body, (state, plan, tf.constant(False)))
        return state, plan

    def full(state, plan):
        return state.search.cache_index + window_slots > cache_slots

    def compact(state, plan):
        # Rows waiting at the end of a streamed chunk are fed again in the next one: keep theirs too.
        unfinished = ~state.finished & (state.search.generated < search.controls.max_new_tokens)
        return compact_cache(state, unfinished, num_heads), plan

    def going(state, plan):
        return tf.reduce_any(plan.active)

    def has_draft(plan):
        return tf.reduce_any(plan.draft_lengths > 0)

    def step(forward):
        def run(state, plan):
            if may_fill:
                state, plan = at_most_once(full, compact, state, plan)
            return search.step(state, plan, lambda state, plan: forward(model, state, plan), stop_step)

        return run

    def single_steps(state, plan):
        return going(state, plan) & ~has_draft(plan)

    def verifying_step(state, plan):
        return going(state, plan) & has_draft(plan)

    def body(state, plan):
        # Each step makes room for itself inside its own loop: TensorFlow 2.21's XLA bridge fails on
        # three loops in a row (tensorflow#122886).
        state, plan = tf.while_loop(single_steps, step(search.single), (state, plan))
        return at_most_once(verifying_step, step(search.verify), state, plan)

    return tf.while_loop(going, body, (state, search.plan(state, stop_step)))[0]
