"""The checkpoint formats: one table row each, saying how the format is found and how it is read.

Rows are in the order :func:`~gpt_keras.checkpoints.load_state_dict` prefers them when a directory holds
several: ``model.safetensors``, ``model.safetensors.index.json`` (+ shards), ``tf_model.h5``,
``pytorch_model.bin``, ``pytorch_model.bin.index.json`` (+ shards), and the original release
(``params_shapes.json`` + ``params_0.npy`` … ``params_9.npy``).
"""

import dataclasses
import fnmatch
import logging
from collections.abc import Callable
from pathlib import Path

from gpt_keras import _dirs
from gpt_keras.checkpoints import original_release, safetensors, shards, tf_h5, torch_bin
from gpt_keras.checkpoints.state_dict import LazyStateDict

logger = logging.getLogger("gpt_keras")

SAFETENSORS = "safetensors"
SAFETENSORS_SHARDED = "safetensors-sharded"
TF_H5 = "tf-h5"
PYTORCH_BIN = "pytorch-bin"
PYTORCH_BIN_SHARDED = "pytorch-bin-sharded"
ORIGINAL_RELEASE = "original-release"


@dataclasses.dataclass(frozen=True)
class Format:
    """One checkpoint format.

    Attributes:
        name: the format's name (see :class:`~gpt_keras.checkpoints.CheckpointInfo`).
        marker: the file that marks the format in a directory (and is what `read` is given).
        file_pattern: the names a single file of this format may have, when a path names one file.
        weight_files: patterns of every file of the format: a save replaces all of them.
        read: ``read(marker) -> (state_dict, files, metadata)``; the state dict has the file's own names
            and is a :class:`LazyStateDict` for safetensors.
    """

    name: str
    marker: str
    file_pattern: str
    weight_files: tuple
    read: Callable


def _read_safetensors(marker):
    reader = safetensors.SafetensorsFile(marker)
    return LazyStateDict({name: (reader, name) for name in reader.keys()}), (marker,), dict(reader.metadata)


def _read_sharded_safetensors(marker):
    locations = shards.open_sharded(marker)
    files = (marker, *sorted({reader.path for reader, _ in locations.values()}))
    metadata = dict(next(iter(locations.values()))[0].metadata) if locations else {}
    return LazyStateDict(locations), files, metadata


def _read_tf_h5(marker):
    return tf_h5.load_tf_h5(marker), (marker,), {}


def _read_torch_bin(marker):
    return torch_bin.load_torch_bin(marker), (marker,), {}


def _read_sharded_torch_bin(index_path):
    locations = shards.read_index(index_path)
    shard_paths = tuple(dict.fromkeys(locations.values()))
    state_dict = {}
    for shard_path in shard_paths:
        listed = {name for name, where in locations.items() if where == shard_path}
        shard = torch_bin.load_torch_bin(shard_path)
        if set(shard) != listed:
            raise torch_bin.TorchCheckpointError(
                f"{shard_path}: its tensors disagree with the index {index_path}: lacks {sorted(listed - set(shard))}, "
                f"unlisted {sorted(set(shard) - listed)}"
            )
        state_dict.update(shard)
    return {name: state_dict[name] for name in locations}, (index_path, *shard_paths), {}


def _read_original_release(marker):
    directory = marker.parent
    names_file = directory / original_release.NAMES_NAME
    files = (
        marker,
        *(directory / f"params_{n}.npy" for n in range(original_release.NUM_PARAM_FILES)),
        *((names_file,) if names_file.is_file() else ()),
    )
    return original_release.load_original_release(directory), files, {}


FORMATS = (
    Format(SAFETENSORS, safetensors.SAFE_WEIGHTS_NAME, "*.safetensors", ("model.safetensors",), _read_safetensors),
    Format(
        SAFETENSORS_SHARDED,
        shards.SAFE_WEIGHTS_INDEX_NAME,
        "*.safetensors.index.json",
        ("model.safetensors.index.json", "model-*-of-*.safetensors"),
        _read_sharded_safetensors,
    ),
    Format(TF_H5, tf_h5.TF_WEIGHTS_NAME, "*.h5", ("tf_model.h5",), _read_tf_h5),
    Format(PYTORCH_BIN, torch_bin.WEIGHTS_NAME, "*.bin", ("pytorch_model.bin",), _read_torch_bin),
    Format(
        PYTORCH_BIN_SHARDED,
        torch_bin.WEIGHTS_INDEX_NAME,
        "*.index.json",
        ("pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin"),
        _read_sharded_torch_bin,
    ),
    Format(
        ORIGINAL_RELEASE,
        original_release.SHAPES_NAME,
        original_release.SHAPES_NAME,
        ("params_shapes.json", "params_*.npy", original_release.NAMES_NAME),
        _read_original_release,
    ),
)


