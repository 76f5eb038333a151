"""The original release's layout (openai/finetune-transformer-lm, ``model/``).

``params_shapes.json`` lists the shapes of all parameters; ``params_0.npy`` … ``params_9.npy`` are one flat
float32 vector cut in ten. In order: positions [n_ctx, n_embd], tokens [vocab, n_embd], then for each layer
``attn/c_attn`` w [1, nx, 3nx] and b, ``attn/c_proj`` w [1, nx, nx] and b, ``ln_1`` g and b,
``mlp/c_fc`` w [1, nx, 4nx] and b, ``mlp/c_proj`` w [1, 4nx, nx] and b, ``ln_2`` g and b. The convolution
weights' leading 1 is the width of a 1-D convolution and is dropped (they are then PyTorch Conv1D [in, out]).

The release's token table is the bare 40478-entry vocabulary: the fine-tuning code appended rows for its
special tokens itself, so the table maps to ``transformer.tokens_embed.weight`` as it is (as in the
reference's ``load_tf_weights_in_openai_gpt``).

The release ships no config. :func:`infer_config_dict` reads the sizes from the shapes and takes
``n_head`` from the caller (12, the release's, by default); the models' ``from_pretrained`` fills the
rest from ``OpenAIGPTConfig``'s defaults unless given ``config=``. The activation is ``afn="gelu"``, which
in this package (as in the PyTorch reference) is the tanh approximation
``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``: the release's own code computed GELU that way during
training, so the weights reproduce its outputs only with it. The exact erf form (what the reference's TF
port uses whatever ``afn`` says) moves logits by about 5e-3.

An optional ``parameters_names.json`` names the layer parameters (``model/h0/attn/c_attn/w:0`` …); its
first entry is one name for the two embedding tables (``model/we:0``), from when they were one matrix.
"""

import re
from pathlib import Path

import numpy as np

from gpt_keras.checkpoints._files import read_json_file

SHAPES_NAME = "params_shapes.json"
NAMES_NAME = "parameters_names.json"
NUM_PARAM_FILES = 10

# Per layer, in the release's order: (release name, PyTorch name).
_LAYER_PARAMS = (
    ("attn/c_attn/w", "attn.c_attn.weight"),
    ("attn/c_attn/b", "attn.c_attn.bias"),
    ("attn/c_proj/w", "attn.c_proj.weight"),
    ("attn/c_proj/b", "attn.c_proj.bias"),
    ("ln_1/g", "ln_1.weight"),
    ("ln_1/b", "ln_1.bias"),
    ("mlp/c_fc/w", "mlp.c_fc.weight"),
    ("mlp/c_fc/b", "mlp.c_fc.bias"),
    ("mlp/c_proj/w", "mlp.c_proj.weight"),
    ("mlp/c_proj/b", "mlp.c_proj.bias"),
    ("ln_2/g", "ln_2.weight"),
    ("ln_2/b", "ln_2.bias"),
)
_RELEASE_NAME = re.compile(r"^model/h(\d+)/(.+):0$")


class OriginalReleaseError(ValueError):
    """Files in the original release's layout that do not fit together."""


def read_shapes(directory):
    """Reads ``params_shapes.json`` and checks it describes a whole GPT.

    Args:
        directory: the folder with ``params_shapes.json``.

    Returns:
        The list of shapes (tuples).
    """
    path = Path(directory) / SHAPES_NAME
    shapes = read_json_file(path, OriginalReleaseError, SHAPES_NAME)
    is_size = lambda d: isinstance(d, int) and not isinstance(d, bool) and d >= 0
    if not (isinstance(shapes, list) and all(isinstance(s, list) and all(map(is_size, s)) for s in shapes)):
        raise OriginalReleaseError(f"{path}: expected a list of shapes (lists of ints >= 0), got {shapes!r:.200}")
    if len(shapes) < 2 or (len(shapes) - 2) % len(_LAYER_PARAMS):
        raise OriginalReleaseError(
            f"{path}: expected 2 embedding tables plus {len(_LAYER_PARAMS)} parameters per layer, "
            f"got {len(shapes)} shapes"
        )
    for index, table in ((0, "positions"), (1, "tokens")):
        if len(shapes[index]) != 2:
            raise OriginalReleaseError(
                f"{path}: shape {index} (the {table} table) must be [rows, n_embd], got {shapes[index]}"
            )
    return [tuple(s) for s in shapes]


def infer_config_dict(directory, *, n_head=12):
    """Infers the model's size from ``params_shapes.json``, which is all the release ships.

    Args:
        directory: the folder with ``params_shapes.json``.
        n_head: attention heads; the shapes cannot tell, and the release used 12.

    Returns:
        A dict with ``n_positions``, ``vocab_size``, ``n_embd``, ``n_layer``, ``n_head``, ``afn`` ("gelu":
        the tanh approximation, which the release was trained with) and ``layer_norm_epsilon`` (1e-5, the
        release's).
    """
    shapes = read_shapes(directory)
    (n_positions, n_embd), (vocab_size, token_width) = shapes[0], shapes[1]
    if token_width != n_embd:
        raise OriginalReleaseError(
            f"{Path(directory) / SHAPES_NAME}: positions are {n_embd} wide but tokens {token_width}; expected equal"
        )
    if n_embd % n_head:
        raise OriginalReleaseError(f"n_embd {n_embd} is not divisible by n_head {n_head}; pass the model's n_head")
    return {
        "n_positions": n_positions,
        "vocab_size": vocab_size,
        "n_embd": n_embd,
        "n_layer": (len(shapes) - 2) // len(_LAYER_PARAMS),
        "n_head": n_head,
        "afn": "gelu",
        "layer_norm_epsilon": 1e-5,
    }


