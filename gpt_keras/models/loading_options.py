"""The keyword arguments of `from_pretrained`: how to load, which config, and what loading reports.

The reference's `from_pretrained(path, **kwargs)` takes loading options and config fields in one
`**kwargs`. Here the loading options are taken out first, so none of them reaches the config (or
config.json):

- where to look: `cache_dir`, `revision`, `local_files_only`, `force_download`, `token`, `subfolder`
  (see `gpt_keras.hub.pop_lookup_options`, which also takes `use_auth_token`, `resume_download`, and
  refuses `proxies`);
- which file: `from_pt`, `from_tf`, `use_safetensors` (see `checkpoint_formats`);
- how: `ignore_mismatched_sizes`, `output_loading_info`.

What is left are config fields (`output_attentions=True`, `num_labels=5`), which become the config's
values, and the model class's own arguments (`lm_coef`); anything else is refused by name, as the
reference's model constructor would refuse it.
"""
import dataclasses
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from gpt_keras import checkpoints
from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.hub import DEFAULT_WEIGHTS, WEIGHT_PATTERNS, pop_lookup_options

logger = logging.getLogger("gpt_keras")

_FLAGS = ("from_pt", "from_tf", "ignore_mismatched_sizes", "output_loading_info")
# The reference's own bookkeeping and options that it ignores for its TF models: taken, not used.
_IGNORED = ("mirror", "trust_remote_code", "adapter_kwargs", "_from_auto", "_from_pipeline", "_commit_hash")
# Options of the reference's machinery that have no counterpart here, with what to do instead.
_REFUSED = {
    "tf_to_pt_weight_rename": "the checkpoint's names are read as the reference's PyTorch names; rename a state"
    " dict's keys and call model.load_state_dict(state_dict) instead",
    "load_weight_prefix": "it serves the reference's composite models; these models have no prefix",
    "from_flax": "Flax checkpoints are not read; convert one to safetensors with the reference first",
    "state_dict": "build the model (cls(config)), then call model.load_state_dict(state_dict)",
}


@dataclasses.dataclass(frozen=True)
class LoadingOptions:
    """What `from_pretrained` was asked to do besides building a config.

    Attributes:
        lookup: Keyword arguments of `gpt_keras.hub.resolve_pretrained`.
        formats: Checkpoint format names to read, in preference order (None: all, the default order).
        weights: What a Hub download fetches first (see `resolve_pretrained`'s `weights`).
        reason: The options that chose `formats`, for messages ("from_pt=True"), or "".
        ignore_mismatched_sizes: Re-initialize tensors whose checkpoint shape differs.
        output_loading_info: Return `(model, loading_info)`.
    """

    lookup: dict
    formats: tuple = None
    weights: tuple = DEFAULT_WEIGHTS
    reason: str = ""
    ignore_mismatched_sizes: bool = False
    output_loading_info: bool = False

    def read_checkpoint(self, path):
        """`gpt_keras.checkpoints.load_state_dict(path)` of the chosen formats (lazily for safetensors).

        Raises:
            FileNotFoundError: No checkpoint of the chosen formats; the message names the options.
        """
        try:
            return checkpoints.load_state_dict(path, lazy=True, formats=self.formats)
        except FileNotFoundError as error:
            if not self.reason:
                raise
            raise FileNotFoundError(f"from_pretrained({self.reason}): {error}") from None


def pop_loading_options(kwargs):
    """Takes the reference's loading options out of `from_pretrained`'s `kwargs`.

    Args:
        kwargs: The keyword arguments; the options are removed from it, config fields and model
            arguments are left.

    Returns:
        A `LoadingOptions`.

    Raises:
        ValueError: An option has the wrong type, contradicts another, or has no counterpart here
            (named, with what to do instead).
    """
    lookup = pop_lookup_options(kwargs)
    for name in _IGNORED:
        value = kwargs.pop(name, None)
        if value not in (None, False, ""):
            logger.warning("from_pretrained: %s=%r has no effect here (the reference ignores it too)", name, value)
    for name, instead in _REFUSED.items():
        if name in kwargs:
            raise ValueError(f"from_pretrained: {name}= is not supported: {instead}")
    flags = {name: kwargs.pop(name, False) for name in _FLAGS}
    use_safetensors = kwargs.pop("use_safetensors", None)
    for name, value in {**flags, "use_safetensors": use_safetensors}.items():
        if not isinstance(value, bool) and not (name == "use_safetensors" and value is None):
            raise ValueError(f"from_pretrained: {name} must be True or False, got {value!r}")
    formats, weights = checkpoint_formats(flags["from_pt"], flags["from_tf"], use_safetensors)
    chosen = (("from_pt", flags["from_pt"]), ("from_tf", flags["from_tf"]), ("use_safetensors", use_safetensors))
    reason = ", ".join(f"{name}={value}" for name, value in chosen if value or (name == "use_safetensors" and value is False))
    return LoadingOptions(
        lookup=lookup,
        formats=formats,
        weights=weights,
        reason=reason,
        ignore_mismatched_sizes=flags["ignore_mismatched_sizes"],
        output_loading_info=flags["output_loading_info"],
    )