def is_weight_file(name):
    """Whether a file name is one of some format's weight files (which a save replaces).

    Args:
        name: a file name.

    Returns:
        True for e.g. ``model.safetensors``, ``model-00001-of-00002.safetensors``, ``tf_model.h5``.
    """
    return any(fnmatch.fnmatchcase(name, pattern) for fmt in FORMATS for pattern in fmt.weight_files)


def resolve_checkpoint_dir(path):
    """Turns a hub cache root (``models--X`` with ``refs/main`` and ``snapshots/``) into its snapshot folder.

    Args:
        path: a directory.

    Returns:
        ``models--X/snapshots/<commit of refs/main>`` for a cache root (the only snapshot when ``refs/main``
        is absent), else ``path`` unchanged.
    """
    path = Path(path)
    snapshots = path / "snapshots"
    if not snapshots.is_dir():
        return path
    ref = path / "refs" / "main"
    if ref.is_file():
        snapshot = snapshots / ref.read_text(encoding="utf-8").strip()
        if not snapshot.is_dir():
            raise FileNotFoundError(f"{ref} points to snapshot {snapshot.name!r}, but {snapshot} does not exist")
        return snapshot
    candidates = sorted(p for p in snapshots.iterdir() if p.is_dir())
    if len(candidates) != 1:
        raise FileNotFoundError(
            f"{path} looks like a hub cache folder but has no refs/main and {len(candidates)} snapshots "
            f"({[p.name for p in candidates]}); pass the snapshot folder itself"
        )
    return candidates[0]


def _single_file_format(path):
    for fmt in FORMATS:
        if fnmatch.fnmatchcase(path.name, fmt.file_pattern):
            return fmt
    raise ValueError(
        f"cannot tell the checkpoint format of {path}: expected a .safetensors, .index.json, .h5 or .bin file, "
        f"{original_release.SHAPES_NAME}, or a directory"
    )


def _wanted(formats):
    """The `Format` rows named by `formats` (names, in preference order), or the whole table for None."""
    if formats is None:
        return FORMATS
    rows = {fmt.name: fmt for fmt in FORMATS}
    unknown = [name for name in formats if name not in rows]
    if unknown:
        raise ValueError(f"formats: unknown checkpoint formats {unknown}; expected names among {sorted(rows)}")
    return tuple(rows[name] for name in formats)


def locate(path, formats=None):
    """Finds the checkpoint at `path`.

    Args:
        path: a checkpoint directory, a hub cache root or snapshot, or a single weights file.
        formats: the names of the formats to consider, in preference order; None for all of them, in
            the table's order.

    Returns:
        ``(format, marker file, directory, names of the other formats present)``; the `Format` is the
        preferred one present.

    Raises:
        FileNotFoundError: `path` does not exist or holds no recognised checkpoint file (of `formats`:
            the message then names the formats that are there).
    """
    path = Path(path)
    wanted = _wanted(formats)
    if path.is_file():
        fmt = _single_file_format(path)
        if fmt not in wanted:
            raise FileNotFoundError(f"{path} is a {fmt.name} checkpoint; expected one of {[f.name for f in wanted]}")
        return fmt, path, path.parent, ()
    readable = _dirs.readable_directory(path)
    if readable is None:
        raise FileNotFoundError(f"checkpoint path does not exist: {path}")
    if readable != path:
        logger.warning("%s is missing after an interrupted save; reading %s, which the next save puts back", path, readable)
    directory = resolve_checkpoint_dir(readable)
    present = [fmt for fmt in wanted if (directory / fmt.marker).is_file()]
    if not present:
        looked_for = ", ".join(fmt.marker for fmt in wanted)
        others = [fmt.name for fmt in FORMATS if fmt not in wanted and (directory / fmt.marker).is_file()]
        if others:
            found = f"it holds {', '.join(others)} only"
        else:
            found = f"found {sorted(p.name for p in directory.iterdir()) or 'an empty directory'}"
        raise FileNotFoundError(f"no checkpoint found in {directory}: looked for {looked_for}; {found}")
    return present[0], directory / present[0].marker, directory, tuple(fmt.name for fmt in present[1:])


def detect_format(path):
    """Tells which checkpoint format :func:`~gpt_keras.checkpoints.load_state_dict` would read at ``path``.

    Args:
        path: a checkpoint directory, a hub cache root or snapshot, or a single weights file.

    Returns:
        The format's name (see :class:`~gpt_keras.checkpoints.CheckpointInfo`); the preferred one when
        several are present.

    Raises:
        FileNotFoundError: ``path`` does not exist or holds no recognised checkpoint file.
    """
    return locate(path)[0].name
