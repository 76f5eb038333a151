"""What a model's Keras config records besides its `OpenAIGPTConfig`, and building the model back.

The backbone and the model classes rebuild themselves from their config (`cls(**config)`), so a `.keras`
file would bring back a plain float model with every layer trainable: a head-only fine-tuning resumed
from a checkpoint would train the backbone, a quantized model's weights would not fit its layers, a
LoRA model would lose its adaptation. Their configs also record:

- "dtype": the float policy's name, or for a quantized model its `DTypePolicyMap` (see
  `gpt_keras.models.quantization`);
- "trainable": False for a frozen model; otherwise "frozen_layers" / "trainable_layers", the paths of
  the layers whose trainable flag differs from their parent's;
- "lora": rank, alpha and adapted layers (see `gpt_keras.models.lora`).
"""
from gpt_keras.models import lora, quantization


def model_config(model, config):
    """`config` plus what `build_model` needs to rebuild `model` as it is."""
    config = {**config, "dtype": quantization.dtype_config(model)}
    adaptation = model.lora_config()
    if adaptation is not None:
        config["lora"] = adaptation
    if not model.trainable:
        return {**config, "trainable": False}
    frozen, trainable = _differing_flags(model)
    if frozen:
        config["frozen_layers"] = frozen
    if trainable:
        config["trainable_layers"] = trainable
    return config


def build_model(cls, config):
    """`cls(**config)`, with what `model_config` recorded applied again.

    Raises:
        ValueError: A recorded layer path names no layer of the model (a file from a gpt_keras whose
            sublayers had automatic names, which differ from one process to the next).
    """
    config = dict(config)
    frozen, unfrozen = config.pop("frozen_layers", ()), config.pop("trainable_layers", ())
    trainable, adaptation = config.pop("trainable", True), config.pop("lora", None)
    if "dtype" in config:
        config["dtype"] = quantization.dtype_from_config(config["dtype"])
    model = cls(**config)
    paths = lora.layer_paths(model)
    flags = [(path, False) for path in frozen] + [(path, True) for path in unfrozen]
    # Parents first: a layer's flag is set on its sublayers too, which may differ from it.
    for path, flag in sorted(flags, key=lambda item: item[0].count("/")):
        _layer_at(paths, path, cls).trainable = flag
    if adaptation is not None:
        targets = [_layer_at(paths, path, cls) for path in adaptation["target_layers"]]
        lora.adapt_layers(targets, adaptation["rank"], adaptation["alpha"])
    quantization.settle_dtype_policies(model)
    if not trainable:
        model.trainable = False
    return model


def _differing_flags(model):
    """Paths of the layers frozen under a trainable parent, and of those trainable under a frozen one."""
    frozen, trainable = [], []
    parents = {"": model.trainable}
    for path, layer in lora.layer_paths(model).items():
        parent = parents[path.rpartition("/")[0]]
        if layer.trainable != parent:
            (trainable if layer.trainable else frozen).append(path)
        parents[path] = layer.trainable
    return frozen, trainable


def _layer_at(paths, path, cls):
    if path not in paths:
        raise ValueError(
            f"this {cls.__name__} config records the layer {path!r}, which the model does not have: it was saved"
            " by an older gpt_keras, whose unnamed sublayers (dropouts) got automatic names that differ from one"
            " process to the next. Dropout layers hold no weights, so freezing them changed nothing: remove"
            " their paths from the config's 'frozen_layers' (or load the weights alone with load_weights)"
        )
    return paths[path]
