"""Input checking shared by the four models: dtypes, ranks, shapes and ranges, before any computation.

Every check says what was expected, what was given and which argument it was; eagerly it raises at
once, in a traced graph it asserts when the graph runs. Values are range-checked in their own dtype
before they are cast, and an XLA program gets no assertions (it would drop them): there bad values
poison the outputs with NaN (see `gpt_keras.layers.checks`).
"""
import functools
import inspect
from collections.abc import Mapping

import keras
import tensorflow as tf
from keras import ops

from gpt_keras import losses
from gpt_keras.layers.checks import assertions_run, check_ids_in_range, check_mask_values, integer_values

CALL_ARGUMENTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "position_ids",
    "head_mask",
    "inputs_embeds",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "labels",
    "mc_token_ids",
    "mc_labels",
)
# The inputs only a head reads; a model without that head refuses them.
HEAD_ARGUMENTS = ("labels", "mc_token_ids", "mc_labels")
# The head inputs that are targets: what `fit` takes as y.
LABEL_ARGUMENTS = ("labels", "mc_labels")


def _as_int_tensor(value, argument):
    """`value` in its own integer dtype (a list becomes a numpy array), for heads that check it with
    `check_ids_in_range`, which casts it (the double-heads model's `mc_token_ids`)."""
    return integer_values(value, argument)


def _check_rank(tensor, rank, argument, layout):
    if tensor is not None and len(tensor.shape) != rank:
        raise ValueError(f"{argument} must have rank {rank} {layout}, got shape {tuple(tensor.shape)}")


def _check_same_shape(tensor, reference, argument):
    """`tensor`, checked to have `reference`'s shape: now where shapes are static, else when the graph runs."""
    static_a, static_b = tuple(tensor.shape), tuple(reference.shape)
    if len(static_a) != len(static_b) or any(a is not None and b is not None and a != b for a, b in zip(static_a, static_b)):
        raise ValueError(f"{argument} has shape {static_a} but input_ids has shape {static_b}; they must match")
    symbolic = isinstance(tensor, keras.KerasTensor) or isinstance(reference, keras.KerasTensor)
    if None in static_a + static_b and not symbolic and assertions_run():
        check = tf.debugging.assert_equal(
            tf.shape(tensor), tf.shape(reference), message=f"{argument} must have the shape of input_ids"
        )
        with tf.control_dependencies([check]):
            tensor = tf.identity(tensor)
    return tensor


@functools.cache
def call_parameters(model_class):
    """The parameters of `model_class.call` in order (`self` left out): what a list input is matched to."""
    return tuple(inspect.signature(model_class.call).parameters)[1:]


def keyword_inputs(model_class, args, kwargs):
    """A model call's `(args, kwargs)` with a first argument that Keras would refuse made keywords.

    The reference's models take their inputs as keywords, as a mapping (a dict or a tokenizer's
    `BatchEncoding`, which may hold the output flags too: `{"input_ids": ids, "output_attentions": True}`)
    or as a list / tuple in the order of the call's parameters (`[input_ids, attention_mask]`; a
    `keras.Input` named like a parameter goes to that parameter). Keras refuses positional values that
    are not tensors (flags, lists, mapping subclasses): such a first argument becomes keyword arguments.
    Any other call is returned unchanged.
    """
    if not args or not isinstance(args[0], (Mapping, list, tuple)):
        return args, kwargs
    first, rest = args[0], args[1:]
    parameters = call_parameters(model_class)
    form = "input dict" if isinstance(first, Mapping) else "input list"
    if rest:
        raise ValueError(
            f"{model_class.__name__} got an {form} and {len(rest)} more positional inputs: pass the others in"
            f" the {form} or as keywords"
        )
    if isinstance(first, Mapping):
        given = dict(first)
        unknown = set(given) - set(CALL_ARGUMENTS) - {"training"}
        if unknown:
            raise ValueError(f"unknown input keys {sorted(unknown)}; expected some of {CALL_ARGUMENTS}")
    else:
        if len(first) > len(parameters):
            raise ValueError(
                f"{model_class.__name__} takes at most {len(parameters)} inputs in a list ({', '.join(parameters)}),"
                f" got {len(first)}"
            )
        given = {}
        for position, value in enumerate(first):
            name = value.name if isinstance(value, keras.KerasTensor) and value.name in parameters else parameters[position]
            if name in given:
                raise ValueError(f"{name} given twice in the input list (by position and by a keras.Input's name)")
            given[name] = value
    merged = {name: value for name, value in given.items() if value is not None}
    for name, value in kwargs.items():
        if name in merged and value is not None and value is not merged[name]:
            raise ValueError(f"{name} given twice, in the {form} and as a keyword argument: pass it once")
        merged.setdefault(name, value)
    return (), merged


def collect_inputs(input_ids, arguments):
    """One dict of the call's inputs: `input_ids` may itself be a mapping of them (as Keras passes them
    in `fit`), completed by the keyword `arguments` that are given (not None)."""
    if not isinstance(input_ids, Mapping):
        return dict(arguments, input_ids=input_ids)
    inputs = dict(input_ids)
    unknown = set(inputs) - set(CALL_ARGUMENTS)
    if unknown:
        raise ValueError(f"unknown input keys {sorted(unknown)}; expected some of {CALL_ARGUMENTS}")
    for name, value in arguments.items():
        if value is not None:
            inputs.setdefault(name, value)
    return inputs


