"""SavedModel export for TF Serving: a forward signature for every model, a generate signature for LM heads.

The exported directory needs TensorFlow only (no Python code of ours) and follows TF Serving's layout,
`EXPORT_DIR/<version>/saved_model.pb` + `variables/`. Both signatures read the same variables, stored once.

- `serving_default`: int32 `input_ids` and `attention_mask` of dynamic batch and sequence length
  ((batch, choices, seq) plus `mc_token_ids` (batch, choices) for the double-heads model), returning
  named outputs: `logits` (LM), `mc_logits` (double heads), `logits` and `probabilities`
  (classification), `last_hidden_state` (base model).
- `generate` (models with an LM head): the KV-cached XLA program of `gpt_keras.decoding`, taking
  `input_ids`, `attention_mask` and scalar controls (`max_new_tokens`, `temperature`, `top_k`, `top_p`,
  `seed`, `do_sample`) and returning `sequences`: each prompt as given followed by its new tokens, the
  same ids as `model.generate` with the same arguments.

With a tokenizer (`tokenizer=`), text signatures come too (`tokenize`, `generate_text`, `classify_text`,
`score_choices`: see `gpt_keras.export_text`), tokenized inside the graph.

XLA drops assertions, so every request is validated by an ordinary graph around the compiled program:
out-of-range ids, a malformed mask or a `max_new_tokens` above the exported maximum fail with
InvalidArgumentError instead of returning garbage. The decoding options and the ranges of the controls
are those of `GenerationConfig`, as for `model.generate`.
"""
import dataclasses
import json
import shutil
import time
from pathlib import Path

import tensorflow as tf

from gpt_keras import _dirs
from gpt_keras._fs import atomic_write_text
from gpt_keras.decoding import FILLER_TOKEN_ID, Bound, DecodingControls, GenerationConfig, build_generate_fn
from gpt_keras.models import is_model

GENERATE_SIGNATURE = "generate"
SERVING_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
# Written to `assets.extra/`, which TF Serving ignores and clients may read.
METADATA_FILE = "gpt_keras_export.json"
# The static settings of `model.generate` that the exported program fixes.
# `min_new_tokens` is a runtime control of `generate` (one program serves every value); the export
# fixes it, like the program options, to keep the serving signature's inputs as they are.
DECODING_OPTION_NAMES = GenerationConfig.option_names("program") + ("min_new_tokens",)


def _ids_spec(rank, name):
    return tf.TensorSpec([None] * rank, tf.int32, name=name)


def _check_ids(ids, limit, argument, limit_name=None):
    """Assertions (kept outside XLA) that `ids` lie in [0, limit); a tensor `limit` is called `limit_name`."""
    return [
        tf.debugging.assert_non_negative(ids, message=f"{argument} must be >= 0"),
        tf.debugging.assert_less(ids, tf.cast(limit, tf.int32), message=f"{argument} must be < {limit_name or limit}"),
    ]


def _check_mask(attention_mask, input_ids):
    return [
        tf.debugging.assert_equal(
            tf.shape(attention_mask), tf.shape(input_ids), message="attention_mask must have the shape of input_ids"
        ),
        tf.debugging.assert_equal(
            tf.reduce_all((attention_mask == 0) | (attention_mask == 1)),
            True,
            message="attention_mask must hold only 0 (padding) and 1 (real token)",
        ),
    ]


