"""`TFOpenAIGPTPreTrainedModel`: the thin base of the four models, a backbone and the shared call.

Like keras-hub's `Task`: the backbone (`TFOpenAIGPT`) does the work and each head adds one idea.
What every model can do lives in its own module and is mixed in: input checking (`inputs`), training
with Keras (`fitting`), checkpoints and vocabulary resizing (`pretrained_io`), the reference's
accessors of embeddings and parameter counts (`introspection`), quantization (`quantization`), LoRA
(`lora`); what its Keras config records is `saving`'s.
"""
import keras
import tensorflow as tf

# The module, not its class: gpt_keras.backbone imports this package's mixins.
from gpt_keras import backbone
from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.models import loading_options
from gpt_keras.models.fitting import KerasTrainingMixin
from gpt_keras.models.inputs import (
    collect_inputs,
    keyword_inputs,
    prepare_inputs,
    refuse_unused_inputs,
    resolve_flags,
    unflatten_choices,
)
from gpt_keras.models.introspection import IntrospectionMixin
from gpt_keras.models.lora import LoraMixin
from gpt_keras.models.pretrained_io import PretrainedIOMixin
from gpt_keras.models.quantization import QuantizationMixin, model_dtype_policy
from gpt_keras.models.saving import build_model, model_config


def as_config(config):
    """`config` as an `OpenAIGPTConfig` (a dict is read with `from_dict`); TypeError for anything else."""
    if isinstance(config, dict):
        config = OpenAIGPTConfig.from_dict(config)
    if not isinstance(config, OpenAIGPTConfig):
        raise TypeError(f"config must be an OpenAIGPTConfig or a dict, got {type(config).__name__}")
    return config


