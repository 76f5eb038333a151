"""The decoding state, the prefill of the prompt and `run_loop`: the one token loop every search runs
(but prompt lookup, `gpt_keras.decoding.prompt_lookup`, whose steps feed several tokens).

`run_loop` owns the `tf.while_loop` and the cache feed: each step it processes the scores, lets the
search strategy choose the next token of every row (and, for beams, the row each continues), reorders
the cache with `TFOpenAIGPT.reorder_cache`, writes the history and feeds the tokens to the model.
Shapes are fixed (the cache has `max_length` slots), so the loop compiles to one XLA program.
"""
from typing import NamedTuple

import tensorflow as tf

from gpt_keras.decoding.config import DecodingControls
from gpt_keras.decoding.processors import process_scores

CONTROL_DTYPES = DecodingControls(
    max_new_tokens=tf.int32,
    temperature=tf.float32,
    top_k=tf.int32,
    top_p=tf.float32,
    seed=tf.int32,
    do_sample=tf.bool,
    min_new_tokens=tf.int32,
)


class DecodingState(NamedTuple):
    """What the token loop carries from step to step (every field a tensor, or a structure of them)."""

    step: tf.Tensor  # () int32: tokens generated so far
    prompt_len: tf.Tensor  # () int32: slot of the first new token
    cache: tuple  # per layer (key, value), from TFOpenAIGPT.init_cache
    logits: tf.Tensor  # (rows, vocab) for the next token
    tokens: tf.Tensor  # (rows, max_length): the prompt's slots, then one slot per new token
    lengths: tf.Tensor  # (rows,) real tokens so far = the next token's position
    finished: tf.Tensor  # (rows,) bool
    slot_mask: tf.Tensor  # (rows, cache slots) 1 where a cache slot holds a real token (or a future one)
    history: object = ()  # (rows, max_length) real tokens only, in order, when a processor needs them
    # The strategy's own state (beam search: a BeamState; prompt lookup: a LookupState). After `prefill`,
    # for contrastive search, the prompts' (rows, prompt_len, n_embd) last hidden states: its first context.
    search: object = ()
    recorded: object = ()  # {"scores", "logits"}: (rows, max_length - prompt_len, vocab) per step, when asked
    token_types: object = ()  # (rows,) the token type of every new token, when the prompts have types


def cast_controls(controls):
    """`DecodingControls` of tensors of the program's dtypes."""
    return DecodingControls(*(tf.cast(value, dtype) for value, dtype in zip(controls, CONTROL_DTYPES)))


def positions_from_mask(attention_mask):
    """Position of each slot: the number of real tokens before it (0 for padding slots)."""
    return tf.maximum(tf.cumsum(attention_mask, axis=1) - 1, 0)


def _compact(tokens, attention_mask):
    """Moves each row's real tokens to the front, in order (what follows them is padding)."""
    width = tf.shape(tokens)[1]
    slots = tf.range(width)[None, :]
    order = tf.argsort(tf.where(attention_mask > 0, slots, slots + width), axis=1, stable=True)
    return tf.gather(tokens, order, batch_dims=1)


def write_column(buffer, column, values):
    """Writes `values` (rows,) into column `column` (scalar, or (rows,) per row) of `buffer`."""
    column = tf.reshape(column, (-1, 1))
    return tf.where(tf.range(buffer.shape[1])[None, :] == column, values[:, None], buffer)


def prefill(model, input_ids, attention_mask, max_length, options, token_type_ids=None):
    """Runs the prompt through the model into a fresh cache of `max_length` slots.

    Args:
        model: A model with `transformer` (a `TFOpenAIGPT`) and `lm_logits`.
        input_ids: (batch, prompt_len) int32, padded anywhere that `attention_mask` is 0.
        attention_mask: (batch, prompt_len) int32, 1 for real tokens; every row has at least one.
        max_length: Output slots: prompt_len plus room for every new token.
        options: `DecodingOptions`.
        token_type_ids: (batch, prompt_len) int32 or None. New tokens take each row's last type, as
            the reference extends them.

    Returns:
        The `DecodingState` before the first new token. Its cache has `max_length` slots, plus
        `options.prompt_lookup_num_tokens` for the drafts that prompt lookup feeds past the last token.
    """
    batch, prompt_len = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
    cache_slots = max_length + options.prompt_lookup_num_tokens
    # Slots after the prompt hold generated tokens: real, and hidden from earlier slots by causality.
    slot_mask = tf.concat([attention_mask, tf.ones((batch, cache_slots - prompt_len), tf.int32)], axis=1)
    slot_mask = tf.ensure_shape(slot_mask, (None, cache_slots))  # static even when prompt_len is not
    outputs = model.transformer.forward(
        input_ids,
        attention_mask=slot_mask,
        token_type_ids=token_type_ids,
        position_ids=positions_from_mask(attention_mask),
        cache=model.transformer.init_cache(batch, cache_slots),
        cache_index=0,
    )
    last_slot = tf.reduce_max(tf.where(attention_mask > 0, tf.range(prompt_len)[None, :], -1), axis=1)
    last_hidden = tf.gather(outputs["last_hidden_state"], last_slot, batch_dims=1)  # (batch, n_embd)
    tokens = tf.concat([input_ids, tf.fill((batch, max_length - prompt_len), options.pad_token_id)], axis=1)
    tokens = tf.ensure_shape(tokens, (None, max_length))
    logits = model.lm_logits(last_hidden)
    # Prompt lookup drafts from each row's text so far: the same buffer as the processors' history.
    keeps_history = options.tracks_history or options.prompt_lookup_num_tokens > 0
    return DecodingState(
        step=tf.constant(0, tf.int32),
        prompt_len=prompt_len,
        cache=outputs["cache"],
        logits=logits,
        tokens=tokens,
        lengths=tf.reduce_sum(attention_mask, axis=1),
        finished=tf.zeros((batch,), tf.bool),
        slot_mask=slot_mask,
        history=_compact(tokens, slot_mask[:, :max_length]) if keeps_history else (),
        search=outputs["last_hidden_state"] if options.contrastive_top_k else (),
        recorded=_recording_buffers(options, batch, max_length - prompt_len, logits.shape[-1], max_length),
        token_types=() if token_type_ids is None else token_type_ids[:, -1],
    )