def _forward_function(model):
    """The `serving_default` function of `model`: a `tf.function` with a fixed input signature."""
    vocab_size = model.config.vocab_size

    if "mc_token_ids" in model.serving_inputs:

        @tf.function(
            input_signature=[_ids_spec(3, "input_ids"), _ids_spec(3, "attention_mask"), _ids_spec(2, "mc_token_ids")]
        )
        def serve(input_ids, attention_mask, mc_token_ids):
            checks = _check_ids(input_ids, vocab_size, "input_ids") + _check_mask(attention_mask, input_ids)
            checks += _check_ids(mc_token_ids, tf.shape(input_ids)[2], "mc_token_ids", "the sequence length")
            checks.append(
                tf.debugging.assert_equal(
                    tf.shape(mc_token_ids),
                    tf.shape(input_ids)[:2],
                    message="mc_token_ids must have shape (batch, choices)",
                )
            )
            with tf.control_dependencies(checks):
                input_ids, attention_mask, mc_token_ids = tf.identity_n([input_ids, attention_mask, mc_token_ids])
            outputs = model(input_ids, attention_mask=attention_mask, mc_token_ids=mc_token_ids)
            return model.serving_outputs(outputs)

        return serve

    @tf.function(input_signature=[_ids_spec(2, "input_ids"), _ids_spec(2, "attention_mask")])
    def serve(input_ids, attention_mask):
        checks = _check_ids(input_ids, vocab_size, "input_ids") + _check_mask(attention_mask, input_ids)
        with tf.control_dependencies(checks):
            input_ids, attention_mask = tf.identity_n([input_ids, attention_mask])
        outputs = model(input_ids, attention_mask=attention_mask)
        return model.serving_outputs(outputs)

    return serve


