"""Quantization of the models and the backbone, through Keras' own machinery.

`quantize(mode)` hands the layers Keras can quantize to `keras.Model.quantize`: our `Dense` layers
(attention and MLP projections, and the heads' `score` / `summary`) for every mode, our `Embedding`
tables (token and position, so the tied LM head too) for "int8" and "int4", which are the modes
Keras' `Embedding` has. GPTQ and AWQ calibrate the blocks' projections one block after the other
(`get_quantization_layer_structure`). Everything else (LayerNorms, the float8-free embeddings) stays
in the model's float policy.

A quantized model describes itself in `get_config` as Keras does it: its "dtype" is a
`keras.dtype_policies.DTypePolicyMap` naming each quantized layer's policy by its path, so a `.keras`
file rebuilds the quantized layout before its weights are read. A quantized dtype given to a
constructor ("int8_from_float32") becomes such a map, by layer name.

Generation programs of quantized models stay XLA-compiled, on CPU too: on the 2-core test machine
XLA decoded the full-size model faster than a TensorFlow graph in every mode, in two runs (int8 54-55
vs 25-27 tokens/s, int4 30-75 vs 3-5, float8 42-72 vs 2; TensorFlow's CPU kernels for int8 matmuls and
int4 unpacking are slow), see README "Quantization".
"""
import keras

from gpt_keras.models import _keras_compat

QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")
# The modes keras.layers.Embedding implements.
EMBEDDING_MODES = ("int8", "int4")
# Modes that need calibration data (a keras.quantizers.GPTQConfig / AWQConfig).
CALIBRATED_MODES = ("gptq", "awq")
# What the quantizable layers are named wherever they are built (gpt_keras.layers and the heads).
BLOCK_DENSE_NAMES = ("c_attn", "c_proj", "c_fc")
HEAD_DENSE_NAMES = ("score", "summary")
EMBEDDING_NAMES = ("tokens_embed", "positions_embed")


def layer_policy(layer):
    """The dtype policy `layer` computes with (the entry for its path when it holds a policy map)."""
    policy = layer.dtype_policy
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
        return policy[layer.path] if layer.path else policy.default_policy
    return policy


def float_policy_name(policy):
    """The name of the float policy a (possibly quantized, possibly mapped) policy computes in."""
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
        policy = policy.default_policy
    # Keras names quantized policies f"{mode}_from_{source policy}".
    return policy.name.split("_from_", 1)[1] if policy.quantization_mode else policy.name


def split_quantized_dtype(dtype):
    """`(float dtype, quantized policy or None)` of a model's `dtype` argument."""
    if dtype is None or isinstance(dtype, keras.dtype_policies.DTypePolicyMap):
        return dtype, None
    policy = keras.dtype_policies.get(dtype)
    if policy.quantization_mode is None:
        return dtype, None
    return float_policy_name(policy), policy


def model_dtype_policy(dtype):
    """`dtype` as the models and the backbone build with it: a quantized policy ("int8_from_float32")
    becomes a `DTypePolicyMap` giving it to the layers Keras quantizes in that mode (by name) and the
    float policy it comes from to every other layer, which a quantized policy would send to a
    quantized call they do not have.

    Built that way the layers hold the quantized layout with placeholder values (as Keras' own layers
    built with such a policy): weights come from `load_weights` or a `.keras` file.
    `from_pretrained(dtype=...)` quantizes a checkpoint's float weights instead.
    """
    float_dtype, policy = split_quantized_dtype(dtype)
    if policy is None:
        return dtype
    mode = policy.quantization_mode
    dense = BLOCK_DENSE_NAMES if mode in CALIBRATED_MODES else BLOCK_DENSE_NAMES + HEAD_DENSE_NAMES
    entries = {f"(.*/)?({'|'.join(dense)})": policy}
    if mode in EMBEDDING_MODES:
        entries[f"(.*/)?({'|'.join(EMBEDDING_NAMES)})"] = policy
    return keras.dtype_policies.DTypePolicyMap(default_policy=float_dtype, policy_map=entries)


def dtype_config(model):
    """What a model's `get_config` stores as "dtype": its policy's name, or for a quantized model the
    serialized `DTypePolicyMap` of its quantized layers' policies (by path) over its float policy."""
    quantized = quantized_layers(model)
    name = float_policy_name(model.dtype_policy)
    if not quantized:
        return name
    policies = keras.dtype_policies.DTypePolicyMap(
        default_policy=name, policy_map={layer.path: layer_policy(layer) for layer in quantized}
    )
    return keras.saving.serialize_keras_object(policies)


