"""`generate` on symbolic tensors: inside a user's `tf.function` (with or without `jit_compile`) or an export.

The eager path (`decoding.request`) reads the prompts' values; a traced call cannot. Here the checks
that need values are graph assertions (`gpt_keras.layers.checks`: they run in a plain `tf.function`;
an XLA program drops assertions, and an out-of-range id then poisons the results, as in the models'
own forward pass), the prompts are not left-padded to a bucket, and the cache's slots are a bucket of
the static prompt width (`n_positions` when the width is not static) plus a bucket of the new tokens.
The compiled decoding program is the one eager calls use (`CompiledPrograms`), called on the tensors.

Like the reference's XLA generation, the output has a static width: the prompt's, plus
`max_new_tokens` slots, filled with the pad id after the last step.
"""
import dataclasses

import tensorflow as tf

from gpt_keras.decoding.loop import cast_controls
from gpt_keras.decoding.request import bucket_length
from gpt_keras.layers.checks import assertions_run, check_ids_in_range, check_mask_values


def is_symbolic(*values):
    """Whether `generate` is being traced (in a `tf.function`) or got a symbolic tensor."""
    return not tf.executing_eagerly() or any(tf.is_symbolic_tensor(v) for v in values if isinstance(v, tf.Tensor))


def run_symbolic(programs, model_config, input_ids, attention_mask, generation_config, token_type_ids=None):
    """Runs generation on tensors in a graph being traced.

    Args:
        programs: The model's `CompiledPrograms`.
        model_config: The model's config.
        input_ids: (batch, seq) integer tensor (the batch and the width may be unknown).
        attention_mask: Like `input_ids` (0/1 ints, booleans or floats), or None for all ones.
        generation_config: The call's `GenerationConfig`.
        token_type_ids: Like `input_ids`, or None.

    Returns:
        (results, options): results as `CompiledPrograms.run` gives them, tensors, scores and logits as
        tuples of `max_new_tokens` (rows, vocab) tensors; options the `DecodingOptions` of the call.

    Raises:
        ValueError: An option is invalid, or one that needs the prompts' values (`truncate_prompt`,
            `max_length` with a prompt width that is not static) is set.
    """
    config = generation_config.validate()
    if input_ids is None:
        raise ValueError("generate in a tf.function needs input_ids (a graph cannot start from bos_token_id alone)")
    if config.truncate_prompt:
        raise ValueError("truncate_prompt needs the prompts' values: it is not available inside a tf.function")
    input_ids = tf.convert_to_tensor(input_ids)
    if input_ids.shape.rank != 2:
        raise ValueError(f"input_ids must have shape (batch, seq), got shape {input_ids.shape}")
    width = input_ids.shape[1]
    if width is None and config.max_new_tokens is None and config.max_length is not None:
        raise ValueError("max_length needs a static prompt width inside a tf.function: pass max_new_tokens instead")
    max_new_tokens = config.new_token_count(0 if width is None else width, model_config.n_positions)
    if width is None and config.min_new_tokens is None:
        min_new_tokens = tf.maximum(config.min_length - tf.shape(input_ids)[1], 0)
    else:
        min_new_tokens = config.min_new_token_count(width)

    ids = check_ids_in_range(input_ids, model_config.vocab_size, "input_ids")
    if attention_mask is None:
        mask = tf.ones_like(ids)
    else:
        mask = tf.cast(check_mask_values(tf.convert_to_tensor(attention_mask)), tf.int32)
    checks = _prompt_checks(ids, mask, model_config.n_positions - max_new_tokens) if assertions_run() else []
    options = config.decoding_options(model_config)
    if options.output_step_inputs:
        raise ValueError(
            "output_attentions and output_hidden_states are computed outside the compiled program: they are "
            "not available inside a tf.function; call generate eagerly for them"
        )
    inputs = [ids, mask]
    if token_type_ids is not None:
        inputs.append(check_ids_in_range(token_type_ids, model_config.vocab_size, "token_type_ids"))
        options = dataclasses.replace(options, token_types=True)
    with tf.control_dependencies(checks):
        inputs = [tf.repeat(x, config.sequences_per_prompt, axis=0) for x in inputs]
    prompt_slots = model_config.n_positions if width is None else bucket_length(width)
    max_length = prompt_slots + bucket_length(max_new_tokens)

    generate_fn = programs.program("generate", max_length, options)
    controls = config.controls(max_new_tokens, min_new_tokens)
    if config.seed is None:
        # Drawn when the graph runs (a seed drawn now would be the same in every run).
        controls = controls._replace(seed=tf.random.uniform((), maxval=2**31 - 1, dtype=tf.int32))
    controls = cast_controls(controls)
    types = inputs[2:]
    outputs = generate_fn(inputs[0], inputs[1], *controls, *types)
    end = (tf.shape(ids)[1] if width is None else width) + max_new_tokens
    results = {"sequences": outputs["sequences"][:, :end]}
    for name in ("scores", "logits"):
        if name in outputs:
            results[name] = tuple(outputs[name][:, step] for step in range(max_new_tokens))
    if "beam_indices" in outputs:
        results["beam_indices"] = outputs["beam_indices"][:, :max_new_tokens]
    if "sequences_scores" in outputs:
        results["sequences_scores"] = outputs["sequences_scores"]
    return results, options


def _prompt_checks(input_ids, attention_mask, room):
    """Graph assertions on the prompts' values: every prompt has a token, and fits before n_positions."""
    lengths = tf.reduce_sum(attention_mask, axis=1)
    return [
        tf.debugging.assert_equal(
            tf.shape(attention_mask), tf.shape(input_ids), message="attention_mask must have the shape of input_ids"
        ),
        tf.debugging.assert_positive(
            lengths, message="every prompt needs at least one token (a row of attention_mask is all 0)"
        ),
        tf.debugging.assert_less_equal(
            lengths, room, message=f"prompt + new tokens exceed n_positions: prompts may have at most {room} tokens"
        ),
    ]