def load_original_release(directory):
    """Reads the original release's ``params_*.npy`` as a PyTorch-named state dict.

    Args:
        directory: the folder with ``params_shapes.json``, ``params_0.npy`` … ``params_9.npy`` and optionally
            ``parameters_names.json`` (used to place each layer parameter by name when present).

    Returns:
        A dict name → float32 array: ``transformer.positions_embed.weight``, ``transformer.tokens_embed.weight``
        and ``transformer.h.{i}.*`` (Conv1D weights [in, out]). The arrays are views of one buffer.

    Raises:
        FileNotFoundError: a ``params_*.npy`` or ``params_shapes.json`` is missing.
        OriginalReleaseError: the vectors' total length, or a named parameter's shape, disagrees with
            ``params_shapes.json``.
    """
    directory = Path(directory)
    shapes = read_shapes(directory)
    flat = _read_flat_vector(directory, sum(int(np.prod(s)) for s in shapes))
    arrays, position = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        arrays.append(flat[position : position + size].reshape(shape))
        position += size
    names = _layer_names(directory, len(shapes))
    state_dict = {"transformer.positions_embed.weight": arrays[0], "transformer.tokens_embed.weight": arrays[1]}
    for release_name, array in zip(names, arrays[2:]):
        name = _state_dict_name(directory, release_name)
        if name in state_dict:
            raise OriginalReleaseError(f"{directory / NAMES_NAME}: {release_name!r} appears twice")
        is_convolution = name.endswith(".weight") and ".ln_" not in name
        if not (array.ndim == 3 and array.shape[0] == 1 if is_convolution else array.ndim == 1):
            expected = "[1, in, out]" if is_convolution else "a vector"
            raise OriginalReleaseError(
                f"{directory}: {release_name} has shape {list(array.shape)}, expected {expected}"
            )
        state_dict[name] = array[0] if is_convolution else array
    return state_dict


def _load_vector(path):
    try:
        piece = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise OriginalReleaseError(f"{path}: not a readable .npy array of float32 values ({error})") from None
    if piece.dtype != np.float32:
        raise OriginalReleaseError(f"{path}: expected float32 values, got {piece.dtype}")
    return piece


def _read_flat_vector(directory, expected_size):
    paths = [directory / f"params_{n}.npy" for n in range(NUM_PARAM_FILES)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"original-release checkpoint in {directory} lacks {missing}")
    pieces = [_load_vector(p) for p in paths]
    total = sum(piece.size for piece in pieces)
    if total != expected_size:
        raise OriginalReleaseError(
            f"{directory}: params_0.npy … params_{NUM_PARAM_FILES - 1}.npy hold {total} values, "
            f"but {SHAPES_NAME} describes {expected_size}"
        )
    flat = np.empty(total, np.float32)
    position = 0
    for path, piece in zip(paths, pieces):
        if piece.ndim != 1:
            raise OriginalReleaseError(f"{path}: expected a flat vector, got shape {piece.shape}")
        flat[position : position + piece.size] = piece
        position += piece.size
    return flat


def _layer_names(directory, num_shapes):
    """The release names of the layer parameters, from ``parameters_names.json`` or by the release's order."""
    path = directory / NAMES_NAME
    if not path.is_file():
        num_layers = (num_shapes - 2) // len(_LAYER_PARAMS)
        return [f"model/h{i}/{param}:0" for i in range(num_layers) for param, _ in _LAYER_PARAMS]
    names = read_json_file(path, OriginalReleaseError, NAMES_NAME)
    # One name for both embedding tables (the release's), or one for each.
    embedding_names = {num_shapes - 1: 1, num_shapes: 2}.get(len(names) if isinstance(names, list) else -1)
    if embedding_names is None:
        raise OriginalReleaseError(
            f"{path}: expected {num_shapes - 1} names (one for both embedding tables) or {num_shapes}, "
            f"to match {SHAPES_NAME}; got {len(names) if isinstance(names, list) else type(names).__name__}"
        )
    return names[embedding_names:]


def _state_dict_name(directory, release_name):
    match = _RELEASE_NAME.match(release_name) if isinstance(release_name, str) else None
    pytorch_names = dict(_LAYER_PARAMS)
    if match is None or match.group(2) not in pytorch_names:
        raise OriginalReleaseError(
            f"{directory / NAMES_NAME}: cannot map {release_name!r}: expected 'model/h<i>/<param>:0' with <param> one "
            f"of {list(pytorch_names)}"
        )
    return f"transformer.h.{match.group(1)}.{pytorch_names[match.group(2)]}"
