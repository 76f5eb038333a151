"""LoRA for the models and the backbone: `enable_lora`, `save_lora_weights` / `load_lora_weights`,
`merge_lora`, on Keras' own per-layer LoRA (`keras.layers.Dense.enable_lora`).

As in keras-hub, enabling LoRA freezes the whole model but the adapted layers, whose frozen weight
gets a trainable low-rank update `A @ B * alpha / rank` (B starts at zero, so the model is unchanged
until it trains). Here the adapted layers' biases are frozen too: a LoRA fine-tune changes the LoRA
matrices and nothing else, and `save_lora_weights` holds all of it.

Layers are named by their path of layer names under the model (`transformer/h_0/attn/c_attn`); a
target matches a layer whose name or path is the target, or whose path ends with "/" + target.
"""
import json

import numpy as np
from keras import ops

from gpt_keras.checkpoints.safetensors import load_safetensors, save_safetensors
from gpt_keras.layers.lora import LoraWeights
from gpt_keras.models import _keras_compat
from gpt_keras.models.quantization import settle_dtype_policies

# The attention and MLP projections of every block.
DEFAULT_TARGETS = ("c_attn", "c_proj", "c_fc")
LORA_FILE_FORMAT = "gpt_keras.lora"


def layer_paths(model):
    """Every layer under `model` by its path of names, parents before children."""
    paths = {}

    def visit(layer, prefix):
        for child in _keras_compat.child_layers(layer):
            path = prefix + child.name
            paths[path] = child
            visit(child, path + "/")

    visit(model, "")
    return paths


def lora_layers(model):
    """The layers under `model` with LoRA enabled, by path."""
    return {path: layer for path, layer in layer_paths(model).items() if getattr(layer, "lora_enabled", False)}


def find_targets(model, target_layers):
    """The layers `target_layers` (names or path suffixes) select, by path; ValueError naming a target
    that matches nothing or a layer that has no LoRA."""
    paths = layer_paths(model)
    takes_lora = lambda layer: isinstance(layer, LoraWeights)
    found = {}
    for target in target_layers:
        matches = {
            path: layer
            for path, layer in paths.items()
            if target in (layer.name, path) or path.endswith("/" + target)
        }
        if not matches:
            names = sorted({layer.name for layer in paths.values() if takes_lora(layer)})
            raise ValueError(f"enable_lora: no layer of {model.name} is named {target!r}; layers that take LoRA: {names}")
        for path, layer in matches.items():
            if not takes_lora(layer):
                raise ValueError(f"enable_lora: {path} is a {type(layer).__name__}, which has no LoRA (gpt_keras' Dense and Embedding do)")
        found.update(matches)
    return found