def resolve_flags(config, inputs):
    """Sets `inputs`' output flags left at None to the config's (`config.output_attentions`,
    `config.output_hidden_states`, as the reference reads them) and returns whether to return a
    `ModelOutput` (`return_dict`, by default `config.use_return_dict`) rather than a tuple."""
    for name in ("output_attentions", "output_hidden_states"):
        if inputs.get(name) is None:
            inputs[name] = bool(getattr(config, name, False))
    return_dict = inputs.pop("return_dict", None)
    if return_dict is None:
        return_dict = getattr(config, "use_return_dict", getattr(config, "return_dict", True))
    return bool(return_dict)


def refuse_unused_inputs(inputs, head_inputs, model_name):
    """Raises ValueError when `inputs` hold head inputs (labels, ...) that no head of the model reads."""
    unused = sorted(name for name in HEAD_ARGUMENTS if inputs.get(name) is not None and name not in head_inputs)
    if unused:
        raise ValueError(f"{model_name} takes no {', '.join(unused)} (it has no head that uses them)")


def prepare_inputs(config, inputs, input_rank):
    """Validates and converts the backbone's inputs; flattens (batch, choices, seq) to (batch * choices, seq).

    Args:
        config: The model's `OpenAIGPTConfig`.
        inputs: The dict of `collect_inputs`.
        input_rank: 2 for (batch, seq) inputs, 3 for (batch, choices, seq).

    Returns:
        The keyword arguments of `TFOpenAIGPT.forward`: `input_ids`, `inputs_embeds`, `head_mask`
        and, when given, `attention_mask`, `token_type_ids`, `position_ids`.
    """
    input_ids = integer_values(inputs.get("input_ids"), "input_ids")
    inputs_embeds = inputs.get("inputs_embeds")
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds")
    layout = "(batch, choices, seq)" if input_rank == 3 else "(batch, seq)"
    if input_ids is not None:
        _check_rank(input_ids, input_rank, "input_ids", layout)
        input_ids = check_ids_in_range(input_ids, config.vocab_size, "input_ids")
        shape_source = input_ids
    else:
        inputs_embeds = ops.convert_to_tensor(inputs_embeds)
        _check_rank(inputs_embeds, input_rank + 1, "inputs_embeds", layout[:-1] + ", n_embd)")
        width = inputs_embeds.shape[-1]
        if width is not None and width != config.n_embd:
            raise ValueError(f"inputs_embeds must have n_embd={config.n_embd} features in its last axis, got {width}")
        shape_source = inputs_embeds[..., 0]
    seq_len = shape_source.shape[-1]
    if seq_len is not None and seq_len > config.n_positions:
        raise ValueError(f"sequence length {seq_len} is longer than the model's n_positions={config.n_positions}")
    if seq_len is None and input_ids is not None and assertions_run():
        # Traced with a dynamic length: checked when the graph runs (under XLA the position
        # lookup's NaN rows flag it instead).
        check = tf.debugging.assert_less_equal(tf.shape(input_ids)[-1], config.n_positions, message=f"sequence length is longer than n_positions={config.n_positions}")
        with tf.control_dependencies([check]):
            input_ids = tf.identity(input_ids)
    prepared = {}
    for name, limit in (("attention_mask", None), ("token_type_ids", config.vocab_size), ("position_ids", config.n_positions)):
        value = inputs.get(name)
        if value is None:
            continue
        value = integer_values(value, name, allow_bool=limit is None, allow_float=limit is None)
        value = _check_same_shape(value, shape_source, name)
        prepared[name] = check_mask_values(value, name) if limit is None else check_ids_in_range(value, limit, name)

    flatten = lambda x: None if x is None else ops.reshape(x, (-1,) + tuple(ops.shape(x)[input_rank - 1 :]))
    prepared = {name: flatten(value) for name, value in prepared.items()}
    prepared["input_ids"] = flatten(input_ids)
    prepared["inputs_embeds"] = flatten(inputs_embeds)
    head_mask = inputs.get("head_mask")
    if head_mask is not None:
        head_mask = ops.cast(head_mask, "float32")
        if tuple(head_mask.shape) == (config.n_head,):
            head_mask = ops.broadcast_to(head_mask[None, :], (config.n_layer, config.n_head))
        if tuple(head_mask.shape) != (config.n_layer, config.n_head):
            raise ValueError(
                f"head_mask must have shape (n_head,) or (n_layer, n_head) = ({config.n_layer}, {config.n_head}), "
                f"got {tuple(head_mask.shape)}"
            )
    prepared["head_mask"] = head_mask
    return prepared


def unflatten_choices(outputs, leading):
    """The backbone's (batch * choices, ...) outputs given back their (batch, choices) `leading` axes."""
    unflatten = lambda x: ops.reshape(x, tuple(leading) + tuple(ops.shape(x)[1:]))
    return {
        name: tuple(unflatten(x) for x in value) if isinstance(value, tuple) else unflatten(value)
        for name, value in outputs.items()
    }


def weight_for(sample_weight, label_name):
    """The sample weights of `label_name`'s loss: `sample_weight` itself, or its entry for that label
    when it is a dict (Keras copies one weight array per entry of a dict of labels given as y)."""
    return sample_weight.get(label_name) if isinstance(sample_weight, Mapping) else sample_weight


def checked_labels(value, argument, limit):
    """Integer class labels, checked to be in [0, limit) or -100 (ignored)."""
    return check_ids_in_range(value, limit, argument, ignore_index=losses.IGNORE_INDEX)
