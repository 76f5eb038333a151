"""The reference's `generation_config.json`: a generating model's default `generate` options.

`save_pretrained` writes it beside config.json for a model that can generate (`can_generate()`), as
the reference does, and `from_pretrained` reads it back into `model.generation_config`. The file holds
what the reference's `GenerationConfig.save_pretrained` writes: the options that differ from the
defaults, under the reference's names, and `"_from_model_config": true`, which the reference writes for
every generation config that began as the model config's (customized or not). The reference also
writes `"transformers_version"`; this file is not written by transformers, so it claims no version (the
reference reads it without one).
"""
import json
import logging
from pathlib import Path

import numpy as np

from gpt_keras.decoding.config import GenerationConfig

logger = logging.getLogger("gpt_keras")

GENERATION_CONFIG_NAME = "generation_config.json"


def generation_config_files(model):
    """`{GENERATION_CONFIG_NAME: its JSON text}` for a model that can generate, else `{}` (the files
    `save_pretrained` adds to the checkpoint).

    Raises:
        ValueError: An option of `model.generation_config` is invalid (named), so nothing is saved that
            `from_pretrained` would refuse.
    """
    if not model.can_generate():
        return {}
    # Read without the property, which would fix a config that still follows the model config.
    held = vars(model).get("_generation_config")
    config = GenerationConfig.from_model_config(model.config) if held is None else held
    config.validate()
    defaults = GenerationConfig()
    values = {
        name: _plain(value)
        for name, value in config.to_dict().items()
        if value is not None and _plain(value) != _plain(getattr(defaults, name))
    }
    values["_from_model_config"] = True
    return {GENERATION_CONFIG_NAME: json.dumps(values, indent=2, sort_keys=True) + "\n"}


def read_generation_config(directory):
    """The `GenerationConfig` of a checkpoint directory's `generation_config.json`, or None without one.

    Fields that are no option of `generate` here (the reference's `transformers_version`,
    `_from_model_config`, options such as `decoder_start_token_id`) are ignored, logged at DEBUG: files
    written by transformers carry them.

    Raises:
        ValueError: The file is not a JSON object, or an option's value is invalid (the message names
            the file and the option).
    """
    path = Path(directory) / GENERATION_CONFIG_NAME
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object of generation options, got {type(values).__name__}")
    options = set(GenerationConfig.option_names())
    ignored = sorted(set(values) - options)
    if ignored:
        logger.debug("%s: ignored %s, which are no generate options here", path, ignored)
    config = GenerationConfig(**{name: value for name, value in values.items() if name in options})
    try:
        config.validate()
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return config


def _plain(value):
    """`value` as JSON writes and reads it back (tuples as lists, numpy numbers as Python's)."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
