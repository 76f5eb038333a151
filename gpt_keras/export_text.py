"""The text signatures of the SavedModel export: strings in, strings out, tokenized inside the graph.

`export_saved_model(model, export_dir, tokenizer=...)` adds them next to the id signatures, which stay
as they are. The tokenizer is `OpenAIGPTTokenizerLayer` (the basic mode in core TensorFlow ops), so a
client of TF Serving sends text and needs no BPE of its own:

- `tokenize` (every model): `texts` [batch] string -> `input_ids`, `attention_mask` int32 [batch, seq],
  right-padded with the pad id, as `tokenizer(texts, padding=True)` gives them.
- `generate_text` (LM and double-heads models): `prompts` [batch] string and the scalar controls of
  `generate` -> `completions` [rows] string (the new text only, up to EOS) and `sequences` int32 (the
  prompts' ids left-padded to the longest, then the new ids): `model.generate_text(tokenizer, prompts)`.
- `classify_text` (sequence classification): `texts` -> `logits` (and `probabilities`), as
  `serving_default` gives them for the tokenized texts.
- `score_choices` (double heads): `contexts` [batch] string, `endings` [batch, choices] string ->
  `mc_logits` and `probabilities` (softmax over the choices), in the paper's layout.

Requests are validated as the id signatures' are (InvalidArgumentError naming the input and the limit):
text that is not UTF-8, an empty batch, a text without tokens, a prompt longer than the exported maximum
(or, exported with `truncate_prompt=True`, its last tokens kept), a text longer than `n_positions`.
"""
import dataclasses
import os

import tensorflow as tf

from gpt_keras import export
from gpt_keras.decoding import FILLER_TOKEN_ID
from gpt_keras.decoding.text import with_tokenizer_eos
from gpt_keras.tokenization import OpenAIGPTTokenizer, OpenAIGPTTokenizerLayer
from gpt_keras.tokenization import in_graph_packing as packing

TOKENIZE_SIGNATURE = "tokenize"
GENERATE_TEXT_SIGNATURE = "generate_text"
CLASSIFY_TEXT_SIGNATURE = "classify_text"
SCORE_CHOICES_SIGNATURE = "score_choices"


def _texts_spec(name, rank=1):
    return tf.TensorSpec([None] * rank, tf.string, name=name)


def resolve_tokenizer(tokenizer, model):
    """The export's `OpenAIGPTTokenizer` in basic mode, checked against `model`.

    Args:
        tokenizer: an `OpenAIGPTTokenizer` in basic mode, or a tokenizer directory (read in basic mode).
        model: the exported model.

    Raises:
        ValueError: the tokenizer is in another mode, has ids the model's embedding lacks, or (double
            heads) lacks the paper's tokens.
    """
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = OpenAIGPTTokenizer.from_pretrained(tokenizer, pre_tokenizer="basic")
    if not isinstance(tokenizer, OpenAIGPTTokenizer):
        raise TypeError(f"tokenizer must be an OpenAIGPTTokenizer or a tokenizer directory, got {type(tokenizer).__name__}")
    if tokenizer.pre_tokenizer != "basic":
        raise ValueError(
            f"the text signatures tokenize in the basic mode (core TensorFlow ops); got a tokenizer in "
            f"{tokenizer.pre_tokenizer!r} mode: load it with pre_tokenizer='basic'"
        )
    if len(tokenizer) > model.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} ids but the model's embedding {model.config.vocab_size} rows: "
            "resize the model's token embedding to len(tokenizer)"
        )
    if "mc_token_ids" in model.serving_inputs and None in (tokenizer.bos_token_id, tokenizer.sep_token_id, tokenizer.cls_token_id):
        raise ValueError(
            "score_choices (double-heads model) needs the paper's tokens _start_, _delimiter_, _classify_ in "
            "the tokenizer: call tokenizer.add_paper_special_tokens()"
        )
    return tokenizer


def add_text_signatures(model, tokenizer, functions, metadata, truncate_prompt, decoding_options):
    """Adds the text signatures to `functions` (name -> function) and their entry to the export's
    `metadata`, as `export_saved_model(..., tokenizer=tokenizer)` asks; returns the tokenizer layer.

    `functions` holds the id signatures already; `generate_text` runs the `generate` one, or, when the
    tokenizer's EOS changes the decoding options, a `generate` program of its own.
    """
    tokenizer = resolve_tokenizer(tokenizer, model)
    layer = OpenAIGPTTokenizerLayer(tokenizer)
    generate, prompt_slots, eos_token_ids = None, None, ()
    if truncate_prompt and export.GENERATE_SIGNATURE not in functions:
        raise ValueError("truncate_prompt configures the generate_text signature, which is not exported")
    if export.GENERATE_SIGNATURE in functions:
        # As `model.generate_text`: the tokenizer's EOS ends sequences when neither the call nor the config gives one.
        text_options, min_new_tokens = export._decoding_options(
            model.config, with_tokenizer_eos(model.config, tokenizer, decoding_options)
        )
        limits = metadata["generate"]
        prompt_slots, eos_token_ids = limits["max_prompt_length"], text_options.eos_token_ids
        generate = functions[export.GENERATE_SIGNATURE]
        if dataclasses.asdict(text_options) != limits["options"]:
            generate = export._generate_function(
                model, limits["max_length"], limits["max_new_tokens"], text_options, min_new_tokens
            )
    functions.update(text_functions(model, layer, generate, prompt_slots, bool(truncate_prompt), eos_token_ids))
    metadata["text"] = {
        "pre_tokenizer": "basic",
        "vocabulary_size": layer.vocabulary_size,
        "truncate_prompt": bool(truncate_prompt),
        "eos_token_ids": list(eos_token_ids),
    }
    return layer


