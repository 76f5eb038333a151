"""Checkpoint formats as state dicts: name → numpy array, with the PyTorch reference's head-model names.

Every reader returns names such as ``transformer.tokens_embed.weight`` [vocab, n_embd],
``transformer.h.{i}.attn.c_attn.weight`` (Conv1D, [in, out]), ``multiple_choice_head.summary.weight`` and
``score.weight`` (nn.Linear, [out, in]); the reference's base-model names (no ``transformer.`` prefix) are
given the prefix. Mapping these names to Keras variables is the models' business, not this package's.

Formats, in the order :func:`load_state_dict` prefers them when a directory holds several:
``model.safetensors``, ``model.safetensors.index.json`` (+ shards), ``tf_model.h5``, ``pytorch_model.bin``,
``pytorch_model.bin.index.json`` (+ shards), and the original release (``params_shapes.json`` +
``params_0.npy`` … ``params_9.npy``).

Example:
    >>> state_dict, info = load_state_dict("path/to/openai-gpt")  # doctest: +SKIP
    >>> info.format, info.files  # doctest: +SKIP
    ('safetensors', (PosixPath('path/to/openai-gpt/model.safetensors'),))
    >>> check_state_dict(state_dict, {"transformer.tokens_embed.weight": (40478, 768)})  # doctest: +SKIP
"""

import dataclasses
import fnmatch
import logging
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gpt_keras.checkpoints import original_release, safetensors, tf_h5, torch_bin

logger = logging.getLogger("gpt_keras")

SAFETENSORS = "safetensors"
SAFETENSORS_SHARDED = "safetensors-sharded"
TF_H5 = "tf-h5"
PYTORCH_BIN = "pytorch-bin"
PYTORCH_BIN_SHARDED = "pytorch-bin-sharded"
ORIGINAL_RELEASE = "original-release"

# (format, the file that marks it), in order of preference.
_MARKERS = (
    (SAFETENSORS, safetensors.SAFE_WEIGHTS_NAME),
    (SAFETENSORS_SHARDED, safetensors.SAFE_WEIGHTS_INDEX_NAME),
    (TF_H5, tf_h5.TF_WEIGHTS_NAME),
    (PYTORCH_BIN, torch_bin.WEIGHTS_NAME),
    (PYTORCH_BIN_SHARDED, torch_bin.WEIGHTS_INDEX_NAME),
    (ORIGINAL_RELEASE, original_release.SHAPES_NAME),
)
# Files that hold weights: a save replaces all of them and keeps any other file of the directory.
_WEIGHT_FILE_PATTERNS = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "tf_model.h5",
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
    "pytorch_model.bin.index.json",
    "params_*.npy",
    "params_shapes.json",
    "parameters_names.json",
)
_BASE_MODEL_PREFIXES = ("tokens_embed.", "positions_embed.", "h.")


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`load_state_dict` read or :func:`save_state_dict` wrote.

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

    Looking a tensor up maps its bytes, copies them into an array that owns its memory and unmaps them, so
    a caller that assigns tensors one at a time and drops them holds about one tensor at a time beyond its
    own copy. Shapes and dtypes are known without reading any data.

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


def _canonicalize(items, source):
    canonical, original_names = {}, {}
    for name, value in items:
        new_name = canonical_name(name)
        if new_name in canonical:
            raise ValueError(
                f"{source}: tensors {original_names[new_name]!r} and {name!r} both stand for {new_name!r}; "
                f"expected only one of them"
            )
        canonical[new_name], original_names[new_name] = value, name
    return canonical


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


def _formats_present(directory):
    return [(fmt, directory / marker) for fmt, marker in _MARKERS if (directory / marker).is_file()]


