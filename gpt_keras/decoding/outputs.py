"""What `generate(..., return_dict_in_generate=True)` returns: the reference's output objects.

`GenerateDecoderOnlyOutput` (greedy search and sampling) and `GenerateBeamDecoderOnlyOutput` (beam
search) are `ModelOutput`s: dicts whose keys also read as attributes, with the reference's field names.
What was not asked for (and what gpt_keras never returns: attentions, hidden states, the cache) reads
as None.
"""
import tensorflow as tf

from gpt_keras.models.outputs import ModelOutput


class GenerateDecoderOnlyOutput(ModelOutput):
    """Greedy search or sampling: `sequences` (rows, prompt + new) int32; with `output_scores`, `scores`:
    one (rows, vocab) float32 tensor per step, the processed (for sampling, warped) scores the token
    was chosen from; with `output_logits`, `logits`: the raw logits of each step."""

    FIELDS = ("sequences", "scores", "logits", "attentions", "hidden_states", "past_key_values")


class GenerateBeamDecoderOnlyOutput(ModelOutput):
    """Beam search: `sequences` (batch * num_return_sequences, prompt + new) int32 and `beam_indices`
    (same rows, new tokens) int32, the flat beam row each token extended (-1 after a hypothesis ended);
    with `output_scores`, `sequences_scores` (rows,), the length-penalized score of each returned
    hypothesis, and `scores`: one (batch * num_beams, vocab) tensor per step, the processed
    log-probabilities of the running beams; with `output_logits`, `logits`: their raw logits."""

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
        per_step = name in ("scores", "logits")
        value = results[name]
        fields[name] = tuple(tf.convert_to_tensor(step) for step in value) if per_step else tf.convert_to_tensor(value)
    return cls(fields)
