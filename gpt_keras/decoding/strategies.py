"""Search strategies over `run_loop`: token search (greedy or sampling) and beam search.

A strategy turns the processed scores of a step into the next token of every row. `run_loop` does the
rest of the step (cache reorder, history, forward), so each strategy holds only its own decision:

- `start(model, state)`: the state the loop starts from (beam search repeats each prompt per beam).
- `scores(logits)`: what the logits processors see (log-probabilities for beam search).
- `select(state, scores) -> (state, tokens, source_rows)`: the tokens fed next, and the row each row
  continues (None when every row continues itself).
- `going(state)`: whether any row still needs a step.
- `finish(state) -> (sequences, num_generated)`.
- `extra_outputs(state)`: what `return_dict_in_generate` adds (recorded scores, beam bookkeeping).
"""
from typing import NamedTuple

import tensorflow as tf

from gpt_keras.decoding.config import FILLER_TOKEN_ID
from gpt_keras.decoding.loop import record_step, write_column
from gpt_keras.decoding.noise import gumbel_noise
from gpt_keras.decoding.processors import is_eos, warp_scores

# The reference's stand-in for minus infinity in beam bookkeeping; kept so that ties resolve alike.
BEAM_NEG = -1.0e9


class TokenSearch:
    """Greedy search or sampling, chosen at run time by `controls.do_sample`: one token per row per step.

    Args:
        options: `DecodingOptions` with `num_beams == 1`.
        controls: `DecodingControls` of tensors.
    """

    def __init__(self, options, controls):
        self.options = options
        self.controls = controls

    def start(self, model, state):
        return state

    def scores(self, logits):
        return logits

    def select(self, state, scores):
        controls = self.controls
        # Sampling chooses from the warped scores (which output_scores returns, as the reference's do).
        def warped():
            return warp_scores(scores, controls.temperature, controls.top_k, controls.top_p)

        scores = tf.cond(controls.do_sample, warped, lambda: scores)
        state = record_step(state, scores)

        def sample():
            noise = gumbel_noise(tf.shape(scores), controls.seed, state.step)
            return tf.argmax(scores + noise, axis=-1, output_type=tf.int32)

        chosen = tf.cond(controls.do_sample, sample, lambda: tf.argmax(scores, axis=-1, output_type=tf.int32))
        return self.commit(state, chosen, scores.shape[-1])

    def commit(self, state, chosen, vocab_size):
        """`select`'s answer once each row's token is `chosen`: finished rows take the pad id."""
        pad = self.options.pad_token_id
        new_tokens = tf.where(state.finished, pad, chosen)
        # Finished rows are written as pad_token_id and fed it, as the reference feeds them (so their
        # scores are its scores); a pad id outside the vocabulary (-1, or an added <pad>) is replaced
        # by one the model can look up, whose results nobody reads.
        fed_pad = pad if 0 <= pad < vocab_size else FILLER_TOKEN_ID
        fed_tokens = tf.where(state.finished, fed_pad, chosen)
        state = state._replace(
            tokens=write_column(state.tokens, state.prompt_len + state.step, new_tokens),
            finished=state.finished | is_eos(new_tokens, self.options.eos_token_ids),
        )
        return state, fed_tokens, None

    def going(self, state):
        return ~tf.reduce_all(state.finished)

    def finish(self, state):
        return state.tokens, state.step

    def extra_outputs(self, state):
        return dict(state.recorded, num_steps=state.step)


class BeamState(NamedTuple):
    """Beam search's own part of the decoding state, per prompt (batch, beams) unless said."""

    running_scores: tf.Tensor  # sum of log-probabilities of each running beam
    best_tokens: tf.Tensor  # (batch, beams, max_length) the best finished hypotheses
    best_scores: tf.Tensor  # their length-penalized scores (BEAM_NEG where none yet)
    best_done: tf.Tensor  # bool: a real hypothesis fills the place
    best_lengths: tf.Tensor  # new tokens of each
    improvable: tf.Tensor  # (batch,) bool: a running beam may still beat the worst finished one
    # With return_dict_in_generate: per new token, the flat row of the beam it extended (-1 unused).
    running_sources: object = ()  # (batch * beams, max_length - prompt_len)
    best_sources: object = ()  # (batch, beams, max_length - prompt_len)