def _single_file_format(path):
    name = path.name
    if name.endswith(".index.json"):
        return SAFETENSORS_SHARDED if ".safetensors" in name else PYTORCH_BIN_SHARDED
    for suffix, fmt in ((".safetensors", SAFETENSORS), (".h5", TF_H5), (".bin", PYTORCH_BIN)):
        if name.endswith(suffix):
            return fmt
    if name == original_release.SHAPES_NAME:
        return ORIGINAL_RELEASE
    raise ValueError(
        f"cannot tell the checkpoint format of {path}: expected a .safetensors, .index.json, .h5 or .bin file, "
        f"{original_release.SHAPES_NAME}, or a directory"
    )


def _locate(path):
    """Returns (format, marker file, directory, other formats present)."""
    path = Path(path)
    if path.is_file():
        return _single_file_format(path), path, path.parent, ()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint path does not exist: {path}")
    directory = resolve_checkpoint_dir(path)
    present = _formats_present(directory)
    if not present:
        looked_for = ", ".join(marker for _, marker in _MARKERS)
        raise FileNotFoundError(
            f"no checkpoint found in {directory}: looked for {looked_for}; "
            f"found {sorted(p.name for p in directory.iterdir()) or 'an empty directory'}"
        )
    (fmt, marker), others = present[0], tuple(other for other, _ in present[1:])
    return fmt, marker, directory, others


def detect_format(path):
    """Tells which checkpoint format :func:`load_state_dict` would read at ``path``.

    Args:
        path: a checkpoint directory, a hub cache root or snapshot, or a single weights file.

    Returns:
        The format's name (see :class:`CheckpointInfo`); the preferred one when several are present.

    Raises:
        FileNotFoundError: ``path`` does not exist or holds no recognised checkpoint file.
    """
    return _locate(path)[0]


def load_state_dict(path, *, lazy=False):
    """Reads a checkpoint in any supported format as a state dict with the reference's names.

    Args:
        path: a checkpoint directory, a hub cache root (``models--X``, followed through ``refs/main``) or
            snapshot folder, or a single weights file. With several formats present, safetensors is read
            first, then ``tf_model.h5``, ``pytorch_model.bin``, and the original release; the choice is logged
            on the ``gpt_keras`` logger.
        lazy: for safetensors, return a :class:`LazyStateDict` that reads each tensor when looked up; other
            formats are always read at once.

    Returns:
        ``(state_dict, info)``: a mapping name → numpy array, and a :class:`CheckpointInfo`.

    Raises:
        FileNotFoundError: nothing to read at ``path``, naming what was looked for.
        ValueError: a file is truncated, corrupted, unsafe or inconsistent (the message names the file).
    """
    fmt, marker, directory, others = _locate(path)
    if others:
        logger.info(
            "Checkpoint %s holds %s too; reading %s (%s) by preference", directory, ", ".join(others), fmt, marker.name
        )
    else:
        logger.info("Reading %s checkpoint %s", fmt, marker)
    metadata = {}
    if fmt in (SAFETENSORS, SAFETENSORS_SHARDED):
        if fmt == SAFETENSORS:
            reader = safetensors.SafetensorsFile(marker)
            locations = {name: (reader, name) for name in reader.keys()}
            files = (marker,)
        else:
            locations = safetensors.open_sharded(marker)
            files = (marker, *sorted({reader.path for reader, _ in locations.values()}))
        if locations:
            metadata = dict(next(iter(locations.values()))[0].metadata)
        lazy_dict = LazyStateDict(_canonicalize(locations.items(), marker))
        state_dict = lazy_dict if lazy else {name: lazy_dict[name] for name in lazy_dict}
    elif fmt == TF_H5:
        state_dict, files = tf_h5.load_tf_h5(marker), (marker,)
    elif fmt == PYTORCH_BIN:
        state_dict, files = torch_bin.load_torch_bin(marker), (marker,)
    elif fmt == PYTORCH_BIN_SHARDED:
        state_dict, files = _load_sharded_bin(marker)
    else:
        state_dict = original_release.load_original_release(marker.parent)
        names_file = marker.parent / original_release.NAMES_NAME
        files = (
            marker,
            *(marker.parent / f"params_{n}.npy" for n in range(original_release.NUM_PARAM_FILES)),
            *((names_file,) if names_file.is_file() else ()),
        )
    if not isinstance(state_dict, LazyStateDict):
        state_dict = _drop_tied_lm_head(_canonicalize(state_dict.items(), marker), marker)
    return state_dict, CheckpointInfo(fmt, directory, tuple(files), metadata, others)


