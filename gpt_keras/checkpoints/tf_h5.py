"""``tf_model.h5`` checkpoints written by the reference's TensorFlow port (Keras 2 HDF5 weights).

The file has one group per top-level layer (``transformer``, ``multiple_choice_head``, ``score``) whose
``weight_names`` attribute lists weights such as ``tf_open_aigptlm_head_model/transformer/h_._0/attn/c_attn/weight:0``.
They map to the PyTorch reference's names as follows:

- the first path component is the Keras model's scope and is dropped; ``h_._{i}`` is layer ``h.{i}``;
- ``weight``/``bias`` of the Conv1D layers are stored as in PyTorch ([in, out]; the bias as [1, out]);
- LayerNorm ``gamma``/``beta`` are ``weight``/``bias``; the position table is ``embeddings``;
- Dense ``kernel`` (the heads: ``multiple_choice_head/summary``, ``score``) is [in, out] and is transposed
  to nn.Linear's [out, in].

Only data stored inside the file is read. HDF5 can make a dataset read another file: external storage
(raw bytes of any path, e.g. ``/proc/self/environ``), external links and virtual datasets. Each of these
is refused, naming the dataset, before any data is read, and so are datasets whose size could not come
from the file (a compressed or fill-value dataset that would expand far past the file's own size).
"""

import re
from pathlib import Path

import h5py
import numpy as np

TF_WEIGHTS_NAME = "tf_model.h5"

_LEAF_NAMES = {
    "weight": "weight",
    "kernel": "weight",
    "gamma": "weight",
    "embeddings": "weight",
    "bias": "bias",
    "beta": "bias",
}


class TFH5CheckpointError(ValueError):
    """A ``tf_model.h5`` that is not a Keras weights file of this model family."""


def tf_weight_name_to_state_dict_name(tf_name):
    """Maps one weight name of the reference's TF port to the PyTorch reference's name.

    Args:
        tf_name: e.g. ``"tf_open_aigptlm_head_model/transformer/h_._0/ln_1/gamma:0"``.

    Returns:
        ``(name, transpose)``: e.g. ``("transformer.h.0.ln_1.weight", False)``; ``transpose`` is True for
        Dense kernels, stored [in, out] where PyTorch has [out, in].

    Example:
        >>> tf_weight_name_to_state_dict_name("m/multiple_choice_head/summary/kernel:0")
        ('multiple_choice_head.summary.weight', True)
    """
    parts = re.sub(r":\d+$", "", tf_name).split("/")[1:]
    if not parts or parts[-1] not in _LEAF_NAMES:
        raise TFH5CheckpointError(
            f"cannot map TF weight {tf_name!r}: expected '<model scope>/.../<{'|'.join(_LEAF_NAMES)}>:0'"
        )
    leaf = parts.pop()
    parts = [re.sub(r"^h_\._(\d+)$", r"h.\1", part) for part in parts]
    return ".".join(parts + [_LEAF_NAMES[leaf]]), leaf == "kernel"


def load_tf_h5(path):
    """Reads a ``tf_model.h5`` of the reference's TF port as a PyTorch-named state dict.

    Args:
        path: the ``tf_model.h5`` file.

    Returns:
        A dict name → numpy array with the PyTorch reference's names, shapes and layouts
        (Conv1D biases flattened to [out], Dense kernels transposed to [out, in]).

    Raises:
        FileNotFoundError: the file does not exist.
        TFH5CheckpointError: the file is not HDF5, lacks the Keras ``layer_names``/``weight_names``
            attributes, or a listed weight is missing or appears twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TF checkpoint not found: {path}")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise TFH5CheckpointError(f"{path}: not a readable HDF5 file ({error})") from None
    with handle:
        try:
            return _read_weights(path, handle)
        except (OSError, RuntimeError, KeyError) as error:
            # HDF5's own errors for damaged files name neither the file nor the weight.
            raise TFH5CheckpointError(f"{path}: damaged HDF5 file ({type(error).__name__}: {error})") from None


def _read_weights(path, handle):
    if "layer_names" not in handle.attrs:
        raise TFH5CheckpointError(f"{path}: expected a Keras weights file with a 'layer_names' attribute, got none")
    # Every dataset is checked before any is read, so that a refused file has had nothing read from it.
    datasets = {}
    for layer_name in _strings(handle.attrs["layer_names"], f"{path}: the 'layer_names' attribute"):
        group = _walk(path, handle, layer_name, f"{path}: layer group {layer_name!r}")
        if not isinstance(group, h5py.Group) or "weight_names" not in group.attrs:
            raise TFH5CheckpointError(
                f"{path}: layer group {layer_name!r} or its 'weight_names' attribute is missing"
            )
        for weight_name in _strings(group.attrs["weight_names"], f"{path}: layer group {layer_name!r}'s 'weight_names'"):
            dataset = _checked_dataset(path, group, weight_name)
            name, transpose = tf_weight_name_to_state_dict_name(weight_name)
            if name in datasets:
                raise TFH5CheckpointError(
                    f"{path}: weight {weight_name!r} maps to {name!r}, which appeared already"
                )
            datasets[name] = dataset, transpose
    tensors = {}
    for name, (dataset, transpose) in datasets.items():
        array = dataset[()]
        if transpose:
            array = np.ascontiguousarray(array.T)
        elif name.endswith(".bias") and array.ndim == 2 and array.shape[0] == 1:
            array = array.reshape(-1)
        tensors[name] = array
    return tensors


def _walk(path, node, relative_name, where):
    """``node[relative_name]`` (None when absent), refusing external links on the way."""
    for part in relative_name.strip("/").split("/"):
        if not isinstance(node, h5py.Group):
            return None
        link = node.get(part, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise TFH5CheckpointError(
                f"{where} is an HDF5 external link to {link.filename}:{link.path}; "
                "expected data stored in the checkpoint itself"
            )
        node = node.get(part)
    return node


def _checked_dataset(path, group, weight_name):
    """The dataset ``group/weight_name``, once it is known to read only bytes stored in this file."""
    where = f"{path}: weight {group.name.lstrip('/')}/{weight_name}"
    node = _walk(path, group, weight_name, where)
    if node is None:
        raise TFH5CheckpointError(f"{where} is listed but not stored")
    if not isinstance(node, h5py.Dataset):
        raise TFH5CheckpointError(f"{where} is an HDF5 {type(node).__name__}, expected a dataset")
    if node.external:
        files = ", ".join(str(entry[0]) for entry in node.external)
        raise TFH5CheckpointError(
            f"{where} uses HDF5 external storage (reads {files}); expected data stored in the checkpoint itself"
        )
    if node.is_virtual:
        raise TFH5CheckpointError(
            f"{where} is an HDF5 virtual dataset; expected data stored in the checkpoint itself"
        )
    if node.dtype.kind != "f":
        raise TFH5CheckpointError(f"{where} holds {node.dtype}, expected floating-point weights")
    file_bytes = path.stat().st_size
    if node.nbytes > file_bytes:
        raise TFH5CheckpointError(
            f"{where} would need {node.nbytes:,} bytes, more than the whole file's {file_bytes:,}; "
            "expected uncompressed weights (as the reference writes them)"
        )
    return node


def _strings(values, where):
    try:
        return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in values]
    except UnicodeDecodeError as error:
        raise TFH5CheckpointError(f"{where} holds a name that is not UTF-8 ({error})") from None