class BeamSearch:
    """Beam search as the reference runs it, vectorized over (batch, beams) with fixed shapes.

    Finished hypotheses score `sum_logprobs / new_length ** length_penalty`; `early_stopping` is
    False (stop when no running beam can beat the finished ones, the reference's heuristic), True
    (stop once `num_beams` are finished) or "never". With `controls.do_sample` the candidates are
    sampled without replacement (a top-k of Gumbel-perturbed totals).

    Args:
        options: `DecodingOptions` with `num_beams > 1`.
        controls: `DecodingControls` of tensors.
    """

    def __init__(self, options, controls):
        self.options = options
        self.controls = controls
        self.beams = options.num_beams
        # At least `beams` candidates per step must not end in EOS, so that `beams` beams can continue.
        self.candidates = max(2, 1 + len(options.eos_token_ids)) * self.beams
        self.min_tokens_to_keep = len(options.eos_token_ids) + 1 if options.eos_token_ids else 2

    def start(self, model, state):
        """Repeats every row of a prefilled `state` once per beam; only the first beam is live."""
        beams = self.beams
        batch = tf.shape(state.tokens)[0]
        max_length = state.tokens.shape[1]

        def repeat(x):
            return tf.repeat(x, beams, axis=0)

        state = state._replace(
            cache=model.transformer.reorder_cache(state.cache, tf.repeat(tf.range(batch), beams)),
            logits=repeat(state.logits),
            tokens=repeat(state.tokens),
            lengths=repeat(state.lengths),
            finished=repeat(state.finished),
            slot_mask=repeat(state.slot_mask),
            history=tf.nest.map_structure(repeat, state.history),
            recorded=tf.nest.map_structure(repeat, state.recorded),
            # The beams of a prompt share its types: reordering them among themselves changes none.
            token_types=tf.nest.map_structure(repeat, state.token_types),
        )
        search = BeamState(
            running_scores=tf.tile(tf.constant([[0.0] + [BEAM_NEG] * (beams - 1)]), (batch, 1)),
            best_tokens=tf.reshape(state.tokens, (batch, beams, max_length)),
            best_scores=tf.fill((batch, beams), BEAM_NEG),
            best_done=tf.zeros((batch, beams), tf.bool),
            best_lengths=tf.zeros((batch, beams), tf.int32),
            improvable=tf.ones((batch,), tf.bool),
        )
        if self.options.return_dict_in_generate:
            unused = tf.fill((batch * beams, max_length - state.prompt_len), -1)
            search = search._replace(running_sources=unused, best_sources=tf.reshape(unused, (batch, beams, -1)))
        return state._replace(search=search)

    def scores(self, logits):
        return tf.nn.log_softmax(logits, axis=-1)

    def select(self, state, log_probs):
        options, controls, beams, search = self.options, self.controls, self.beams, state.search
        batch = tf.shape(search.running_scores)[0]
        max_length, vocab_size = state.tokens.shape[1], log_probs.shape[-1]
        step = state.step

        def gather_beams(x, indices):
            return tf.gather(x, indices, batch_dims=1)

        def sampled_scores():
            return warp_scores(log_probs, controls.temperature, controls.top_k, controls.top_p, self.min_tokens_to_keep)

        scores = tf.cond(controls.do_sample, sampled_scores, lambda: log_probs)
        state = record_step(state, scores)
        totals = tf.reshape(scores, (batch, beams, vocab_size)) + search.running_scores[:, :, None]
        totals = tf.reshape(totals, (batch, beams * vocab_size))

        def sampled_candidates():
            # Sampling without replacement from softmax(totals) is a top-k of Gumbel-perturbed totals.
            noise = gumbel_noise(tf.shape(totals), controls.seed, step)
            return tf.math.top_k(totals + noise, self.candidates).indices

        picked = tf.cond(controls.do_sample, sampled_candidates, lambda: tf.math.top_k(totals, self.candidates).indices)
        picked_scores = gather_beams(totals, picked)  # (batch, candidates)
        source = picked // vocab_size + tf.range(batch)[:, None] * beams  # flat row each candidate extends
        new_tokens = picked % vocab_size
        candidate_tokens = tf.reshape(tf.gather(state.tokens, source), (batch, self.candidates, max_length))
        candidate_tokens = tf.where(
            tf.range(max_length)[None, None, :] == state.prompt_len + step, new_tokens[:, :, None], candidate_tokens
        )
        ends = is_eos(new_tokens, options.eos_token_ids) | (step + 1 >= controls.max_new_tokens)

        # Beams that continue: the best candidates that did not just end.
        running_scores = picked_scores + tf.cast(ends, tf.float32) * BEAM_NEG
        keep = tf.math.top_k(running_scores, beams).indices
        running_scores = gather_beams(running_scores, keep)

        # Finished hypotheses: among the top `beams` candidates only, merged with the kept best.
        just_finished = ends & (tf.range(self.candidates) < beams)[None, :]
        new_length = step + 1
        finished_scores = picked_scores / tf.cast(new_length, tf.float32) ** options.length_penalty
        closed = ~search.improvable[:, None]
        if options.early_stopping is True:
            closed |= tf.reduce_all(search.best_done, axis=1, keepdims=True)
        finished_scores += tf.cast(closed | ~just_finished, tf.float32) * BEAM_NEG
        merged_scores = tf.concat([search.best_scores, finished_scores], axis=1)
        best = tf.math.top_k(merged_scores, beams).indices
        best_scores = gather_beams(merged_scores, best)
        best_done = gather_beams(tf.concat([search.best_done, just_finished], axis=1), best)
        new_lengths = tf.fill((batch, self.candidates), new_length)

        # Can a running beam still beat the worst finished one? (The reference's heuristic.)
        if options.early_stopping == "never" and options.length_penalty > 0:
            hoped_length = controls.max_new_tokens
        else:
            hoped_length = new_length
        best_possible = running_scores[:, :1] / tf.cast(hoped_length, tf.float32) ** options.length_penalty
        worst_finished = tf.where(best_done, tf.reduce_min(best_scores, axis=1, keepdims=True), BEAM_NEG)
        sources = {}
        if options.return_dict_in_generate:
            steps = tf.shape(search.best_sources)[-1]
            candidate_sources = tf.reshape(tf.gather(search.running_sources, source), (batch, self.candidates, steps))
            candidate_sources = tf.where(tf.range(steps)[None, None, :] == step, source[:, :, None], candidate_sources)
            sources = dict(
                running_sources=tf.reshape(gather_beams(candidate_sources, keep), (batch * beams, steps)),
                best_sources=gather_beams(tf.concat([search.best_sources, candidate_sources], axis=1), best),
            )
        search = BeamState(
            running_scores=running_scores,
            best_tokens=gather_beams(tf.concat([search.best_tokens, candidate_tokens], axis=1), best),
            best_scores=best_scores,
            best_done=best_done,
            best_lengths=gather_beams(tf.concat([search.best_lengths, new_lengths], axis=1), best),
            improvable=search.improvable & tf.reduce_any(best_possible > worst_finished, axis=1),
            **sources,
        )
        state = state._replace(tokens=tf.reshape(gather_beams(candidate_tokens, keep), (-1, max_length)), search=search)
        return state, tf.reshape(gather_beams(new_tokens, keep), (-1,)), tf.reshape(gather_beams(source, keep), (-1,))

    def going(self, state):
        going = tf.reduce_any(state.search.improvable)
        if self.options.early_stopping is True:
            going &= ~tf.reduce_all(state.search.best_done)
        return going

    def finish(self, state):
        returned = self.options.num_return_sequences
        sequences = tf.reshape(state.search.best_tokens[:, :returned], (-1, state.tokens.shape[1]))
        return sequences, tf.reduce_max(state.search.best_lengths[:, :returned])

    def extra_outputs(self, state):
        returned, search = self.options.num_return_sequences, state.search
        outputs = dict(state.recorded, num_steps=state.step)
        if self.options.return_dict_in_generate:
            steps = tf.shape(search.best_sources)[-1]
            outputs["beam_indices"] = tf.reshape(search.best_sources[:, :returned], (-1, steps))
        if self.options.output_scores:
            outputs["sequences_scores"] = tf.reshape(search.best_scores[:, :returned], (-1,))
        return outputs


def search_strategy(options, controls):
    """The strategy of `options`: `ContrastiveSearch` when `options.contrastive_top_k`, `BeamSearch`
    when `num_beams > 1`, else `TokenSearch`."""
    if options.contrastive_top_k:
        # Imported here: contrastive search extends TokenSearch, defined above.
        from gpt_keras.decoding.contrastive import ContrastiveSearch

        return ContrastiveSearch(options, controls)
    return BeamSearch(options, controls) if options.num_beams > 1 else TokenSearch(options, controls)
