"""Which model class a checkpoint is for: the name-to-class table and `model_class_for(config)`.

The only place that dispatches on model classes; everything else asks a model what it is (its class
attributes `reference_name`, `has_tied_lm_head`, `serving_inputs`, ...).
"""
from gpt_keras.models.base import TFOpenAIGPTPreTrainedModel
from gpt_keras.models.base_model import TFOpenAIGPTModel
from gpt_keras.models.double_heads import TFOpenAIGPTDoubleHeadsModel
from gpt_keras.models.lm_head import TFOpenAIGPTLMHeadModel
from gpt_keras.models.sequence_classification import TFOpenAIGPTForSequenceClassification

# Our class names, which are also the reference's TensorFlow port's.
MODEL_CLASSES = {
    cls.__name__: cls
    for cls in (TFOpenAIGPTModel, TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification)
}
# What config.json's `architectures` may name: the reference's PyTorch classes and the TF ones.
ARCHITECTURES = {
    **{cls.reference_name: cls for cls in MODEL_CLASSES.values()},
    **MODEL_CLASSES,
}


def model_class_for(config, default=None):
    """The model class that `config.architectures` names (the first one known).

    Args:
        config: An `OpenAIGPTConfig`, or a config dict (e.g. a parsed config.json).
        default: The class to return when `architectures` is missing or names no known class;
            without one, that is an error.

    Returns:
        One of the four model classes.

    Raises:
        ValueError: `architectures` names no known class and no `default` is given.

    Example:
        >>> model_class_for({"architectures": ["OpenAIGPTLMHeadModel"]}).__name__
        'TFOpenAIGPTLMHeadModel'
    """
    architectures = config.get("architectures") if isinstance(config, dict) else getattr(config, "architectures", None)
    for name in architectures or ():
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    if default is not None:
        return default
    raise ValueError(
        f"config.architectures is {architectures!r}: it names none of the gpt_keras models; "
        f"expected one of {sorted(ARCHITECTURES)}"
    )


def is_model(value):
    """Whether `value` is one of the gpt_keras models (an instance of `TFOpenAIGPTPreTrainedModel`)."""
    return isinstance(value, TFOpenAIGPTPreTrainedModel)
