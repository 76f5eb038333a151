"""Sharded safetensors checkpoints: the reference's index beside its shards, written and checked here.

``model.safetensors.index.json`` holds ``{"metadata": {"total_size": N, "save_id": ID}, "weight_map":
{name: shard_file}}`` beside ``model-00001-of-0000K.safetensors`` files (the save id is ours; the reference
ignores it). Every shard we write records the same save id in its ``__metadata__``, so a loader tells a set
mixed from two saves (an interrupted in-place save, a save running while the files are opened) from a
whole one. The index is written last: until it names the new shards, the old set is the checkpoint.
"""

import json
import re
import uuid
from pathlib import Path

import numpy as np

from gpt_keras import _fs
from gpt_keras.checkpoints._files import read_json_file
from gpt_keras.checkpoints.safetensors import (
    SAFE_WEIGHTS_NAME,
    CheckpointChangedError,
    SafetensorsError,
    SafetensorsFile,
    as_arrays,
    save_safetensors,
)

SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"


def read_index(index_path):
    """Reads and checks a sharded checkpoint's index.

    Args:
        index_path: the ``model.safetensors.index.json`` file; shard files are looked up beside it.

    Returns:
        A dict name → shard path, in the index's order.

    Raises:
        FileNotFoundError: the index or one of its shards is missing.
        SafetensorsError: the index is not JSON or has no ``weight_map`` of strings.
    """
    return _read_index(Path(index_path))[0]


def _read_index(index_path):
    """Returns (name → shard path, the save id the index records or None)."""
    index = read_json_file(index_path, SafetensorsError, "checkpoint index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise SafetensorsError(
            f"{index_path}: expected an object with a 'weight_map' of name → file, got {index!r:.200}"
        )
    metadata = index.get("metadata") if isinstance(index.get("metadata"), dict) else {}
    shard_paths = {}
    for shard_name in sorted(set(weight_map.values())):
        if Path(shard_name).name != shard_name:
            raise SafetensorsError(f"{index_path}: shard {shard_name!r} must be a file name beside the index")
        shard_paths[shard_name] = index_path.parent / shard_name
        if not shard_paths[shard_name].is_file():
            raise FileNotFoundError(
                f"{index_path} lists shard {shard_name!r}, but {shard_paths[shard_name]} does not exist"
            )
    return {name: shard_paths[shard_name] for name, shard_name in weight_map.items()}, metadata.get("save_id")


def open_sharded(index_path):
    """Opens every shard of a sharded checkpoint and checks it against the index.

    An index written here names the save that wrote it (``metadata.save_id``), and so does each of its
    shards (in ``__metadata__``): a set of files from different saves is refused. An index without a
    save id (another tool's) is checked by tensor names only.

    Args:
        index_path: the ``model.safetensors.index.json`` file.

    Returns:
        A dict name → (:class:`SafetensorsFile`, name in that file), in the index's order.

    Raises:
        SafetensorsError: a shard lacks a tensor the index puts in it, or holds one the index does not list.
        CheckpointChangedError: a shard comes from another save than the index.
    """
    index_path = Path(index_path)
    locations, save_id = _read_index(index_path)
    readers = {path: SafetensorsFile(path) for path in dict.fromkeys(locations.values())}
    for path, reader in readers.items():
        if save_id is not None and reader.metadata.get("save_id") != save_id:
            raise CheckpointChangedError(
                f"{path}: written by save {reader.metadata.get('save_id')!r}, but the index {index_path} is of "
                f"save {save_id!r}: the shards come from different saves (one was interrupted, or is running)"
            )
        listed = {name for name, where in locations.items() if where == path}
        stored = set(reader.keys())
        if listed - stored:
            raise SafetensorsError(
                f"{path}: the index {index_path} puts tensors here that the shard lacks: {sorted(listed - stored)}"
            )
        if stored - listed:
            raise SafetensorsError(
                f"{path}: the shard holds tensors that the index {index_path} does not list: {sorted(stored - listed)}"
            )
    return {name: (readers[path], name) for name, path in locations.items()}