def pop_dtype(dtype, kwargs):
    """`from_pretrained`'s `dtype`, with the reference's deprecated `torch_dtype=` taken out of `kwargs`.

    As in the reference, `torch_dtype` is the old name of `dtype` (a FutureWarning) and `dtype` wins
    when both are given. Its values are the names a TF user passes ("float16", "bfloat16", "float32",
    "auto"; "torch.float16" is read as "float16"), which are Keras dtype policies too.
    """
    torch_dtype = kwargs.pop("torch_dtype", None)
    if torch_dtype is None:
        return dtype
    warnings.warn("torch_dtype is deprecated (as in the reference): pass dtype=", FutureWarning, stacklevel=3)
    if not isinstance(torch_dtype, str):
        raise ValueError(f"from_pretrained: torch_dtype must be a dtype name such as 'float16' or 'auto', got {torch_dtype!r}")
    return torch_dtype.removeprefix("torch.") if dtype is None else dtype


def resolve_auto_dtype(dtype, config, state_dict):
    """`dtype`, or for "auto" the checkpoint's dtype, as the reference picks it: the config's `dtype` (or
    the older `torch_dtype`) field, else the first floating-point tensor's dtype, else float32."""
    if not (isinstance(dtype, str) and dtype == "auto"):
        return dtype
    for field in ("dtype", "torch_dtype"):
        value = getattr(config, field, None)
        if isinstance(value, str) and value:
            logger.info("from_pretrained(dtype='auto'): %s, the config's %s", value, field)
            return value.removeprefix("torch.")
    if isinstance(state_dict, checkpoints.LazyStateDict):
        dtypes = state_dict.dtypes().values()
    else:
        dtypes = (np.asarray(value).dtype for value in state_dict.values())
    names = (np.dtype(stored).name for stored in dtypes)
    found = next((name for name in names if name.startswith(("float", "bfloat"))), "float32")
    logger.info("from_pretrained(dtype='auto'): %s, the checkpoint's weights'", found)
    return found


def checkpoint_formats(from_pt=False, from_tf=False, use_safetensors=None):
    """Which checkpoint formats `from_pretrained` reads, in preference order, as the reference's flags say.

    By default (None) every format, safetensors first, then `tf_model.h5`, `pytorch_model.bin` and the
    original release: `pytorch_model.bin` loads without `from_pt=True`, which the reference's TF port
    requires for it. `from_pt=True` reads what PyTorch saves: `pytorch_model.bin` first, then
    safetensors, never `tf_model.h5` (as the reference's TF port). `from_tf=True` prefers
    `tf_model.h5`. `use_safetensors=True` reads only safetensors (besides what `from_pt` or `from_tf`
    prefer); False never reads them.

    Returns:
        `(formats, weights)`: the format names (None for the default order) and the groups of
        formats a Hub download fetches one after the other (see `gpt_keras.hub.resolve_pretrained`).

    Raises:
        ValueError: `from_pt` and `from_tf` are both True.
    """
    if from_pt and from_tf:
        raise ValueError("from_pretrained: from_pt=True and from_tf=True contradict each other: pass one of them")
    if not from_pt and not from_tf and use_safetensors is None:
        return None, DEFAULT_WEIGHTS
    safetensors = () if use_safetensors is False else (checkpoints.SAFETENSORS, checkpoints.SAFETENSORS_SHARDED)
    pytorch = (checkpoints.PYTORCH_BIN, checkpoints.PYTORCH_BIN_SHARDED)
    if from_pt:
        formats = (*pytorch, *safetensors)
    elif use_safetensors:
        formats = (checkpoints.TF_H5, *safetensors) if from_tf else safetensors
    else:
        rest = (*pytorch, checkpoints.ORIGINAL_RELEASE)
        formats = (checkpoints.TF_H5, *safetensors, *rest) if from_tf else (*safetensors, checkpoints.TF_H5, *rest)
    families = [name.removesuffix("-sharded") for name in formats]
    weights = tuple((family,) for family in dict.fromkeys(families) if family in WEIGHT_PATTERNS)
    return formats, weights


