"""What `generate(..., return_dict_in_generate=True)` returns: the reference's output objects.

`GenerateDecoderOnlyOutput` (greedy search and sampling) and `GenerateBeamDecoderOnlyOutput` (beam
search) are `ModelOutput`s: dicts whose keys also read as attributes, with the reference's field names.
What was not asked for (and what gpt_keras never returns: the cache) reads as None.

Attentions and hidden states are computed after the compiled program, from the tokens it recorded for
every searched row at each step: one forward pass per step over those tokens, without a cache, as the
reference (whose OpenAI GPT has no cache) computes each step.
"""
import numpy as np
import tensorflow as tf

from gpt_keras.decoding.config import FILLER_TOKEN_ID
from gpt_keras.decoding.loop import positions_from_mask
from gpt_keras.models.outputs import ModelOutput


class GenerateDecoderOnlyOutput(ModelOutput):
    """Greedy search or sampling: `sequences` (rows, prompt + new) int32; with `output_scores`, `scores`:
    one (rows, vocab) float32 tensor per step, the processed (for sampling, warped) scores the token
    was chosen from; with `output_logits`, `logits`: the raw logits of each step; with
    `output_attentions` / `output_hidden_states`, `attentions` / `hidden_states`: per step, a tuple
    over layers (see `step_outputs`)."""

    FIELDS = ("sequences", "scores", "logits", "attentions", "hidden_states", "past_key_values")


class GenerateBeamDecoderOnlyOutput(ModelOutput):
    """Beam search: `sequences` (batch * num_return_sequences, prompt + new) int32 and `beam_indices`
    (same rows, new tokens) int32, the flat beam row each token extended (-1 after a hypothesis ended);
    with `output_scores`, `sequences_scores` (rows,), the length-penalized score of each returned
    hypothesis, and `scores`: one (batch * num_beams, vocab) tensor per step, the processed
    log-probabilities of the running beams; with `output_logits`, `logits`: their raw logits; with
    `output_attentions` / `output_hidden_states`, those of the running beams at each step."""

    FIELDS = (
        "sequences",
        "sequences_scores",
        "scores",
        "logits",
        "beam_indices",
        "attentions",
        "hidden_states",
        "past_key_values",
    )


def generation_output(results, options):
    """The output object of `CompiledPrograms.run`'s numpy `results` (or `run_symbolic`'s tensors) for
    `DecodingOptions` `options`."""
    cls = GenerateBeamDecoderOnlyOutput if options.num_beams > 1 else GenerateDecoderOnlyOutput
    fields = {}
    for name in cls.FIELDS:
        if name not in results:
            continue
        # Per-step values are a tuple of (rows, vocab) tensors, as the reference returns them.
        value = results[name]
        if name in ("attentions", "hidden_states"):
            fields[name] = value  # already a tuple over steps of tuples over layers
            continue
        per_step = name in ("scores", "logits")
        fields[name] = tuple(tf.convert_to_tensor(step) for step in value) if per_step else tf.convert_to_tensor(value)
    return cls(fields)


def step_outputs(model, request, results, attentions, hidden_states):
    """`results` (of `CompiledPrograms.run`, with the recorded "inputs") with "attentions" and / or
    "hidden_states": per step, a tuple over layers of (rows searched, n_head, length, length) attention
    probabilities / (rows searched, length, n_embd) hidden states (embeddings first), length being the
    prompt's width plus the tokens generated before that step, as the reference returns them."""
    results = dict(results)
    inputs = results.pop("inputs")
    bucket = request.input_ids.shape[1]
    first = bucket - request.prompt_width
    rows = inputs.shape[1]
    beams = rows // request.input_ids.shape[0]
    mask = np.repeat(request.attention_mask[:, first:], beams, axis=0)
    types = None if request.token_type_ids is None else np.repeat(request.token_type_ids[:, first:], beams, axis=0)
    vocab_size = model.config.vocab_size
    per_step = {"attentions": [], "hidden_states": []}
    for step, tokens in enumerate(inputs):
        ids = tokens[:, first : bucket + step]
        # Finished rows hold pad_token_id, which need not be a vocabulary id.
        ids = np.where((ids >= 0) & (ids < vocab_size), ids, FILLER_TOKEN_ID)
        new = np.ones((rows, step), np.int32)
        step_mask = tf.constant(np.concatenate([mask, new], axis=1))
        outputs = model.transformer.forward(
            tf.constant(ids),
            attention_mask=step_mask,
            # The positions decoding gives (counted over real tokens): padding does not shift them.
            position_ids=positions_from_mask(step_mask),
            token_type_ids=None if types is None else tf.constant(np.concatenate([types, types[:, -1:] * new], axis=1)),
            output_attentions=attentions,
            output_hidden_states=hidden_states,
        )
        for name in per_step:
            if name in outputs:
                per_step[name].append(tuple(outputs[name]))
    results.update({name: tuple(steps) for name, steps in per_step.items() if steps})
    return results