def text_functions(model, layer, generate=None, prompt_slots=None, truncate_prompt=False, eos_token_ids=()):
    """The text signature functions of `model` (name -> `tf.function` with an input signature).

    Args:
        model: the exported model.
        layer: its `OpenAIGPTTokenizerLayer`.
        generate: the id `generate` function that `generate_text` runs (None: no `generate_text`).
        prompt_slots: the exported maximum prompt width of `generate`.
        truncate_prompt: keep each prompt's last `prompt_slots` tokens instead of refusing a longer one.
        eos_token_ids: the ids that end a completion.
    """
    functions = {TOKENIZE_SIGNATURE: _tokenize_function(layer)}
    if generate is not None:
        functions[GENERATE_TEXT_SIGNATURE] = _generate_text_function(layer, generate, prompt_slots, truncate_prompt, eos_token_ids)
    if "mc_token_ids" in model.serving_inputs:
        functions[SCORE_CHOICES_SIGNATURE] = _score_choices_function(model, layer)
    elif model.main_output == "logits" and not model.has_tied_lm_head:
        functions[CLASSIFY_TEXT_SIGNATURE] = _classify_text_function(model, layer)
    return functions


def _tokenize_function(layer):
    @tf.function(input_signature=[_texts_spec("texts")])
    def tokenize(texts):
        input_ids, attention_mask = packing.pad(layer.tokenize(texts, "texts"), layer.pad_token_id)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    return tokenize


def _checked_lengths(ids, input_name, limit, limit_name):
    """Assertions that the batch is not empty and every row has 1 to `limit` tokens (None: no limit)."""
    lengths = ids.row_lengths()
    # One more row (never reported) keeps argmin and argmax defined on an empty batch.
    shortest, longest = tf.argmin(tf.concat([lengths, [1]], 0)), tf.argmax(tf.concat([lengths, [0]], 0))
    checks = [
        tf.debugging.assert_positive(ids.nrows(), message=f"{input_name} is an empty batch: give at least one text"),
        tf.debugging.Assert(
            tf.reduce_all(lengths > 0), [tf.strings.format(f"{input_name}[{{}}] has no tokens", shortest)]
        ),
    ]
    if limit is not None:
        message = tf.strings.format(f"{input_name}[{{}}] has {{}} tokens, over {limit_name}", (longest, tf.reduce_max(lengths)))
        checks.append(tf.debugging.Assert(tf.reduce_all(lengths <= limit), [message]))
    return checks


def _generate_text_function(layer, generate, prompt_slots, truncate_prompt, eos_token_ids):
    limit = None if truncate_prompt else prompt_slots
    limit_name = (
        f"the exported maximum prompt of {prompt_slots} tokens (an export with truncate_prompt=True keeps a "
        "prompt's last tokens)"
    )

    # The scalar controls of `generate` (its inputs after input_ids and attention_mask), as they are there.
    @tf.function(input_signature=[_texts_spec("prompts"), *generate.input_signature[2:]])
    def generate_text(prompts, max_new_tokens, temperature, top_k, top_p, seed, do_sample):
        ids = layer.tokenize(prompts, "prompts")
        with tf.control_dependencies(_checked_lengths(ids, "prompts", limit, limit_name)):
            ids = packing.truncate(ids, prompt_slots, "left")
        input_ids, attention_mask = packing.pad(ids, FILLER_TOKEN_ID, side="left")
        sequences = generate(input_ids, attention_mask, max_new_tokens, temperature, top_k, top_p, seed, do_sample)["sequences"]
        new_ids = sequences[:, tf.shape(input_ids)[1] :]
        # As `model.generate_text`: a completion ends before the first EOS id.
        is_eos = tf.reduce_any(new_ids[:, :, None] == tf.constant(list(eos_token_ids) or [-1], tf.int32), axis=-1)
        lengths = tf.where(tf.reduce_any(is_eos, axis=1), tf.argmax(is_eos, axis=1, output_type=tf.int32), tf.shape(new_ids)[1])
        completions = layer.detokenize(tf.RaggedTensor.from_tensor(new_ids, lengths=lengths), skip_special_tokens=True)
        return {"completions": completions, "sequences": sequences}

    return generate_text


def _classify_text_function(model, layer):
    n_positions = model.config.n_positions

    @tf.function(input_signature=[_texts_spec("texts")])
    def classify_text(texts):
        ids = layer.tokenize(texts, "texts")
        with tf.control_dependencies(_checked_lengths(ids, "texts", n_positions, f"n_positions={n_positions}")):
            input_ids, attention_mask = packing.pad(ids, layer.pad_token_id)
        return model.serving_outputs(model(input_ids, attention_mask=attention_mask))

    return classify_text


def _score_choices_function(model, layer):
    n_positions = model.config.n_positions

    @tf.function(input_signature=[_texts_spec("contexts"), _texts_spec("endings", rank=2)])
    def score_choices(contexts, endings):
        checks = [
            tf.debugging.assert_equal(
                tf.shape(endings)[0], tf.shape(contexts)[0], message="endings must have one row of choices per context"
            ),
            tf.debugging.assert_positive(tf.size(endings), message="endings is empty: give at least one choice"),
        ]
        with tf.control_dependencies(checks):
            inputs = layer.encode_multiple_choice(contexts, endings, max_length=n_positions)
        mc_logits = tf.cast(model(**inputs)["mc_logits"], tf.float32)
        return {"mc_logits": mc_logits, "probabilities": tf.nn.softmax(mc_logits, axis=-1)}

    return score_choices