def checkpoint_config(info, n_head=None):
    """The config of a checkpoint read as `info` (a `CheckpointInfo`): its config.json, or for the
    original release one inferred from the tensors' shapes (with `n_head`, which shapes cannot tell).

    Raises:
        FileNotFoundError: No config.json, and the checkpoint is not the original release.
    """
    config_path = Path(info.directory) / "config.json"
    if config_path.is_file():
        return OpenAIGPTConfig.from_json_file(config_path)
    if info.format == checkpoints.ORIGINAL_RELEASE:
        from gpt_keras.checkpoints import original_release

        heads = {} if n_head is None else {"n_head": n_head}
        return OpenAIGPTConfig(**original_release.infer_config_dict(info.directory, **heads))
    raise FileNotFoundError(f"no config.json in {info.directory}: pass config=OpenAIGPTConfig(...)")


def pretrained_config(cls, config, read_config, kwargs):
    """The config of the model `from_pretrained` builds, and the model class's own arguments.

    Args:
        cls: The model class (its `model_arguments` are not config fields).
        config: The caller's `config=`: None, an `OpenAIGPTConfig`, a dict, or a path (its config.json).
        read_config: Called with no arguments when `config` is None: the checkpoint's config.
        kwargs: What `pop_loading_options` left: config fields and model arguments.

    Returns:
        `(config, model_arguments)`. The caller's config object is used as it is when `kwargs` holds no
        field; with fields, a new config is made (the caller's is not changed).

    Raises:
        TypeError: A keyword argument is neither a config field nor an argument of `cls`.
        ValueError: A field is invalid, or the model class cannot have the config (an LM head untied
            from the token embedding).
    """
    if config is None:
        config = read_config()
    elif isinstance(config, (str, os.PathLike)):
        config = OpenAIGPTConfig.from_pretrained(config)
    elif isinstance(config, dict):
        config = OpenAIGPTConfig.from_dict(config)
    elif not isinstance(config, OpenAIGPTConfig):
        raise TypeError(f"config must be an OpenAIGPTConfig, a dict or a path, got {type(config).__name__}")
    arguments = {name: kwargs.pop(name) for name in (*cls.model_arguments, "name") if name in kwargs}
    if kwargs:
        config, unused = OpenAIGPTConfig.from_dict(config.to_dict(), return_unused_kwargs=True, **kwargs)
        if unused:
            own = ", ".join((*cls.model_arguments, "name"))
            raise TypeError(
                f"{cls.__name__}.from_pretrained got unexpected keyword arguments {sorted(unused)}: they are neither"
                f" fields of OpenAIGPTConfig, loading options, nor arguments of {cls.__name__} ({own})"
            )
    refuse_untied_head(cls, config)
    return config, arguments


def refuse_untied_head(cls, config):
    """ValueError when `cls` has a tied LM head and `config` says `tie_word_embeddings=False`.

    The reference's PyTorch classes then build a separate output layer; its TF port (and these models)
    have none, so the config cannot be honoured and is refused rather than silently tied.
    """
    if cls.has_tied_lm_head and not config.tie_word_embeddings:
        raise ValueError(
            f"{cls.__name__}: the config says tie_word_embeddings=False (a separate output layer), but this model's LM"
            " head is its token embedding, as in every GPT checkpoint: set tie_word_embeddings=True"
            " (from_pretrained(..., tie_word_embeddings=True)) to use the token embedding as the LM head"
        )


def loading_info(missing, unexpected, mismatched):
    """The reference's `output_loading_info` dict.

    Args:
        missing: Names (the reference's PyTorch names) of model tensors the checkpoint lacks (newly
            initialized).
        unexpected: Names of checkpoint tensors the model has no place for (ignored).
        mismatched: `(name, checkpoint shape, model shape)` of tensors re-initialized because their shapes
            differ (with `ignore_mismatched_sizes=True`), as the reference's TF port lists them, in the
            PyTorch layout.

    Returns:
        `{"missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"}`, sorted lists; `error_msgs`
        is empty, since every loading error is raised.
    """
    return {
        "missing_keys": sorted(missing),
        "unexpected_keys": sorted(unexpected),
        "mismatched_keys": sorted(mismatched),
        "error_msgs": [],
    }


def report_mismatched(model_name, source, mismatched):
    """Warns, naming each re-initialized tensor with both shapes, as the reference does."""
    if mismatched:
        lines = "\n".join(
            f"- {name}: found shape {checkpoint} in the checkpoint and {shape} in the model" for name, checkpoint, shape in mismatched
        )
        logger.warning(
            "Some weights of %s were not initialized from %s and are newly initialized because the shapes did not"
            " match (ignore_mismatched_sizes=True):\n%s\nTrain the model before using it for predictions.",
            model_name,
            source,
            lines,
        )


def mismatch_hint(mismatched_names):
    """What to add to a shape-mismatch error: the option that re-initializes those tensors instead."""
    return (
        f"; to re-initialize {', '.join(mismatched_names)} instead (e.g. a classifier for another num_labels),"
        " pass ignore_mismatched_sizes=True"
    )
