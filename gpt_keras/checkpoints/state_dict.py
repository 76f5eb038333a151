"""State dicts (name → numpy array) with the reference's names, whatever format they were read from.

Every name is the PyTorch head models' (``transformer.tokens_embed.weight``, ``transformer.h.{i}.attn.c_attn
.weight``, ``score.weight``); the base model's names (no ``transformer.`` prefix) are given the prefix by
:func:`canonical_name`. Mapping these names to Keras variables is the models' business, not this package's.
"""

import dataclasses
import logging
import math
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import ml_dtypes
import numpy as np

logger = logging.getLogger("gpt_keras")

_BASE_MODEL_PREFIXES = ("tokens_embed.", "positions_embed.", "h.")


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`~gpt_keras.checkpoints.load_state_dict` read or
    :func:`~gpt_keras.checkpoints.save_state_dict` wrote.

    Attributes:
        format: one of ``"safetensors"``, ``"safetensors-sharded"``, ``"tf-h5"``, ``"pytorch-bin"``,
            ``"pytorch-bin-sharded"``, ``"original-release"``.
        directory: the checkpoint directory (a hub cache root resolved to its snapshot).
        files: the weight files, in reading order (the index first for sharded checkpoints).
        metadata: the safetensors ``__metadata__`` (of the first shard), else empty.
        other_formats: formats also present in the directory but not used.
    """

    format: str
    directory: Path
    files: tuple
    metadata: dict = dataclasses.field(default_factory=dict)
    other_formats: tuple = ()


class CheckpointMismatchError(ValueError):
    """A state dict that lacks tensors a model needs, or has some of the wrong shape."""


class LazyStateDict(Mapping):
    """A read-only state dict over safetensors files that reads each tensor when it is looked up.

    Looking a tensor up reads it out of its open file into an array of its own, so a caller that assigns
    tensors one at a time and drops them holds about one tensor at a time beyond its own copy.
    Shapes and dtypes are known without reading any data. The files stay open while the dict lives, so
    every tensor comes from the version of the checkpoint that was opened.

    Args:
        locations: a dict name → (``SafetensorsFile``, the tensor's name in that file).
    """

    def __init__(self, locations):
        self._locations = dict(locations)

    def __getitem__(self, name):
        reader, stored_name = self._locations[name]
        return reader.get_tensor(stored_name)

    def __iter__(self):
        return iter(self._locations)

    def __len__(self):
        return len(self._locations)

    def without(self, names):
        """Returns:
        A `LazyStateDict` of the same files lacking `names` (nothing is read)."""
        names = set(names)
        return LazyStateDict({name: where for name, where in self._locations.items() if name not in names})

    def shapes(self):
        """The shapes of all tensors, from the headers only.

        Returns:
            A dict name → shape tuple.
        """
        return {name: reader.shape(stored) for name, (reader, stored) in self._locations.items()}

    def dtypes(self):
        """The dtypes of all tensors, from the headers only.

        Returns:
            A dict name → numpy dtype.
        """
        return {name: reader.dtype(stored) for name, (reader, stored) in self._locations.items()}


def canonical_name(name):
    """Gives a base-model name (``h.0.attn.c_attn.weight``) the head models' ``transformer.`` prefix.

    Args:
        name: a state-dict name.

    Returns:
        The name with the prefix if it is a base-model name, else the name unchanged.
    """
    return f"transformer.{name}" if name.startswith(_BASE_MODEL_PREFIXES) else name


def canonicalize(state_dict, source):
    """The state dict under canonical names (a `LazyStateDict` stays lazy).

    Raises:
        ValueError: two names stand for the same tensor (``h.0.x`` and ``transformer.h.0.x``).
    """
    lazy = isinstance(state_dict, LazyStateDict)
    canonical, original_names = {}, {}
    for name, value in (state_dict._locations if lazy else state_dict).items():
        new_name = canonical_name(name)
        if new_name in canonical:
            raise ValueError(
                f"{source}: tensors {original_names[new_name]!r} and {name!r} both stand for {new_name!r}; "
                f"expected only one of them"
            )
        canonical[new_name], original_names[new_name] = value, name
    return LazyStateDict(canonical) if lazy else canonical


def drop_tied_lm_head(state_dict, source):
    """Removes ``lm_head.weight`` when it is a copy of the token table (a dict is changed in place)."""
    # torch.save keeps the tied output layer as a second view of the token table; safetensors drops it.
    lm_head, tokens = state_dict.get("lm_head.weight"), state_dict.get("transformer.tokens_embed.weight")
    if lm_head is not None and tokens is not None and np.array_equal(lm_head, tokens):
        logger.debug("%s: dropping lm_head.weight, a tied copy of transformer.tokens_embed.weight", source)
        del state_dict["lm_head.weight"]
    return state_dict


def check_state_dict(state_dict, expected_shapes, *, optional=(), source="checkpoint"):
    """Checks a state dict against the shapes a model needs.

    Args:
        state_dict: a mapping name → array (a :class:`LazyStateDict` is checked from its headers alone).
        expected_shapes: a dict name → shape the model needs.
        optional: names of ``expected_shapes`` that may be absent (e.g. the tied ``lm_head.weight``).
        source: where the state dict came from, for the messages (a path or a :class:`CheckpointInfo`).

    Returns:
        The sorted names of unexpected tensors (those not in ``expected_shapes``); they are also reported
        with a ``UserWarning``.

    Raises:
        CheckpointMismatchError: some expected tensors are missing or have another shape; the message lists
            every missing name and every mismatch with both shapes.
    """
    source = _source_name(source)
    shapes, dtypes = _shapes_and_dtypes(state_dict)
    missing = sorted(name for name in expected_shapes if name not in shapes and name not in optional)
    mismatched = [
        f"{name}: checkpoint has {tuple(shapes[name])}, model expects {tuple(shape)}"
        for name, shape in expected_shapes.items()
        if name in shapes and tuple(shapes[name]) != tuple(shape)
    ]
    unexpected = sorted(set(shapes) - set(expected_shapes))
    if unexpected:
        warnings.warn(
            f"{source}: ignoring {len(unexpected)} unexpected tensors: {unexpected}", UserWarning, stacklevel=2
        )
    # A cast would change the values silently: a BOOL token table would become 0/1 embeddings.
    not_float = [f"{name} ({dtypes[name]})" for name in expected_shapes if name in dtypes and not _is_float(dtypes[name])]
    if not_float:
        raise CheckpointMismatchError(
            f"{source}: expected floating-point weights, but {len(not_float)} tensors are stored otherwise: "
            + ", ".join(not_float)
        )
    if missing or mismatched:
        problems = []
        if missing:
            problems.append(f"missing {len(missing)} tensors: {missing}")
        if mismatched:
            problems.append(f"{len(mismatched)} shape mismatches: " + "; ".join(mismatched))
        raise CheckpointMismatchError(f"{source} does not fit the model: " + "; ".join(problems))
    return unexpected


def check_config_fits(state_dict, config, *, source="checkpoint", check_sizes=True):
    """Checks that a model configuration describes a checkpoint's tensors, from their shapes alone.

    Called before a model of `config` is built: building allocates what the config says (100000
    layers, 10**7 positions), whatever the checkpoint holds, and only then would the shapes disagree.
    A config with fewer layers than the checkpoint fits (the others are unexpected tensors).

    Args:
        state_dict: a mapping name → array with canonical names (a :class:`LazyStateDict` is checked
            from its headers alone).
        config: an `OpenAIGPTConfig`.
        source: where the state dict came from, for the messages (a path or a :class:`CheckpointInfo`).
        check_sizes: False to check the number of layers alone (for a load that re-initializes the
            tensors whose shapes differ, such as a token table of another ``vocab_size``).

    Raises:
        CheckpointMismatchError: a size field of `config` disagrees with the checkpoint's tensors; the
            message names the field, the tensor, and what the described model would need.
    """
    shapes, dtypes = _shapes_and_dtypes(state_dict)
    problems = []
    tables = (("transformer.tokens_embed.weight", "vocab_size"), ("transformer.positions_embed.weight", "n_positions"))
    for name, rows_field in tables if check_sizes else ():
        shape = shapes.get(name)
        if shape is None or len(shape) != 2:
            continue  # missing or malformed: check_state_dict names it
        for field, stored in ((rows_field, shape[0]), ("n_embd", shape[1])):
            if getattr(config, field) != stored:
                problems.append(f"{field}={getattr(config, field)}, but {name} has shape {tuple(shape)}")
    layers = {int(match.group(1)) for match in map(_LAYER_NAME.match, shapes) if match}
    stored_layers = max(layers) + 1 if layers else 0
    if config.n_layer > stored_layers:
        held = f"transformer.h.0 … transformer.h.{stored_layers - 1}" if layers else "no transformer.h.* tensors"
        problems.append(f"n_layer={config.n_layer}, but the checkpoint holds {stored_layers} layers ({held})")
    if problems:
        needed = config.num_parameters() * 4  # float32 weights
        held = sum(math.prod(shape) * np.dtype(dtypes[name]).itemsize for name, shape in shapes.items())
        raise CheckpointMismatchError(
            f"{_source_name(source)} does not fit its config: {'; '.join(dict.fromkeys(problems))}. The model the config "
            f"describes would need {_size(needed)} for its weights; the checkpoint holds {_size(held)}"
        )


_LAYER_NAME = re.compile(r"^transformer\.h\.(\d+)\.")


def _source_name(source):
    return f"{source.format} checkpoint {source.directory}" if isinstance(source, CheckpointInfo) else source


def tensor_shapes(state_dict):
    """Every tensor's shape.

    Args:
        state_dict: a mapping name → array (a :class:`LazyStateDict` is read from its headers alone).

    Returns:
        A dict name → shape tuple.
    """
    return {name: tuple(shape) for name, shape in _shapes_and_dtypes(state_dict)[0].items()}


def _shapes_and_dtypes(state_dict):
    """Every tensor's shape and dtype (from the headers for a :class:`LazyStateDict`)."""
    if isinstance(state_dict, LazyStateDict):
        return state_dict.shapes(), state_dict.dtypes()
    arrays = {name: value if isinstance(value, np.ndarray) else np.asarray(value) for name, value in state_dict.items()}
    return {name: np.shape(a) for name, a in arrays.items()}, {name: np.dtype(a.dtype) for name, a in arrays.items()}


def _is_float(dtype):
    return np.dtype(dtype).kind == "f" or np.dtype(dtype) == np.dtype(ml_dtypes.bfloat16)


def _size(nbytes):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes} bytes"