class TFOpenAIGPTPreTrainedModel(
    PretrainedIOMixin, KerasTrainingMixin, IntrospectionMixin, QuantizationMixin, LoraMixin, keras.Model
):
    """Shared machinery of the four models: the backbone, the call, serving, Keras serialization.

    Subclasses add their heads in `__init__`, compute their outputs in `_call_heads(inputs, training)`
    and declare what they are in class attributes:

    - `reference_name`: the reference's class, written to config.json's `architectures`.
    - `main_input_name`: the reference's name of the main input, "input_ids".
    - `main_output`: what a compiled Keras loss and metrics are applied to, and what is served.
    - `metric_labels`: the input that compiled metrics compare it with when no loss is compiled.
    - `input_rank`: 2 for (batch, seq) inputs, 3 for (batch, choices, seq).
    - `head_inputs`: the head inputs (`labels`, `mc_token_ids`, `mc_labels`) the model reads.
    - `model_arguments`: constructor arguments that are not config fields (e.g. `lm_coef`).
    - `has_tied_lm_head`: whether `lm_logits` is its LM head (it then generates text).
    - `serving_inputs`: the inputs of its SavedModel `serving_default` signature.

    Args:
        config: An `OpenAIGPTConfig` (or its dict).
        dtype: Optional Keras dtype policy, e.g. "mixed_bfloat16"; by default the global policy. A
            quantized one ("int8_from_float32") builds the quantized layout for weights to be loaded
            (`from_pretrained(dtype=...)` quantizes a checkpoint instead).
    """

    main_input_name = "input_ids"
    main_output = "logits"
    metric_labels = "labels"
    input_rank = 2
    head_inputs = ("labels",)
    model_arguments = ()
    has_tied_lm_head = False
    serving_inputs = ("input_ids", "attention_mask")
    # Models without an LM head have no generation options (the decoding mixin gives the others theirs).
    generation_config = None

    @classmethod
    def can_generate(cls):
        """False: this model has no LM head (the LM and double-heads models answer True)."""
        return False

    def __init__(self, config, dtype=None, **kwargs):
        dtype = model_dtype_policy(dtype)
        super().__init__(dtype=dtype, **kwargs)
        self.config = as_config(config)
        loading_options.refuse_untied_head(type(self), self.config)
        self.transformer = backbone.TFOpenAIGPT(self.config, dtype=dtype, name="transformer")
        self.tokenizer = None
        self.built = True

    def build(self, input_shape=None):
        # Every weight is created in __init__: nothing depends on the input shape.
        self.built = True

    def __call__(self, *args, **kwargs):
        # The reference's input forms that Keras refuses as a first argument (a dict holding flags, a
        # tokenizer's BatchEncoding, a list of inputs) reach Keras as keyword arguments.
        args, kwargs = keyword_inputs(type(self), args, kwargs)
        return super().__call__(*args, **kwargs)

    def call(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        labels=None,
        mc_token_ids=None,
        mc_labels=None,
        training=False,
    ):
        """The reference's call signature, in the reference TF port's order (a list input is matched to
        it), shared by the models (see the model classes' docstrings); each reads the inputs it uses.

        `input_ids` may also be a dict of these inputs, as Keras passes them in `fit`; a list in this
        order works too (`model([input_ids, attention_mask])`). `output_attentions`,
        `output_hidden_states` and `return_dict` left at None take the config's values
        (`config.output_attentions`, ..., `config.use_return_dict`).

        Returns:
            A `ModelOutput`, or with `return_dict=False` the tuple of its values in the reference's
            order (`outputs.to_tuple()`: the losses first, then logits, hidden states, attentions).
        """
        # Every parameter but `self` and `training` is an input.
        arguments = {name: value for name, value in locals().items() if name not in ("self", "training")}
        return self._call_inputs(arguments, training)

    def _call_inputs(self, arguments, training):
        inputs = collect_inputs(arguments.pop("input_ids"), arguments)
        refuse_unused_inputs(inputs, self.head_inputs, type(self).__name__)
        return_dict = resolve_flags(self.config, inputs)
        outputs = self._call_heads(inputs, training)
        return outputs if return_dict else outputs.to_tuple()

    def _run_backbone(self, inputs, training):
        """The backbone's outputs for the checked `inputs` (unflattened to (batch, choices, ...) for
        rank-3 inputs), and the prepared inputs the backbone was given."""
        prepared = prepare_inputs(self.config, inputs, self.input_rank)
        outputs = self.transformer.forward(
            **prepared,
            output_attentions=bool(inputs.get("output_attentions")),
            output_hidden_states=bool(inputs.get("output_hidden_states")),
            training=training,
        )
        if self.input_rank == 3:
            given = inputs["input_ids"] if inputs.get("input_ids") is not None else inputs["inputs_embeds"]
            outputs = unflatten_choices(outputs, keras.ops.shape(given)[:2])
        return outputs, prepared

    def lm_logits(self, hidden_states):
        """Tied LM head: hidden states times the transposed token embedding, returned in float32."""
        return keras.ops.cast(self.transformer.embeddings.tokens_embed.attend(hidden_states), "float32")

    # --- serving --------------------------------------------------------------------------------
    def serving_outputs(self, outputs):
        """The named outputs of the SavedModel `serving_default` signature, from this model's call
        outputs: `main_output`, in float32 (under mixed precision too, as the heads' logits are)."""
        return {self.main_output: tf.cast(outputs[self.main_output], tf.float32)}

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """`keras.Model.export`; without `input_signature`, the forward pass on int32 `input_ids` and
        `attention_mask` of any batch and length. For TF Serving with a `generate` signature as well,
        use `gpt_keras.export_saved_model`.
        """
        if input_signature is None:
            spec = lambda name: tf.TensorSpec([None] * self.input_rank, tf.int32, name=name)
            input_signature = [{"input_ids": spec("input_ids"), "attention_mask": spec("attention_mask")}]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    # --- structure ------------------------------------------------------------------------------
    def _backbone(self):
        return self.transformer

    def _structure_changed(self):
        """After a change of the model's layers or variables: traced functions are traced anew."""
        self.train_function = self.test_function = self.predict_function = None
        self.forget_compiled_programs()

    def forget_compiled_programs(self):
        """Drops compiled generation programs: none for a model without an LM head."""

    def load_weights(self, *args, **kwargs):
        """`keras.Model.load_weights`; generation programs are traced anew afterwards."""
        result = super().load_weights(*args, **kwargs)
        self.forget_compiled_programs()
        return result

    # --- Keras serialization --------------------------------------------------------------------
    def get_config(self):
        return model_config(self, {"config": self.config.to_dict(), "name": self.name})

    @classmethod
    def from_config(cls, config, **kwargs):
        """A new model (fresh weights) from `config`.

        Args:
            config: What `get_config` returned (Keras' form: the `OpenAIGPTConfig` dict plus the model's
                dtype, frozen layers and LoRA), or an `OpenAIGPTConfig` object, as the reference takes it
                (`cls(config, **kwargs)`).
            **kwargs: With a config object, arguments of the constructor (`dtype`, `lm_coef`, `name`).

        Example:
            >>> TFOpenAIGPTLMHeadModel.from_config(OpenAIGPTConfig(n_layer=2))  # doctest: +SKIP
        """
        if isinstance(config, OpenAIGPTConfig):
            return cls(config, **kwargs)
        if kwargs:
            raise TypeError(
                f"{cls.__name__}.from_config: keyword arguments go with an OpenAIGPTConfig object, got {sorted(kwargs)}"
            )
        return build_model(cls, config)