def _recording_buffers(options, rows, steps, vocab_size, width):
    """Zeroed per-step buffers of what `options` asks `generate` to return (none by default)."""
    names = [name for name, wanted in (("scores", options.output_scores), ("logits", options.output_logits)) if wanted]
    buffers = {name: tf.zeros((rows, steps, vocab_size), tf.float32) for name in names}
    if options.output_step_inputs:
        buffers["inputs"] = tf.zeros((rows, steps, width), tf.int32)
    return buffers


def record_step(state, scores):
    """`state` with this step's processed `scores`, raw logits (`state.logits`) and tokens so far
    written into the buffers `prefill` made for them: rows as they are at this step, never reordered
    afterwards."""
    if not state.recorded:
        return state
    rows = tf.shape(state.logits)[0]
    at = tf.stack([tf.range(rows), tf.fill((rows,), state.step)], axis=1)
    values = {"scores": scores, "logits": state.logits, "inputs": state.tokens}
    recorded = {name: tf.tensor_scatter_nd_update(buffer, at, values[name]) for name, buffer in state.recorded.items()}
    return state._replace(recorded=recorded)


def forward_slots(model, cache, slot_mask, new_tokens, position_ids, cache_index, token_type_ids=None):
    """Feeds (rows, width) tokens into cache slots `[cache_index, cache_index + width)`.

    Returns:
        The new cache and the (rows, width, n_embd) last hidden states.
    """
    outputs = model.transformer.forward(
        new_tokens,
        attention_mask=slot_mask,
        token_type_ids=token_type_ids,
        position_ids=position_ids,
        cache=cache,
        cache_index=cache_index,
    )
    return outputs["cache"], outputs["last_hidden_state"]


def new_token_types(state, width=1):
    """(rows, width) token types for `width` new tokens of each row (its prompt's last type), or None
    when the prompts have no types."""
    if not isinstance(state.token_types, tf.Tensor):
        return None
    return tf.tile(state.token_types[:, None], [1, width])


def forward_tokens(model, state, new_tokens):
    """Feeds one token per row at slot `prompt_len + step`; returns the new cache and logits."""
    cache, hidden = forward_slots(
        model, state.cache, state.slot_mask, new_tokens[:, None], state.lengths[:, None],
        state.prompt_len + state.step, new_token_types(state),
    )
    return cache, model.lm_logits(hidden[:, 0])


def run_loop(model, state, strategy, stop_step):
    """Runs `strategy` from `state.step` until `stop_step` tokens were generated or it says stop.

    Args:
        model: The model (`transformer`, `lm_logits`).
        state: A `DecodingState`, from `prefill` (through `strategy.start`) or an earlier `run_loop`.
        strategy: A search strategy (`gpt_keras.decoding.strategies`): `options`, `scores(logits)`,
            `select(state, scores) -> (state, tokens, source_rows or None)`, `going(state)`.
        stop_step: Scalar int32: stop once this many tokens were generated.

    Returns:
        The `DecodingState` after the last step.
    """
    options, min_new_tokens = strategy.options, strategy.controls.min_new_tokens

    def body(state):
        scores = strategy.scores(state.logits)
        scores = process_scores(scores, options, state.history, state.lengths, state.step, min_new_tokens)
        state, tokens, source_rows = strategy.select(state, scores)
        if source_rows is not None:
            # Each row continues row `source_rows[i]`: it takes that row's cache, length and history.
            state = state._replace(
                cache=model.transformer.reorder_cache(state.cache, source_rows),
                lengths=tf.gather(state.lengths, source_rows),
                history=tf.nest.map_structure(lambda history: tf.gather(history, source_rows), state.history),
            )
        if options.tracks_history:
            state = state._replace(history=write_column(state.history, state.lengths, tokens))
        cache, logits = forward_tokens(model, state, tokens)
        return (state._replace(cache=cache, logits=logits, lengths=state.lengths + 1, step=state.step + 1),)

    def cond(state):
        return (state.step < stop_step) & strategy.going(state)

    return tf.while_loop(cond, body, (state,))[0]
