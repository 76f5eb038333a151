"""Contrastive search (`penalty_alpha`, `top_k`), as the reference TF port runs it, over `run_loop`.

Each step takes the `top_k` most likely tokens of the processed scores, runs the model once on all of
them (the cache repeated per candidate), and keeps the candidate with the best
`(1 - penalty_alpha) * probability - penalty_alpha * degeneration`, the degeneration being the
largest cosine similarity between the candidate's last hidden state and those of the tokens before it.
The candidates' caches are dropped: `run_loop` feeds the kept token, which writes the same keys and
values and gives the same logits. Padding is not part of the context (the reference compares with the
hidden states of padding tokens too; without padding both are the same).
"""
from typing import NamedTuple

import tensorflow as tf

from gpt_keras.decoding.loop import record_step
from gpt_keras.decoding.strategies import TokenSearch


class ContrastiveState(NamedTuple):
    """Contrastive search's own part of the decoding state."""

    context: tf.Tensor  # (rows, max_length, n_embd) unit-norm last hidden state of every slot so far


def _unit(hidden_states):
    return tf.math.l2_normalize(hidden_states, axis=-1)


class ContrastiveSearch(TokenSearch):
    """Contrastive search with `options.contrastive_top_k` candidates and `options.penalty_alpha`.

    Args:
        options: `DecodingOptions` with `contrastive_top_k > 1`.
        controls: `DecodingControls` of tensors (sampling controls are not read: contrastive search
            is deterministic, as in the reference).
    """

    def __init__(self, options, controls):
        super().__init__(options, controls)
        self.top_k = options.contrastive_top_k
        self.model = None

    def start(self, model, state):
        """The first step's context: the prompts' last hidden states, as the prefill computed them (with
        the prompts' positions and token types), which it left in `state.search`."""
        self.model = model
        hidden, max_length = state.search, state.tokens.shape[1]
        context = tf.pad(_unit(hidden), [[0, 0], [0, max_length - state.prompt_len], [0, 0]])
        context = tf.ensure_shape(context, (None, max_length, hidden.shape[-1]))
        return state._replace(search=ContrastiveState(context=context))

    def select(self, state, scores):
        model, k = self.model, self.top_k
        state = record_step(state, scores)
        rows, max_length = tf.shape(scores)[0], state.tokens.shape[1]
        probs, candidates = tf.math.top_k(tf.nn.softmax(scores, axis=-1), k)  # (rows, k)
        repeat = tf.repeat(tf.range(rows), k)
        types = state.token_types
        outputs = model.transformer.forward(
            tf.reshape(candidates, (-1, 1)),
            attention_mask=tf.gather(state.slot_mask, repeat),
            token_type_ids=tf.gather(types, repeat)[:, None] if isinstance(types, tf.Tensor) else None,
            position_ids=tf.gather(state.lengths, repeat)[:, None],
            cache=model.transformer.reorder_cache(state.cache, repeat),
            cache_index=state.prompt_len + state.step,
        )
        hidden = tf.reshape(_unit(outputs["last_hidden_state"][:, 0]), (rows, k, -1))  # (rows, k, n_embd)
        context = state.search.context
        similarity = tf.einsum("rke,rse->rks", hidden, context)
        slots = tf.range(max_length)[None, None, :]
        seen = (slots < state.prompt_len + state.step) & (state.slot_mask[:, None, :] > 0)
        degeneration = tf.reduce_max(tf.where(seen, similarity, -1e9), axis=-1)
        alpha = self.options.penalty_alpha
        best = tf.argmax((1.0 - alpha) * probs - alpha * degeneration, axis=-1, output_type=tf.int32)
        chosen = tf.gather(candidates, best, batch_dims=1)
        kept_hidden = tf.gather(hidden, best, batch_dims=1)  # (rows, n_embd)
        slot = state.prompt_len + state.step
        at_slot = tf.range(max_length)[None, :, None] == slot
        context = tf.where(at_slot, kept_hidden[:, None, :], context)
        state = state._replace(search=ContrastiveState(context=context))
        return self.commit(state, chosen, scores.shape[-1])
