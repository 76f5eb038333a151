"""Checkpoint formats as state dicts: name → numpy array, with the PyTorch reference's head-model names.

Every reader returns names such as ``transformer.tokens_embed.weight`` [vocab, n_embd],
``transformer.h.{i}.attn.c_attn.weight`` (Conv1D, [in, out]), ``multiple_choice_head.summary.weight`` and
``score.weight`` (nn.Linear, [out, in]); the reference's base-model names (no ``transformer.`` prefix) are
given the prefix. Mapping these names to Keras variables is the models' business, not this package's.

The formats are rows of one table (:mod:`~gpt_keras.checkpoints.formats`), in the order
:func:`load_state_dict` prefers them when a directory holds several: ``model.safetensors``,
``model.safetensors.index.json`` (+ shards), ``tf_model.h5``, ``pytorch_model.bin``,
``pytorch_model.bin.index.json`` (+ shards), and the original release (``params_shapes.json`` +
``params_0.npy`` … ``params_9.npy``). Saving writes safetensors through :func:`gpt_keras._dirs.staged_directory`.

Example:
    >>> state_dict, info = load_state_dict("path/to/openai-gpt")  # doctest: +SKIP
    >>> info.format, info.files  # doctest: +SKIP
    ('safetensors', (PosixPath('path/to/openai-gpt/model.safetensors'),))
    >>> check_state_dict(state_dict, {"transformer.tokens_embed.weight": (40478, 768)})  # doctest: +SKIP
"""

import logging
import uuid
from pathlib import Path

from gpt_keras import _dirs, _fs
# Every format module, so that `checkpoints.torch_bin` and the like work after `import gpt_keras.checkpoints`.
from gpt_keras.checkpoints import original_release, safetensors, shards, tf_h5, torch_bin  # noqa: F401
from gpt_keras.checkpoints.formats import (
    FORMATS,
    ORIGINAL_RELEASE,
    PYTORCH_BIN,
    PYTORCH_BIN_SHARDED,
    SAFETENSORS,
    SAFETENSORS_SHARDED,
    TF_H5,
    detect_format,
    is_weight_file,
    locate,
    resolve_checkpoint_dir,
)
from gpt_keras.checkpoints.state_dict import (
    CheckpointInfo,
    CheckpointMismatchError,
    LazyStateDict,
    canonical_name,
    canonicalize,
    check_config_fits,
    check_state_dict,
    drop_tied_lm_head,
    tensor_shapes,
)

logger = logging.getLogger("gpt_keras")

# A load that meets a save replacing the checkpoint reads it again; a save takes milliseconds, so a
# third collision in a row means saves follow each other without pause and the error is reported.
_READ_ATTEMPTS = 3


def load_state_dict(path, *, lazy=False, formats=None):
    """Reads a checkpoint in any supported format as a state dict with the reference's names.

    Safetensors files are read through one open file each, and the shards of a sharded checkpoint are
    checked to come from the save that wrote its index: a checkpoint that a save replaces while it is being
    read is read again whole, never mixed.

    Args:
        path: a checkpoint directory, a hub cache root (``models--X``, followed through ``refs/main``) or
            snapshot folder, or a single weights file. With several formats present, safetensors is read
            first, then ``tf_model.h5``, ``pytorch_model.bin``, and the original release; the choice is logged
            on the ``gpt_keras`` logger.
        lazy: for safetensors, return a :class:`LazyStateDict` that reads each tensor when looked up; other
            formats are always read at once.
        formats: the names of the formats to read, in preference order (e.g. ``(PYTORCH_BIN, SAFETENSORS)``);
            None for all, in the order above.

    Returns:
        ``(state_dict, info)``: a mapping name → numpy array, and a :class:`CheckpointInfo`.

    Raises:
        FileNotFoundError: nothing to read at ``path``, naming what was looked for.
        ValueError: a file is truncated, corrupted, unsafe or inconsistent (the message names the file).
    """
    for attempt in range(1, _READ_ATTEMPTS + 1):
        before, marker = _fs.file_identity(path), None
        try:
            fmt, marker, directory, others = locate(path, formats)
            marker_before = _fs.file_identity(marker)
            state_dict, files, metadata = fmt.read(marker)
            break
        except (FileNotFoundError, safetensors.CheckpointChangedError):
            replaced = _fs.file_identity(path) != before or (marker is not None and _fs.file_identity(marker) != marker_before)
            if attempt == _READ_ATTEMPTS or not replaced:
                raise
            logger.info("%s was replaced while it was read (a save is running); reading it again", marker or path)
    if others:
        logger.info(
            "Checkpoint %s holds %s too; reading %s (%s) by preference", directory, ", ".join(others), fmt.name, marker.name
        )
    else:
        logger.info("Reading %s checkpoint %s", fmt.name, marker)
    state_dict = canonicalize(state_dict, marker)
    if isinstance(state_dict, LazyStateDict) and not lazy:
        state_dict = {name: state_dict[name] for name in state_dict}
    if not isinstance(state_dict, LazyStateDict):
        state_dict = drop_tied_lm_head(state_dict, marker)
    return state_dict, CheckpointInfo(fmt.name, directory, tuple(files), metadata, others)