def _drop_tied_lm_head(state_dict, source):
    # torch.save keeps the tied output layer as a second view of the token table; safetensors drops it.
    lm_head, tokens = state_dict.get("lm_head.weight"), state_dict.get("transformer.tokens_embed.weight")
    if lm_head is not None and tokens is not None and np.array_equal(lm_head, tokens):
        logger.debug("%s: dropping lm_head.weight, a tied copy of transformer.tokens_embed.weight", source)
        del state_dict["lm_head.weight"]
    return state_dict


def _load_sharded_bin(index_path):
    locations = safetensors.read_index(index_path)
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
    return {name: state_dict[name] for name in locations}, (index_path, *shard_paths)


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
    if isinstance(source, CheckpointInfo):
        source = f"{source.format} checkpoint {source.directory}"
    shapes = (
        state_dict.shapes()
        if isinstance(state_dict, LazyStateDict)
        else {k: np.shape(v) for k, v in state_dict.items()}
    )
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
    if missing or mismatched:
        problems = []
        if missing:
            problems.append(f"missing {len(missing)} tensors: {missing}")
        if mismatched:
            problems.append(f"{len(mismatched)} shape mismatches: " + "; ".join(mismatched))
        raise CheckpointMismatchError(f"{source} does not fit the model: " + "; ".join(problems))
    return unexpected