def parse_shard_size(size):
    """Turns a shard size into bytes.

    Args:
        size: an int (bytes) or a string: digits and a unit, decimal (``"KB"``, ``"MB"``, ``"GB"``) or
            binary (``"KiB"``, ``"MiB"``, ``"GiB"``), case-insensitive, e.g. ``"200MB"``, ``"2GB"``.

    Returns:
        The size in bytes, a positive int.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        number = size
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(|B|KB|MB|GB|KIB|MIB|GIB)\s*", str(size), flags=re.IGNORECASE)
        if match is None:
            raise ValueError(
                f"max_shard_size: expected bytes as an int or a string like '200MB' or '2GiB', got {size!r}"
            )
        factors = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
        number = int(match.group(1)) * factors[match.group(2).upper()]
    if number <= 0:
        raise ValueError(f"max_shard_size must be positive, got {size!r}")
    return number


def plan_shards(tensors, max_shard_size):
    """Splits tensors into shards of at most ``max_shard_size`` bytes of tensor data.

    Tensors keep their order; a shard is closed when the next tensor would overflow it, and a tensor larger
    than the limit gets a shard of its own (like the reference's splitter).

    Args:
        tensors: a mapping name → numpy array.
        max_shard_size: bytes, or a string for :func:`parse_shard_size`.

    Returns:
        A list of lists of names, one per shard.
    """
    limit = parse_shard_size(max_shard_size)
    shards, current, current_size = [], [], 0
    for name, array in tensors.items():
        size = np.asarray(array).nbytes
        if current and current_size + size > limit:
            shards.append(current)
            current, current_size = [], 0
        current.append(name)
        current_size += size
    if current or not shards:
        shards.append(current)
    return shards


def shard_file_name(number, count, save_id=None):
    """The name of one shard file: the reference's, or with a save id in it.

    Args:
        number: the shard's 1-based number.
        count: how many shards there are.
        save_id: None for the reference's name, else a string put in the name.

    Returns:
        The file name, e.g. ``model-00001-of-00003.safetensors`` or ``model-<save_id>-00001-of-00003.safetensors``.
    """
    save_part = "" if save_id is None else f"{save_id}-"
    return f"model-{save_part}{number:05d}-of-{count:05d}.safetensors"


def save_sharded_safetensors(tensors, directory, *, max_shard_size, metadata=None, save_id=None, id_in_names=False):
    """Writes tensors as the reference's sharded layout, or as one file when they fit in one shard.

    The shards and the index (written last) record one save id, so that a loader refuses a set mixed
    from two saves.

    Args:
        tensors: a mapping name → array-like.
        directory: an existing directory to write into.
        max_shard_size: bytes, or a string for :func:`parse_shard_size`.
        metadata: extra ``__metadata__`` strings for every shard.
        save_id: the save id to record; None for a new random one.
        id_in_names: put the save id in the shard file names too (see :func:`shard_file_name`), so that
            they cannot be taken for the shards of another save in the same directory.

    Returns:
        The list of file names written (the index last, when there is one).
    """
    directory = Path(directory)
    arrays = as_arrays(tensors, directory)
    shards = plan_shards(arrays, max_shard_size)
    if len(shards) == 1:
        save_safetensors(arrays, directory / SAFE_WEIGHTS_NAME, metadata=metadata)
        return [SAFE_WEIGHTS_NAME]
    save_id = save_id or uuid.uuid4().hex[:12]
    shard_metadata = {**(metadata or {}), "save_id": save_id}
    written, weight_map = [], {}
    for number, names in enumerate(shards, start=1):
        file_name = shard_file_name(number, len(shards), save_id if id_in_names else None)
        save_safetensors({name: arrays[name] for name in names}, directory / file_name, metadata=shard_metadata)
        weight_map.update(dict.fromkeys(names, file_name))
        written.append(file_name)
        _fs.at_step(f"wrote {file_name}")
    index = {
        "metadata": {"total_size": sum(array.nbytes for array in arrays.values()), "save_id": save_id},
        "weight_map": dict(sorted(weight_map.items())),
    }
    _fs.atomic_write_text(directory / SAFE_WEIGHTS_INDEX_NAME, json.dumps(index, indent=2) + "\n")
    written.append(SAFE_WEIGHTS_INDEX_NAME)
    return written