def save_state_dict(state_dict, directory, *, max_shard_size=None, metadata=None, extra_files=None):
    """Writes a state dict as safetensors, atomically: a checkpoint that was there stays whole until replaced.

    Everything is written and flushed in a hidden staging directory that then takes the directory's place
    in one step (see :func:`gpt_keras._dirs.staged_directory`, which also says how a directory that cannot be
    swapped, such as a mount point or the working directory, is updated in place). Files of an existing
    directory that hold no weights (a tokenizer's files, a README, files written there during the save) are
    kept; weight files of any format are replaced, so no stale weights of another format stay behind to be
    read instead. Shards written into a directory that already holds shards get a save id in their names,
    so that no old shard is overwritten before the new index (renamed in last) names the new set.

    Args:
        state_dict: a mapping name → array-like.
        directory: the checkpoint directory to create or replace.
        max_shard_size: None for one ``model.safetensors``; else bytes or a string like ``"200MB"`` /
            ``"2GB"``, for the reference's shards ``model-00001-of-0000K.safetensors`` and index.
        metadata: extra ``__metadata__`` strings for the safetensors files.
        extra_files: a dict file name → ``bytes`` or ``str`` to write beside the weights (e.g. config.json).

    Returns:
        A :class:`CheckpointInfo` of what was written.
    """
    extra_files = dict(extra_files or {})
    for name, content in extra_files.items():
        _check_extra_file(name, content)
    save_id = uuid.uuid4().hex[:12]
    with _dirs.staged_directory(directory, superseded=is_weight_file, commit_order=_commit_order) as staging:
        if max_shard_size is None:
            safetensors.save_safetensors(state_dict, staging.path / safetensors.SAFE_WEIGHTS_NAME, metadata=metadata)
            written = [safetensors.SAFE_WEIGHTS_NAME]
        else:
            holds_shards = any(staging.directory.glob("model-*-of-*.safetensors"))
            written = shards.save_sharded_safetensors(
                state_dict, staging.path, max_shard_size=max_shard_size, metadata=metadata, save_id=save_id,
                id_in_names=holds_shards,
            )
        for name, content in extra_files.items():
            (staging.path / name).write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    directory = staging.directory
    files = [directory / name for name in written]
    if len(files) > 1:
        files.insert(0, files.pop())
    fmt = SAFETENSORS if len(files) == 1 else SAFETENSORS_SHARDED
    logger.info("Saved %s checkpoint to %s (%d files)", fmt, directory, len(files))
    if fmt == SAFETENSORS_SHARDED:
        metadata = {**(metadata or {}), "save_id": save_id}
    return CheckpointInfo(fmt, directory, tuple(files), safetensors.header_metadata(metadata))


def _check_extra_file(name, content):
    if Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"extra_files: expected a plain file name, got {name!r}")
    if is_weight_file(name):
        raise ValueError(f"extra_files: {name!r} is a weights file name, which save_state_dict writes itself")
    if not isinstance(content, (bytes, str)):
        raise TypeError(f"extra_files[{name!r}]: expected bytes or str, got {type(content).__name__}")


def _commit_order(name):
    # Renamed into an in-place directory weights first, then the index, then config.json: the config
    # never describes weights that are not there yet, and the old shards count until the new index lands.
    return name == "config.json", name.endswith(".index.json"), name


__all__ = [
    "FORMATS",
    "ORIGINAL_RELEASE",
    "PYTORCH_BIN",
    "PYTORCH_BIN_SHARDED",
    "SAFETENSORS",
    "SAFETENSORS_SHARDED",
    "TF_H5",
    "CheckpointInfo",
    "CheckpointMismatchError",
    "LazyStateDict",
    "canonical_name",
    "check_config_fits",
    "check_state_dict",
    "detect_format",
    "load_state_dict",
    "resolve_checkpoint_dir",
    "save_state_dict",
    "tensor_shapes",
]