class LoraMixin:
    """LoRA for a Keras model (mixed in before `keras.Model`); calls `_structure_changed()` after a change."""

    def enable_lora(self, rank, target_layers=None, lora_alpha=None):
        """Adds LoRA of `rank` to the target layers and freezes every other weight.

        Args:
            rank: Rank of the update (an int >= 1).
            target_layers: Layer names or path suffixes (e.g. "attn/c_attn"); by default the attention
                and MLP projections of every block ("c_attn", "c_proj", "c_fc"). Dense and Embedding
                layers take LoRA (the token embedding is the tied LM head too).
            lora_alpha: Scale of the update is `lora_alpha / rank`; `rank` when None (scale 1).

        Raises:
            ValueError: LoRA is enabled already, the rank is not a positive int, a target matches no
                layer, or the model is quantized with float8 / GPTQ / AWQ (Keras has no LoRA for them).

        Example:
            >>> model.enable_lora(8)  # doctest: +SKIP
            >>> model.compile(optimizer="adam"); model.fit(data)  # doctest: +SKIP
        """
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
            raise ValueError(f"enable_lora: rank must be an integer >= 1, got {rank!r}")
        if lora_layers(self):
            raise ValueError(f"enable_lora: {self.name} has LoRA enabled already; merge_lora() first")
        targets = find_targets(self, DEFAULT_TARGETS if target_layers is None else tuple(target_layers))
        unsupported = sorted({layer.quantization_mode for layer in targets.values()} & {"float8", "gptq", "awq"})
        if unsupported:
            raise ValueError(f"enable_lora: Keras has no LoRA for layers quantized with {unsupported[0]!r}")
        settle_dtype_policies(self)
        # As keras-hub's Backbone.enable_lora: everything frozen, then the targets trainable again.
        self.trainable = True
        for layer in _keras_compat.all_sublayers(self):
            layer.trainable = False
        for layer in targets.values():
            layer.trainable = True
        adapt_layers(targets.values(), int(rank), lora_alpha)
        self._structure_changed()

    def lora_config(self):
        """`{"rank", "alpha", "target_layers"}` of the enabled LoRA (paths of the adapted layers), or None."""
        adapted = lora_layers(self)
        if not adapted:
            return None
        first = next(iter(adapted.values()))
        return {"rank": int(first.lora_rank), "alpha": float(first.lora_alpha), "target_layers": sorted(adapted)}

    def save_lora_weights(self, path):
        """Writes the LoRA matrices (and rank, alpha, adapted layers) to a safetensors file, atomically.

        Args:
            path: The file to write, e.g. "adapter.safetensors".

        Raises:
            ValueError: LoRA is not enabled.
        """
        config = self.lora_config()
        if config is None:
            raise ValueError(f"save_lora_weights: {self.name} has no LoRA layers; call enable_lora(rank) first")
        tensors = {}
        for layer_path, layer in lora_layers(self).items():
            a_name, b_name = layer.lora_weight_names
            tensors[f"{layer_path}.lora_a"] = ops.convert_to_numpy(getattr(layer, a_name))
            tensors[f"{layer_path}.lora_b"] = ops.convert_to_numpy(getattr(layer, b_name))
        return save_safetensors(tensors, path, metadata={"format_name": LORA_FILE_FORMAT, "lora": json.dumps(config)})

    def load_lora_weights(self, path):
        """Reads LoRA matrices written by `save_lora_weights`, enabling LoRA as it was saved when the
        model has none yet.

        Raises:
            ValueError: The file is not such a file, or the model's LoRA differs from the file's (rank,
                adapted layers); every tensor is checked before any is assigned.
        """
        tensors, metadata = load_safetensors(path)
        if metadata.get("format_name") != LORA_FILE_FORMAT or "lora" not in metadata:
            raise ValueError(f"{path} is not a LoRA weights file of gpt_keras (written by save_lora_weights)")
        saved = json.loads(metadata["lora"])
        if self.lora_config() is None:
            self.enable_lora(saved["rank"], target_layers=saved["target_layers"], lora_alpha=saved["alpha"])
        config = self.lora_config()
        if (config["rank"], config["target_layers"]) != (saved["rank"], saved["target_layers"]):
            raise ValueError(
                f"{path} holds rank-{saved['rank']} LoRA for {saved['target_layers']}; {self.name} has rank"
                f" {config['rank']} for {config['target_layers']}"
            )
        assignments = []
        for layer_path, layer in lora_layers(self).items():
            for suffix, name in zip(("lora_a", "lora_b"), layer.lora_weight_names):
                variable, value = getattr(layer, name), tensors.get(f"{layer_path}.{suffix}")
                if value is None or tuple(value.shape) != tuple(variable.shape):
                    got = "nothing" if value is None else f"shape {tuple(value.shape)}"
                    raise ValueError(f"{path}: {layer_path}.{suffix} should have shape {tuple(variable.shape)}, got {got}")
                assignments.append((variable, value))
        for variable, value in assignments:
            variable.assign(value)

    def merge_lora(self):
        """Folds every LoRA update into its layer's weights and removes the LoRA matrices.

        The model computes the same outputs as a plain model; the adapted layers' weights are
        trainable again, the other layers stay as `enable_lora` froze them.

        Raises:
            ValueError: LoRA is not enabled.
        """
        adapted = lora_layers(self)
        if not adapted:
            raise ValueError(f"merge_lora: {self.name} has no LoRA layers")
        settle_dtype_policies(self)
        for layer in adapted.values():
            layer.merge_lora()
            if getattr(layer, "bias", None) is not None:
                layer.bias.trainable = layer.trainable
        self._structure_changed()


def adapt_layers(layers, rank, lora_alpha=None):
    """Enables Keras' LoRA of `rank` on each layer, with its bias frozen."""
    for layer in layers:
        layer.enable_lora(rank, lora_alpha=lora_alpha)
        if getattr(layer, "bias", None) is not None:
            layer.bias.trainable = False