def save_state_dict(state_dict, directory, *, max_shard_size=None, metadata=None, extra_files=None):
    """Writes a state dict as safetensors, atomically: a checkpoint that was there stays whole until replaced.

    Everything is written and fsynced in a temporary sibling directory, which is then swapped in (the old
    directory renamed aside, the new one renamed into place, the old one deleted). Files of an existing
    directory that hold no weights (a tokenizer's files, a README) are carried over; weight files of any
    format are replaced, so no stale weights of another format stay behind to be read instead.

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
    directory = Path(directory).absolute()
    if directory.is_symlink():
        # Replace the directory the link points to, and keep the link.
        directory = directory.resolve()
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"cannot save a checkpoint to {directory}: it exists and is not a directory")
    directory.parent.mkdir(parents=True, exist_ok=True)
    # A directory that cannot be swapped for another in one rename (a mount point such as a container's
    # volume, or the working directory) is staged inside itself and gets its written files renamed in.
    in_place = directory.is_dir() and (os.path.ismount(directory) or _holds_working_directory(directory))
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.saving-", dir=directory if in_place else directory.parent))
    except PermissionError:
        if in_place or not directory.is_dir():
            raise
        in_place = True  # the user may write into the directory but not into its parent
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.saving-", dir=directory))
    try:
        os.chmod(staging, directory.stat().st_mode & 0o7777 if directory.is_dir() else 0o777 & ~_umask())
        if max_shard_size is None:
            safetensors.save_safetensors(state_dict, staging / safetensors.SAFE_WEIGHTS_NAME, metadata=metadata)
            written = [safetensors.SAFE_WEIGHTS_NAME]
        else:
            written = safetensors.save_sharded_safetensors(
                state_dict, staging, max_shard_size=max_shard_size, metadata=metadata
            )
        extra_names = list(extra_files or {})
        for name in extra_names:
            _write_extra_file(staging, name, extra_files[name], written)
        if directory.is_dir() and not in_place:
            _carry_over_other_files(directory, staging)
        _fsync(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if in_place:
        _replace_files_in_place(staging, directory, written + extra_names)
    else:
        _swap_into_place(staging, directory, written + extra_names)
    fmt = SAFETENSORS if written == [safetensors.SAFE_WEIGHTS_NAME] else SAFETENSORS_SHARDED
    files = [directory / name for name in written]
    if fmt == SAFETENSORS_SHARDED:
        files.insert(0, files.pop())
    logger.info("Saved %s checkpoint to %s (%d files)", fmt, directory, len(files))
    return CheckpointInfo(fmt, directory, tuple(files), safetensors.header_metadata(metadata))


def _umask():
    # mkdtemp makes the staging directory private (0o700); the saved checkpoint gets the usual permissions.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_extra_file(staging, name, content, weight_files):
    if Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"extra_files: expected a plain file name, got {name!r}")
    if _is_weight_file(name):
        raise ValueError(f"extra_files: {name!r} is a weights file name, which save_state_dict writes itself")
    if not isinstance(content, (bytes, str)):
        raise TypeError(f"extra_files[{name!r}]: expected bytes or str, got {type(content).__name__}")
    data = content.encode("utf-8") if isinstance(content, str) else content
    with open(staging / name, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _is_weight_file(name):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in _WEIGHT_FILE_PATTERNS)


def _carry_over_other_files(old_directory, staging):
    carried = []
    for entry in sorted(old_directory.iterdir()):
        if _is_weight_file(entry.name) or (staging / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, staging / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, staging / entry.name)
        carried.append(entry.name)
    if carried:
        logger.info("Kept %s from the previous contents of %s", carried, old_directory)


def _link_or_copy(source, target):
    source = Path(source)
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _fsync(path):
    """Flushes a file or a directory (its entries) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _swap_into_place(staging, directory, saved_names):
    """Puts the complete `staging` directory (in `directory`'s parent) where `directory` is, in one rename."""
    try:
        if not directory.exists():
            os.rename(staging, directory)
            _fsync(directory.parent)
            return
        aside = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(directory, aside)
        except OSError as error:
            # Not foreseen (e.g. a directory this user may write into but not rename): the saved files
            # are brought into the directory and renamed over the old ones there.
            logger.info("Cannot swap %s in one rename (%s): replacing its saved files in place", directory, error)
            _replace_files_in_place(staging, directory, saved_names)
            return
        try:
            os.rename(staging, directory)
        except BaseException:
            os.rename(aside, directory)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync(directory.parent)
    shutil.rmtree(aside, ignore_errors=True)
    if aside.exists():
        logger.warning("Saved %s, but could not remove the previous contents kept in %s", directory, aside)


def _holds_working_directory(directory):
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    return cwd == directory.resolve() or directory.resolve() in cwd.parents


def _replace_files_in_place(staging, directory, saved_names):
    """Renames the saved files from `staging` over their namesakes in `directory`, then removes the
    weights files the save did not write. Other files are not touched.

    Every file is complete and on disk before the first rename (a staging directory elsewhere is first
    copied into one inside `directory`, since renames do not cross file systems), so a failure before
    the renames leaves `directory` as it was. The renames go weights first, then indexes, then
    config.json, so that the config never describes weights that are not there yet.
    """
    try:
        if staging.parent != directory:
            local = Path(tempfile.mkdtemp(prefix=f".{directory.name}.saving-", dir=directory))
            try:
                for name in saved_names:
                    shutil.copyfile(staging / name, local / name)
                    _fsync(local / name)
            except BaseException:
                shutil.rmtree(local, ignore_errors=True)
                raise
            shutil.rmtree(staging, ignore_errors=True)
            staging = local
        for name in sorted(saved_names, key=lambda name: (name == "config.json", name.endswith(".index.json"), name)):
            os.replace(staging / name, directory / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for entry in directory.iterdir():
        if entry.name not in saved_names and _is_weight_file(entry.name):
            entry.unlink()
    _fsync(directory)
    shutil.rmtree(staging, ignore_errors=True)


__all__ = [
    "CheckpointInfo",
    "CheckpointMismatchError",
    "LazyStateDict",
    "canonical_name",
    "check_state_dict",
    "detect_format",
    "load_state_dict",
    "resolve_checkpoint_dir",
    "save_state_dict",
]