def _decoding_options(config, overrides):
    """The `DecodingOptions` of the export's decoding options, checked as `model.generate` checks them."""
    unknown = sorted(set(overrides) - set(DECODING_OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"export_saved_model got unknown decoding options {unknown}; expected some of {DECODING_OPTION_NAMES}"
        )
    # `model.generate`'s defaults (EOS and pad ids included), so that both stop and fill finished rows alike.
    checked = GenerationConfig(**overrides).validate(exported=True)
    return checked.decoding_options(config), int(checked.min_new_tokens or 0)


def _check_controls(controls, max_new_tokens_limit):
    """Assertions (kept outside XLA) that the request's `DecodingControls` are in `GenerationConfig`'s ranges."""
    checks = []
    for name, bound in GenerationConfig.bounds("runtime").items():
        holds = bound.holds(getattr(controls, name))
        if bound.when is not None:
            holds |= tf.logical_not(getattr(controls, bound.when))
        checks.append(tf.debugging.assert_equal(holds, True, message=f"{name} must be {bound}"))
    checks.append(
        tf.debugging.assert_less_equal(
            controls.max_new_tokens,
            max_new_tokens_limit,
            message=f"max_new_tokens must be <= {max_new_tokens_limit}, the exported maximum",
        )
    )
    return checks


def _generate_function(model, max_length, max_new_tokens_limit, options, min_new_tokens=0):
    """The `generate` signature: request validation (plain graph) around the XLA-compiled program.

    Prompts are left-padded to `max_length - max_new_tokens_limit` slots, so one compiled program (per
    batch size) serves every prompt width. Positions and attention follow the mask, so padding changes
    no token (`model.generate` pads to other widths: only float rounding differs between the two).
    """
    config = model.config
    prompt_slots = max_length - max_new_tokens_limit
    core = build_generate_fn(model, max_length, options)

    @tf.function(
        input_signature=[
            _ids_spec(2, "input_ids"),
            _ids_spec(2, "attention_mask"),
            tf.TensorSpec([], tf.int32, name="max_new_tokens"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int32, name="seed"),
            tf.TensorSpec([], tf.bool, name="do_sample"),
        ]
    )
    def generate(input_ids, attention_mask, max_new_tokens, temperature, top_k, top_p, seed, do_sample):
        batch, width = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
        controls = DecodingControls(max_new_tokens, temperature, top_k, top_p, seed, do_sample)
        checks = _check_ids(input_ids, config.vocab_size, "input_ids") + _check_mask(attention_mask, input_ids)
        checks += _check_controls(controls, max_new_tokens_limit)
        checks += [
            tf.debugging.assert_positive(batch, message="input_ids is an empty batch: give at least one prompt"),
            tf.debugging.assert_less_equal(
                width,
                prompt_slots,
                message=f"input_ids is wider than the exported maximum prompt of {prompt_slots} tokens",
            ),
            tf.debugging.assert_positive(
                tf.reduce_min(tf.reduce_sum(attention_mask, axis=1)),
                message="every prompt needs at least one real token (attention_mask has a row of zeros)",
            ),
        ]
        with tf.control_dependencies(checks):
            left = prompt_slots - width
            padded_ids = tf.pad(input_ids, [[0, 0], [left, 0]], constant_values=FILLER_TOKEN_ID)
            padded_mask = tf.pad(attention_mask, [[0, 0], [left, 0]])
        # A static prompt width: the compiled program's buffers have fixed sizes.
        padded_ids = tf.ensure_shape(padded_ids, [None, prompt_slots])
        padded_mask = tf.ensure_shape(padded_mask, [None, prompt_slots])
        # As `model.generate`: seeds reduced modulo 2**31, temperature 1 when not sampling.
        seed = tf.cast(tf.math.floormod(tf.cast(seed, tf.int64), 2**31), tf.int32)
        temperature = tf.where(do_sample, temperature, 1.0)
        outputs = core(
            padded_ids, padded_mask, max_new_tokens, temperature, top_k, top_p, seed, do_sample, min_new_tokens
        )
        # The prompt as given, then the new tokens (the width `model.generate` returns).
        return {"sequences": outputs["sequences"][:, left : prompt_slots + outputs["num_generated"]]}

    return generate


class _ServingModule(tf.Module):
    """What is saved: the model's variables (once) and the signature functions that read them."""

    def __init__(self, model, functions):
        super().__init__(name="gpt_keras_export")
        self.model_variables = list(model.variables)
        for name, function in functions.items():
            setattr(self, name, function)


def _remove_incomplete_exports(export_dir):
    """Removes `.N-incomplete-*` directories: the staging names of exports made before gpt_keras staged
    versions through `_dirs`, which only a killed export can have left behind."""
    for leftover in export_dir.glob(".*-incomplete-*") if export_dir.is_dir() else ():
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _next_version(export_dir):
    if not export_dir.is_dir():
        return 1
    return max((int(p.name) for p in export_dir.iterdir() if p.is_dir() and p.name.isdigit()), default=0) + 1


def export_saved_model(
    model,
    export_dir,
    *,
    version=None,
    generate=True,
    max_length=None,
    max_new_tokens=None,
    tokenizer=None,
    truncate_prompt=False,
    **decoding_options,
):
    """Exports `model` as a SavedModel for TF Serving, in the versioned layout `export_dir/<version>/`.

    The version directory is written under a temporary name and renamed when complete, so a server
    watching `export_dir` never loads a half-written version.

    Args:
        model: Any of the four models (`TFOpenAIGPTModel`, `TFOpenAIGPTLMHeadModel`,
            `TFOpenAIGPTDoubleHeadsModel`, `TFOpenAIGPTForSequenceClassification`).
        export_dir: The model's base directory, as given to `tensorflow_model_server --model_base_path`.
        version: Integer version (the subdirectory name); the highest existing version + 1 when None.
            An existing version is never overwritten.
        generate: Also export the `generate` signature, for models with an LM head (ignored for the
            base and classification models, which have none).
        max_length: Slots of the generation program: prompt width + new tokens, at most
            `config.n_positions` (its default).
        max_new_tokens: The exported maximum of `max_new_tokens` (default `max_length // 2`); prompts
            may then be up to `max_length - max_new_tokens` tokens wide.
        tokenizer: An `OpenAIGPTTokenizer` in basic mode (or a tokenizer directory, read in basic mode):
            adds the text signatures (`gpt_keras.export_text`), tokenized in the graph.
        truncate_prompt: `generate_text` keeps the last tokens of a prompt longer than the exported
            maximum instead of refusing it (the id `generate` signature is not affected).
        **decoding_options: Static settings of `model.generate` fixed in the program: `num_beams`,
            `num_return_sequences` (beam search), `length_penalty`, `early_stopping`,
            `repetition_penalty`, `no_repeat_ngram_size`, `min_new_tokens`, `eos_token_id`,
            `pad_token_id` (the last two default to the config's, as in `model.generate`).

    Returns:
        The `Path` of the written version directory.

    Raises:
        TypeError: `model` is not one of the four models, or an unknown decoding option is given.
        ValueError: `version`, `max_length` or `max_new_tokens` is out of range, or the tokenizer does not
            fit the model (another mode, more ids than the embedding has rows).
        FileExistsError: `export_dir/<version>` exists already.

    Example:
        >>> model = TFOpenAIGPTLMHeadModel.from_pretrained("openai-gpt/")  # doctest: +SKIP
        >>> export_saved_model(model, "/models/openai-gpt", max_new_tokens=64)  # doctest: +SKIP
        PosixPath('/models/openai-gpt/1')
    """
    if not is_model(model):
        raise TypeError(f"model must be one of the gpt_keras models, got {type(model).__name__}")
    config = model.config
    export_dir = Path(export_dir)
    if version is None:
        version = _next_version(export_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version must be an integer >= 0 (TF Serving's version directory), got {version!r}")
    target = export_dir / str(version)
    if target.exists():
        raise FileExistsError(f"version {version} exists already at {target}; pass another version")

    functions = {SERVING_SIGNATURE: _forward_function(model)}
    metadata = {"model_class": type(model).__name__, "config": config.to_dict()}
    with_generate = bool(generate) and model.has_tied_lm_head
    if not with_generate:
        limits = {"max_length": max_length, "max_new_tokens": max_new_tokens}
        given = [name for name, value in limits.items() if value is not None] + sorted(decoding_options)
        if given:
            can_generate = model.has_tied_lm_head
            reason = "generate=False" if can_generate else f"{type(model).__name__} has no LM head"
            raise ValueError(f"{', '.join(given)} configure the generate signature, which is not exported ({reason})")
    else:
        # At least one prompt slot and one new token.
        if max_length is None:
            max_length = config.n_positions
        max_length = Bound(2, config.n_positions, integer=True).check(max_length, "max_length")
        if max_new_tokens is None:
            max_new_tokens = max_length // 2
        limit = dataclasses.replace(GenerationConfig.bounds()["max_new_tokens"], maximum=max_length - 1)
        max_new_tokens = limit.check(max_new_tokens, "max_new_tokens")
        options, min_new_tokens = _decoding_options(config, decoding_options)
        functions[GENERATE_SIGNATURE] = _generate_function(model, max_length, max_new_tokens, options, min_new_tokens)
        metadata["generate"] = {
            "max_length": max_length,
            "max_new_tokens": max_new_tokens,
            "max_prompt_length": max_length - max_new_tokens,
            "options": dataclasses.asdict(options),
            "min_new_tokens": min_new_tokens,
        }

    if tokenizer is not None:
        from gpt_keras.export_text import add_text_signatures

        layer = add_text_signatures(model, tokenizer, functions, metadata, truncate_prompt, decoding_options)
    elif truncate_prompt:
        raise ValueError("truncate_prompt configures the generate_text signature, which needs tokenizer=")
    started = time.perf_counter()
    module = _ServingModule(model, functions)
    if tokenizer is not None:
        module.tokenizer_layer = layer  # its lookup tables are saved with the signatures that read them
    signatures = {name: function.get_concrete_function() for name, function in functions.items()}
    metadata["signatures"] = {
        name: {
            "inputs": sorted(spec.name for spec in function.structured_input_signature[0]),
            "outputs": sorted(function.structured_outputs),
        }
        for name, function in signatures.items()
    }
    # The version is written in a hidden sibling (TF Serving ignores names that are not numbers, so it
    # never loads a partial version) and appears under its number in one rename.
    _remove_incomplete_exports(export_dir)
    try:
        with _dirs.staged_directory(target, replace=False) as staging:
            tf.saved_model.save(module, str(staging.path), signatures=signatures)
            metadata["export_seconds"] = round(time.perf_counter() - started, 3)
            (staging.path / "assets.extra").mkdir(exist_ok=True)
            atomic_write_text(staging.path / "assets.extra" / METADATA_FILE, json.dumps(metadata, indent=2, sort_keys=True))
    except FileExistsError:
        # Another export took this version while ours was being written.
        raise FileExistsError(f"version {version} appeared at {target} during this export; pass another version") from None
    return target