def dtype_from_config(dtype):
    """The `dtype` argument that `dtype_config` describes (a dict is a serialized policy map)."""
    return keras.dtype_policies.get(dtype) if isinstance(dtype, dict) else dtype


def quantized_layers(model):
    """The quantized layers under `model`."""
    return [layer for layer in _keras_compat.all_sublayers(model) if layer.quantization_mode]


def settle_dtype_policies(model):
    """Gives every layer under `model` built from a policy map its own policy (see
    `_keras_compat.settle_dtype_policy`)."""
    for layer in _keras_compat.all_sublayers(model):
        _keras_compat.settle_dtype_policy(layer)


def quantizes_in(layer, mode):
    """Whether Keras quantizes `layer` in `mode`."""
    if isinstance(layer, keras.layers.Embedding):
        return mode in EMBEDDING_MODES
    return isinstance(layer, keras.layers.Dense)


class QuantizationMixin:
    """`quantize` and `quantized` for the models and the backbone (mixed in before `keras.Model`).

    Reads `_backbone()` (the `TFOpenAIGPT`) and calls `_structure_changed()` after quantizing.
    """

    @property
    def quantized(self):
        """Whether any layer of the model is quantized."""
        return bool(quantized_layers(self))
    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Quantizes the weights in place, through `keras.Model.quantize`.

        "int8" and "int4" quantize the Dense projections (and heads) and the embedding tables, the
        tied LM head included; "float8" (Keras' float8 training, with delayed scaling) the Dense
        layers; "gptq" and "awq" calibrate the blocks' projections on `config.dataset`, one block after
        the other. Compiled generation programs are traced anew afterwards.

        Args:
            mode: "int8", "int4", "float8", "gptq" or "awq"; optional when `config` is given.
            config: A `keras.quantizers` config (`Int4QuantizationConfig(block_size=...)`, ...);
                required for "gptq" / "awq": `keras.quantizers.GPTQConfig(dataset, tokenizer, ...)`
                with `dataset` a list of token-id arrays (Keras requires a `tokenizer` too; it is only
                called, through `tokenize`, for text entries).
            filters: As for `keras.Model.quantize`: a regex or list of regexes searched in layer
                names, or a callable on layers; only the matching layers are quantized.

        Raises:
            ValueError: An unknown mode, a calibrated mode without its config (both from Keras), LoRA
                layers with a mode Keras has no LoRA for (float8, gptq, awq), or no layer left to quantize.

        Example:
            >>> model.quantize("int8")  # doctest: +SKIP
            >>> model.quantize("int4", config=keras.quantizers.Int4QuantizationConfig(block_size=64))  # doctest: +SKIP
        """
        # Keras' wrapper of every layer's quantize has checked the mode and resolved `config` already.
        settle_dtype_policies(self)
        adapted = any(getattr(layer, "lora_enabled", False) for layer in _keras_compat.all_sublayers(self))
        if adapted and mode in ("float8",) + CALIBRATED_MODES:
            raise ValueError(f"quantize({mode!r}): Keras has no LoRA for this mode; merge_lora() first")
        eligible = self._quantizable_layers(mode)
        selected = [
            layer for layer in eligible if not layer.quantization_mode and _keras_compat.matches_layer_filters(layer, filters)
        ]
        if not selected:
            raise ValueError(
                f"quantize({mode!r}) found no layer to quantize in {self.name}: of the {len(eligible)} layers it"
                " quantizes in this mode, none is left unquantized that the filters select"
            )
        chosen = {id(layer) for layer in selected}
        super().quantize(mode, config=config, filters=lambda layer: id(layer) in chosen, **kwargs)
        self._structure_changed()

    def _quantizable_layers(self, mode):
        layers = _keras_compat.all_sublayers(self)
        if mode in CALIBRATED_MODES:
            # Calibration follows the blocks; a head outside them would be left uncalibrated.
            blocks = {id(layer) for block in self._backbone().blocks for layer in _keras_compat.all_sublayers(block)}
            layers = [layer for layer in layers if id(layer) in blocks]
        return [layer for layer in layers if quantizes_in(layer, mode)]

    def get_quantization_layer_structure(self, mode):
        """What GPTQ and AWQ calibrate block by block: the embeddings, then the transformer blocks."""
        backbone = self._backbone()
        return {"pre_block_layers": [backbone.embeddings], "sequential_blocks": list(backbone.blocks)}
