"""The four GPT models of the reference, as Keras models over one shared `TFOpenAIGPT` backbone.

`TFOpenAIGPTModel` (hidden states), `TFOpenAIGPTLMHeadModel` (tied LM head),
`TFOpenAIGPTDoubleHeadsModel` (LM + multiple-choice head, the paper's fine-tuning model) and
`TFOpenAIGPTForSequenceClassification` keep the reference's names, call signatures, outputs and
checkpoint tensor names.
"""
import inspect
import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from keras.src.losses import loss as loss_scaling
from keras.src.tree.tree_api import register_tree_node_class

from gpt_keras import checkpoints, losses
from gpt_keras.backbone import TFOpenAIGPT, build_with_frozen_layers, config_with_frozen_layers
from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.generation import GenerationMixin
from gpt_keras.layers import check_ids_in_range, normal_initializer

logger = logging.getLogger("gpt_keras")

BACKBONE_PREFIX = "transformer."
# Tensors of the reference's heads: a model without that head ignores them (anything else unknown is
# reported as unexpected).
HEAD_PREFIXES = ("lm_head.", "multiple_choice_head.", "score.")

CALL_ARGUMENTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "position_ids",
    "head_mask",
    "inputs_embeds",
    "output_attentions",
    "output_hidden_states",
    "labels",
    "mc_token_ids",
    "mc_labels",
)


# Registered so that Keras (predict, fit, tf.function) treats outputs as dicts, not opaque leaves.
@register_tree_node_class
class ModelOutput(dict):
    """A dict of model outputs whose keys also read as attributes, as the reference's outputs do.

    Fields that were not computed (e.g. `loss` without labels) are absent as keys and read as None.
    Integer indexing and slices give the values in order: `outputs[0]` is the loss when there is one,
    else logits; `outputs[:2]` is a tuple.
    """

    FIELDS = ("loss", "mc_loss", "logits", "mc_logits", "last_hidden_state", "hidden_states", "attentions")

    def __getattr__(self, name):
        if name in self:
            return self[name]
        if name in self.FIELDS:
            return None
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self):
        return tuple(self.values())

    def tree_flatten(self):
        keys = tuple(self.keys())
        return tuple(self.values()), keys, keys

    @classmethod
    def tree_unflatten(cls, keys, values):
        return cls(zip(keys, values))


def _as_int_tensor(value, argument):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.integer) and not np.issubdtype(value.dtype, np.bool_):
            raise TypeError(f"{argument} must hold integers, got a numpy array of {value.dtype}")
    dtype = getattr(value, "dtype", None)
    if dtype is not None and not isinstance(value, np.ndarray):
        dtype = tf.as_dtype(dtype) if not isinstance(value, keras.KerasTensor) else None
        if dtype is not None and not (dtype.is_integer or dtype.is_bool):
            raise TypeError(f"{argument} must hold integers, got a tensor of {dtype.name}")
    return ops.cast(value, "int32")


def _check_rank(tensor, rank, argument, layout):
    if tensor is not None and len(tensor.shape) != rank:
        raise ValueError(f"{argument} must have rank {rank} {layout}, got shape {tuple(tensor.shape)}")


def _check_same_shape(tensor, reference, argument):
    """`tensor`, checked to have `reference`'s shape: now where shapes are static, else when the graph runs."""
    static_a, static_b = tuple(tensor.shape), tuple(reference.shape)
    if len(static_a) != len(static_b) or any(a is not None and b is not None and a != b for a, b in zip(static_a, static_b)):
        raise ValueError(f"{argument} has shape {static_a} but input_ids has shape {static_b}; they must match")
    symbolic = isinstance(tensor, keras.KerasTensor) or isinstance(reference, keras.KerasTensor)
    if None in static_a + static_b and not symbolic and not tf.executing_eagerly():
        check = tf.debugging.assert_equal(
            tf.shape(tensor), tf.shape(reference), message=f"{argument} must have the shape of input_ids"
        )
        with tf.control_dependencies([check]):
            tensor = tf.identity(tensor)
    return tensor


class TFOpenAIGPTPreTrainedModel(keras.Model):
    """Shared machinery of the four models: input handling, checkpoints, the internal loss for `fit`.

    Subclasses set `main_output` (what a compiled Keras loss and metrics are applied to),
    `metric_labels` (the input that compiled metrics compare it with when no loss is compiled),
    `reference_name` (the reference's class, written to config.json) and add their heads in `__init__`.

    Args:
        config: An `OpenAIGPTConfig` (or its dict).
        dtype: Optional Keras dtype policy, e.g. "mixed_bfloat16"; by default the global policy.
    """

    main_output = "logits"
    metric_labels = "labels"
    input_rank = 2
    head_inputs = ("labels",)
    model_arguments = ()

    def __init__(self, config, dtype=None, **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        if isinstance(config, dict):
            config = OpenAIGPTConfig.from_dict(config)
        if not isinstance(config, OpenAIGPTConfig):
            raise TypeError(f"config must be an OpenAIGPTConfig or a dict, got {type(config).__name__}")
        self.config = config
        self.transformer = TFOpenAIGPT(config, dtype=dtype, name="transformer")
        self.built = True

    def build(self, input_shape=None):
        # Every weight is created in __init__: nothing depends on the input shape.
        self.built = True

    # --- inputs ---------------------------------------------------------------------------------
    def call(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        output_attentions=False,
        output_hidden_states=False,
        labels=None,
        mc_token_ids=None,
        mc_labels=None,
        training=False,
    ):
        """The reference's call signature, shared by every model (see the model classes' docstrings).

        `input_ids` may also be a dict of these inputs, as Keras passes them in `fit`.
        """
        arguments = dict(
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            head_mask=head_mask,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            labels=labels,
            mc_token_ids=mc_token_ids,
            mc_labels=mc_labels,
        )
        if isinstance(input_ids, dict):
            inputs = dict(input_ids)
            unknown = set(inputs) - set(CALL_ARGUMENTS)
            if unknown:
                raise ValueError(f"unknown input keys {sorted(unknown)}; expected some of {CALL_ARGUMENTS}")
            for name, value in arguments.items():
                if value is not None and value is not False:
                    inputs.setdefault(name, value)
        else:
            inputs = dict(arguments, input_ids=input_ids)
        unused = sorted(name for name in ("labels", "mc_token_ids", "mc_labels") if inputs.get(name) is not None and name not in self.head_inputs)
        if unused:
            raise ValueError(f"{type(self).__name__} takes no {', '.join(unused)} (it has no head that uses them)")
        return self._call_heads(inputs, training)

    def _prepare(self, inputs):
        """Validates and converts inputs; flattens (batch, choices, seq) to (batch * choices, seq)."""
        config = self.config
        input_ids = _as_int_tensor(inputs.get("input_ids"), "input_ids")
        inputs_embeds = inputs.get("inputs_embeds")
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        layout = "(batch, choices, seq)" if self.input_rank == 3 else "(batch, seq)"
        if input_ids is not None:
            _check_rank(input_ids, self.input_rank, "input_ids", layout)
            input_ids = check_ids_in_range(input_ids, config.vocab_size, "input_ids")
            shape_source = input_ids
        else:
            inputs_embeds = ops.convert_to_tensor(inputs_embeds)
            _check_rank(inputs_embeds, self.input_rank + 1, "inputs_embeds", layout[:-1] + ", n_embd)")
            width = inputs_embeds.shape[-1]
            if width is not None and width != config.n_embd:
                raise ValueError(f"inputs_embeds must have n_embd={config.n_embd} features in its last axis, got {width}")
            shape_source = inputs_embeds[..., 0]
        seq_len = shape_source.shape[-1]
        if seq_len is not None and seq_len > config.n_positions:
            raise ValueError(f"sequence length {seq_len} is longer than the model's n_positions={config.n_positions}")
        if seq_len is None and input_ids is not None:
            # Traced with a dynamic length: checked when the graph runs (under XLA the position
            # lookup's NaN rows flag it instead).
            check = tf.debugging.assert_less_equal(tf.shape(input_ids)[-1], config.n_positions, message=f"sequence length is longer than n_positions={config.n_positions}")
            with tf.control_dependencies([check]):
                input_ids = tf.identity(input_ids)
        prepared = {}
        for name, limit in (("attention_mask", None), ("token_type_ids", config.vocab_size), ("position_ids", config.n_positions)):
            value = inputs.get(name)
            if value is None:
                continue
            value = _as_int_tensor(value, name)
            value = _check_same_shape(value, shape_source, name)
            if limit is not None:
                value = check_ids_in_range(value, limit, name)
            prepared[name] = value

        flatten = lambda x: None if x is None else ops.reshape(x, (-1,) + tuple(ops.shape(x)[self.input_rank - 1 :]))
        prepared = {name: flatten(value) for name, value in prepared.items()}
        prepared["input_ids"] = flatten(input_ids)
        prepared["inputs_embeds"] = flatten(inputs_embeds)
        head_mask = inputs.get("head_mask")
        if head_mask is not None:
            head_mask = ops.cast(head_mask, "float32")
            if tuple(head_mask.shape) == (config.n_head,):
                head_mask = ops.broadcast_to(head_mask[None, :], (config.n_layer, config.n_head))
            if tuple(head_mask.shape) != (config.n_layer, config.n_head):
                raise ValueError(
                    f"head_mask must have shape (n_head,) or (n_layer, n_head) = ({config.n_layer}, {config.n_head}), "
                    f"got {tuple(head_mask.shape)}"
                )
        prepared["head_mask"] = head_mask
        return prepared

    def _run_backbone(self, inputs, training):
        prepared = self._prepare(inputs)
        outputs = self.transformer.forward(
            **prepared,
            output_attentions=bool(inputs.get("output_attentions")),
            output_hidden_states=bool(inputs.get("output_hidden_states")),
            training=training,
        )
        if self.input_rank == 3:
            leading = ops.shape(inputs["input_ids"] if inputs.get("input_ids") is not None else inputs["inputs_embeds"])[:2]
            unflatten = lambda x: ops.reshape(x, tuple(leading) + tuple(ops.shape(x)[1:]))
            outputs = {
                name: tuple(unflatten(x) for x in value) if isinstance(value, tuple) else unflatten(value)
                for name, value in outputs.items()
            }
        return outputs, prepared

    @staticmethod
    def _labels(value, argument, limit):
        """Integer class labels, checked to be in [0, limit) or -100 (ignored)."""
        return check_ids_in_range(_as_int_tensor(value, argument), limit, argument, ignore_index=losses.IGNORE_INDEX)

    def lm_logits(self, hidden_states):
        """Tied LM head: hidden states times the transposed token embedding, returned in float32."""
        return ops.cast(self.transformer.embeddings.tokens_embed.attend(hidden_states), "float32")

    @staticmethod
    def _extras(outputs):
        return {name: outputs[name] for name in ("hidden_states", "attentions") if name in outputs}

    # --- training with Keras --------------------------------------------------------------------
    def _internal_loss(self, y_pred):
        return y_pred["loss"]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._compile_loss is None:
            if not isinstance(y_pred, dict) or "loss" not in y_pred and "mc_loss" not in y_pred:
                raise ValueError(
                    f"{type(self).__name__} was compiled without a loss and got no labels: put `labels`"
                    " (and `mc_labels` for the double-heads model) in the input dict, or compile with a loss"
                )
            if y is not None:
                raise ValueError(
                    "y was given but no loss was compiled: the internal loss reads labels from the input dict;"
                    " compile(loss=...) to train on y instead"
                )
            loss = self._internal_loss(y_pred)
            if self.losses:
                loss = loss + ops.sum(ops.stack([ops.cast(l, "float32") for l in self.losses]))
            return self._scale_for_replicas(loss)
        return super().compute_loss(x, y, self._for_compiled(y_pred), sample_weight, training)

    def _refuse_weights_without_loss(self, method, args, kwargs):
        # Keras drops sample weights that come without y, which the internal loss never gets: refuse
        # them rather than train unweighted.
        arguments = inspect.signature(method).bind(self, *args, **kwargs).arguments
        given = [name for name in ("sample_weight", "class_weight") if arguments.get(name) is not None]
        if given and self._compile_loss is None:
            raise ValueError(
                f"{given[0]} was given but no loss was compiled, and the internal loss cannot weight examples:"
                " set labels to -100 where no loss should be taken, or compile(loss=...) and pass the labels"
                " as y to weight them"
            )

    def fit(self, *args, **kwargs):
        self._refuse_weights_without_loss(keras.Model.fit, args, kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self._refuse_weights_without_loss(keras.Model.evaluate, args, kwargs)
        return super().evaluate(*args, **kwargs)

    @staticmethod
    def _scale_for_replicas(loss):
        # Under tf.distribute each replica's gradients are summed: a per-replica mean loss must be
        # divided by the number of replicas (what Keras does for compiled losses), and the loss
        # tracker multiplies it back for display.
        return loss_scaling.scale_loss_for_distribution(loss)

    def train_step(self, data):
        return self._logs_for_multi_worker(super().train_step(data))

    def test_step(self, data):
        return self._logs_for_multi_worker(super().test_step(data))

    def _logs_for_multi_worker(self, logs):
        # Keras 3 reduces each log across workers with strategy.reduce("MEAN", value, axis=0), which
        # fails on scalars under MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388): give
        # them a leading axis of one, which that reduction removes.
        if not isinstance(self._distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return logs
        return {name: ops.reshape(value, (1,)) if len(value.shape) == 0 else value for name, value in logs.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras learns the input shapes from the first distributed batch through
        # strategy.reduce("MEAN", batch), which MultiWorkerMirroredStrategy refuses for a dict of
        # inputs; one replica's share of the batch has the same structure and dtypes.
        strategy = self._distribute_strategy
        if strategy is not None and iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                batch = batches[0] if isinstance(batches, (list, tuple)) else next(batches)
                first_replica = lambda x: strategy.experimental_local_results(x)[0] if isinstance(x, tf.distribute.DistributedValues) else x
                data_batch = keras.tree.map_structure(first_replica, batch)
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compile(self, *args, jit_compile="auto", **kwargs):
        """`keras.Model.compile`, with `jit_compile="auto"` chosen by what is faster for this model on
        a machine without GPU or TPU (Keras' own "auto" never uses XLA there): XLA for float32
        (8x128 training on 2 cores: 220-232 tokens/s with XLA, 201-226 without), but not for bfloat16,
        since XLA's CPU backend does not use the bfloat16 matmul instructions that TensorFlow's oneDNN
        kernels do (359-363 tokens/s without XLA, 220-230 with). With an accelerator, or inside a tf.distribute
        strategy's scope, "auto" is Keras' own.
        """
        kwargs = dict(inspect.signature(keras.Model.compile).bind(self, *args, **kwargs).arguments)
        del kwargs["self"]
        if isinstance(kwargs.get("metrics"), (list, tuple)) and kwargs.get("loss") is None:
            # With the internal loss, the metrics' targets come from the input dict, where -100 marks what
            # no loss is taken on; they reach the metrics as zero weights, which Keras applies to
            # weighted metrics only. (Sample weights of a user's own are refused without a loss.)
            metrics = kwargs.pop("metrics")
            kwargs["weighted_metrics"] = list(metrics) + list(kwargs.get("weighted_metrics") or [])
        choose = jit_compile == "auto" and not kwargs.get("run_eagerly") and not tf.distribute.has_strategy()
        if choose and not _accelerators():
            jit_compile = self.dtype_policy.compute_dtype != "bfloat16"
        return super().compile(jit_compile=jit_compile, **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """`keras.Model.export`; without `input_signature`, the forward pass on int32 `input_ids` and
        `attention_mask` of any batch and length. For TF Serving with a `generate` signature as well,
        use `gpt_keras.export_saved_model`.
        """
        if input_signature is None:
            spec = lambda name: tf.TensorSpec([None] * self.input_rank, tf.int32, name=name)
            input_signature = [{"input_ids": spec("input_ids"), "attention_mask": spec("attention_mask")}]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def compile_from_config(self, config):
        """Compiles a model loaded from a `.keras` file as it was saved (its optimizer state follows).

        Keras skips this step for models that override `compile`, as these do to choose `jit_compile`.
        """
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None and self._compile_loss is None and self._compile_metrics is not None:
            # Training on the internal loss: the metrics compare `main_output` with the labels of the
            # input dict, -100 entries weighted out.
            targets = self._metric_targets(x if isinstance(x, dict) else {})
            if targets is None:
                raise ValueError(
                    f"compiled metrics of {type(self).__name__} need targets for {self.main_output!r}: "
                    f"put {self.metric_labels!r} in the input dict, or pass y with a compiled loss"
                )
            y, sample_weight = targets
        return super().compute_metrics(x, y, self._for_compiled(y_pred), sample_weight)

    def _metric_targets(self, x):
        """(targets, sample_weight) for compiled metrics from the input dict `x`, or None."""
        labels = x.get(self.metric_labels)
        return None if labels is None else self._targets(labels)

    def _targets(self, labels):
        # Class indices, -100 weighted out.
        return losses.counted_targets(labels)

    def _for_compiled(self, y_pred):
        return y_pred[self.main_output] if isinstance(y_pred, dict) else y_pred

    # --- checkpoints ----------------------------------------------------------------------------
    def _checkpoint_variables(self):
        """Checkpoint name -> (variable, transposed?) for every weight, in the reference's naming."""
        prefix = BACKBONE_PREFIX
        embeddings = self.transformer.embeddings
        mapping = {
            f"{prefix}tokens_embed.weight": (embeddings.tokens_embed.embeddings, False),
            f"{prefix}positions_embed.weight": (embeddings.positions_embed.embeddings, False),
        }
        for i, block in enumerate(self.transformer.blocks):
            name = f"{prefix}h.{i}."
            for dense_name, dense in (
                ("attn.c_attn", block.attn.c_attn),
                ("attn.c_proj", block.attn.c_proj),
                ("mlp.c_fc", block.mlp.c_fc),
                ("mlp.c_proj", block.mlp.c_proj),
            ):
                # Conv1D stores (in, out) like a Dense kernel: no transpose.
                mapping[f"{name}{dense_name}.weight"] = (dense.kernel, False)
                mapping[f"{name}{dense_name}.bias"] = (dense.bias, False)
            for norm_name, norm in (("ln_1", block.ln_1), ("ln_2", block.ln_2)):
                mapping[f"{name}{norm_name}.weight"] = (norm.gamma, False)
                mapping[f"{name}{norm_name}.bias"] = (norm.beta, False)
        mapping.update(self._head_variables())
        return mapping

    def _head_variables(self):
        return {}

    def get_state_dict(self):
        """The weights as a state dict with the PyTorch reference's names and layouts (numpy arrays).

        The base model's names have no `transformer.` prefix, as the reference's `OpenAIGPTModel` saves.
        """
        state = {}
        for name, (variable, transposed) in self._checkpoint_variables().items():
            value = ops.convert_to_numpy(variable)
            state[self._saved_name(name)] = np.ascontiguousarray(value.T if transposed else value)
        return state

    def _saved_name(self, name):
        return name

    def load_state_dict(self, state_dict, source="state dict"):
        """Assigns weights from a state dict with the reference's names (see `from_pretrained`).

        Every tensor is checked before any is assigned, so a mismatch leaves the model unchanged.
        Tensors of other heads are ignored; this model's head, when absent, keeps its initialization.

        Args:
            state_dict: Mapping name -> array, with the reference's names (base-model names without the
                `transformer.` prefix are accepted).
            source: What to call the state dict in messages (e.g. the checkpoint path).

        Returns:
            The names of head weights that the state dict did not provide (left as initialized).

        Raises:
            gpt_keras.checkpoints.CheckpointMismatchError: backbone tensors missing or of the wrong shape
                (all of them listed, with both shapes).
        """
        if not isinstance(state_dict, checkpoints.LazyStateDict):
            state_dict = {checkpoints.canonical_name(name): value for name, value in state_dict.items()}
        mapping = self._checkpoint_variables()
        expected = {
            name: tuple(reversed(variable.shape)) if transposed else tuple(variable.shape)
            for name, (variable, transposed) in mapping.items()
        }
        tokens = "transformer.tokens_embed.weight"
        if "lm_head.weight" in state_dict and isinstance(self, GenerationMixin) and not (
            tokens in state_dict and np.array_equal(np.asarray(state_dict["lm_head.weight"]), np.asarray(state_dict[tokens]))
        ):
            raise checkpoints.CheckpointMismatchError(
                f"{source}: lm_head.weight differs from transformer.tokens_embed.weight: the checkpoint has an"
                " untied LM head (tie_word_embeddings=false), and this model's LM head is the token embedding"
            )
        newly_initialized = sorted(name for name in expected if _is_head_name(name) and name not in state_dict)
        ignored = sorted(name for name in state_dict if name not in expected and name.startswith(HEAD_PREFIXES))
        to_load = {name: shape for name, shape in expected.items() if name not in newly_initialized}
        if isinstance(state_dict, checkpoints.LazyStateDict):
            relevant = state_dict.without(ignored)
        else:
            relevant = {name: value for name, value in state_dict.items() if name not in ignored}
        checkpoints.check_state_dict(relevant, to_load, source=source)
        for name in to_load:
            variable, transposed = mapping[name]
            value = np.asarray(state_dict[name])
            variable.assign(np.ascontiguousarray(value.T if transposed else value).astype(variable.dtype))
        if ignored:
            logger.info("%s: ignored %d tensors of other heads: %s", source, len(ignored), ignored)
        if newly_initialized:
            logger.warning(
                "%s has no weights for %s; they are newly initialized: train the model before using it",
                source,
                newly_initialized,
            )
        return newly_initialized

    @classmethod
    def from_pretrained(cls, path, config=None, dtype=None, **config_overrides):
        """Loads a model from a checkpoint directory in any supported format.

        Formats: `model.safetensors` (also sharded), the reference's `tf_model.h5` and
        `pytorch_model.bin` (read without torch, refusing any pickled code), and the original release's
        `params_*.npy` (sizes inferred; see `gpt_keras.checkpoints.original_release`). When a directory
        holds several, safetensors is read first, then `tf_model.h5`, then `pytorch_model.bin`, then the
        original release; the choice is logged (INFO) on the "gpt_keras" logger. Safetensors are read
        tensor by tensor, so loading holds little more than the model's own weights. A head missing
        from the checkpoint (e.g. loading a base model into the double-heads model) is initialized and
        reported; tensors of another head are ignored.

        The original release ships no config: its sizes come from `params_shapes.json`, `n_head` from
        `config_overrides` (default 12, the release's) and every other field from `OpenAIGPTConfig`'s
        defaults, whose `afn="gelu"` is the tanh approximation of GELU here (and in the PyTorch
        reference): the form the release was trained with, so its logits are reproduced. The erf form
        (what the reference's TF port computes) would shift them by ~5e-3.

        Args:
            path: Checkpoint directory (a hub cache snapshot works too).
            config: `OpenAIGPTConfig` to use instead of the directory's `config.json` (required for the
                original release unless its defaults fit).
            dtype: Optional Keras dtype policy.
            **config_overrides: Config fields to change (e.g. `num_labels=3`, or `n_head=4` for an
                original-release checkpoint whose sizes are inferred), and arguments of the model
                class (`lm_coef` of the double-heads model).

        Returns:
            The model with the checkpoint's weights.

        Raises:
            FileNotFoundError: no checkpoint or no config.json at `path`.
            ValueError: a file is corrupted, or a tensor's shape disagrees with the config (named).
        """
        path = Path(path)
        state_dict, info = checkpoints.load_state_dict(path, lazy=True)
        if config is None:
            config = _read_config(info, n_head=config_overrides.get("n_head"))
        elif isinstance(config, dict):
            config = OpenAIGPTConfig.from_dict(config)
        # Arguments of the model class itself (e.g. the double-heads model's lm_coef) are not config fields.
        model_arguments = {name: config_overrides.pop(name) for name in cls.model_arguments if name in config_overrides}
        if config_overrides:
            config = OpenAIGPTConfig.from_dict({**config.to_dict(), **config_overrides})
        model = cls(config, dtype=dtype, **model_arguments)
        model.load_state_dict(state_dict, source=f"{info.format} checkpoint {info.directory}")
        logger.info("Loaded %s from %s (%s)", cls.__name__, info.directory, info.format)
        return model

    def save_pretrained(self, path, *, max_shard_size=None):
        """Writes `config.json` + `model.safetensors` (or shards), loadable unchanged by the reference.

        The directory is replaced atomically: an interrupted save leaves the previous checkpoint whole.

        Args:
            path: Directory to create or replace.
            max_shard_size: None for one file, else bytes or a string like "200MB".
        """
        config = self.config.to_dict()
        config["architectures"] = [self.reference_name]
        state_dict = self.get_state_dict()
        # The reference reads the stored tensors' dtype from here ("torch_dtype" before transformers 4.56).
        stored = {np.dtype(tensor.dtype).name for tensor in state_dict.values()}
        if len(stored) == 1:
            config["dtype"] = stored.pop()
            if "torch_dtype" in config:
                config["torch_dtype"] = config["dtype"]
        return checkpoints.save_state_dict(
            state_dict,
            path,
            max_shard_size=max_shard_size,
            extra_files={"config.json": OpenAIGPTConfig.from_dict(config).to_json_string()},
        )

    # --- vocabulary -----------------------------------------------------------------------------
    def resize_token_embeddings(self, new_size):
        """Gives the token embedding `new_size` rows, in place, e.g. for added special tokens.

        Existing rows are kept; new rows are drawn like the model's initialization (normal with
        standard deviation `config.initializer_range`). Shrinking keeps the first `new_size` rows, so
        ids from `new_size` on become invalid. The LM heads stay tied: they read the same table.
        `config.vocab_size` is updated, so `get_config`, `.keras` files and `save_pretrained` describe
        the new size. Resize before `compile`: the optimizer of an earlier `compile` holds state for
        the old table, so compile again after resizing.

        Args:
            new_size: The number of token ids, an int >= 1.

        Returns:
            The token `Embedding` layer (`transformer.embeddings.tokens_embed`).

        Example:
            >>> model.resize_token_embeddings(model.config.vocab_size + 3)  # doctest: +SKIP
        """
        if isinstance(new_size, bool) or not isinstance(new_size, (int, np.integer)) or new_size < 1:
            raise ValueError(f"resize_token_embeddings: new_size must be an integer >= 1, got {new_size!r}")
        new_size = int(new_size)
        token_embedding = self.transformer.embeddings.tokens_embed
        old_size = token_embedding.input_dim
        if new_size == old_size:
            return token_embedding
        token_embedding.resize(new_size)
        self.transformer.embeddings.vocab_size = new_size
        self.config.vocab_size = new_size
        self.transformer.config.vocab_size = new_size
        # Traced train/predict functions and compiled generation programs captured the old table.
        self.train_function = self.test_function = self.predict_function = None
        self.__dict__.pop("_generation_programs", None)
        logger.info("Resized the token embedding of %s from %d to %d rows", self.name, old_size, new_size)
        return token_embedding

    # --- Keras serialization --------------------------------------------------------------------
    def get_config(self):
        return config_with_frozen_layers(self, {"config": self.config.to_dict(), "name": self.name, "dtype": self.dtype_policy.name})

    @classmethod
    def from_config(cls, config):
        return build_with_frozen_layers(cls, config)


def _accelerators():
    return tf.config.list_logical_devices("GPU") + tf.config.list_logical_devices("TPU")


def _is_head_name(name):
    return not name.startswith(BACKBONE_PREFIX)


def _read_config(info, n_head=None):
    config_path = Path(info.directory) / "config.json"
    if config_path.is_file():
        return OpenAIGPTConfig.from_json_file(config_path)
    if info.format == checkpoints.ORIGINAL_RELEASE:
        from gpt_keras.checkpoints import original_release

        # The shapes cannot tell the number of heads: an n_head override must reach the inference.
        heads = {} if n_head is None else {"n_head": n_head}
        return OpenAIGPTConfig(**original_release.infer_config_dict(info.directory, **heads))
    raise FileNotFoundError(f"no config.json in {info.directory}: pass config=OpenAIGPTConfig(...)")


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTModel(TFOpenAIGPTPreTrainedModel):
    """The bare GPT transformer: final hidden states, no head.

    Call args (all models share them; each model reads the ones it uses):
        input_ids: (batch, seq) int token ids (numpy or tensor, int32 or int64); or a dict of all inputs,
            as Keras passes them in `fit`.
        attention_mask: (batch, seq) 1 for tokens to attend to, 0 for padding.
        token_type_ids: (batch, seq) ids looked up in the token embedding and added (reference behaviour).
        position_ids: (batch, seq) positions; 0..seq-1 by default.
        head_mask: (n_head,) or (n_layer, n_head) multipliers of each head's attention probabilities.
        inputs_embeds: (batch, seq, n_embd) embeddings instead of `input_ids`.
        output_attentions, output_hidden_states: Also return these tuples.
        training: Enables dropout.

    Returns:
        `ModelOutput` with `last_hidden_state` (batch, seq, n_embd) and, when asked, `hidden_states`
        (n_layer + 1 tensors: embeddings, then each block) and `attentions` (n_layer tensors of shape
        (batch, n_head, seq, seq)).

    Example:
        >>> model = TFOpenAIGPTModel.from_pretrained("openai-gpt/")  # doctest: +SKIP
        >>> model(np.array([[40477, 249, 3]])).last_hidden_state.shape  # doctest: +SKIP
        TensorShape([1, 3, 768])
    """

    main_output = "last_hidden_state"
    reference_name = "OpenAIGPTModel"
    head_inputs = ()

    def _call_heads(self, inputs, training):
        outputs, _ = self._run_backbone(inputs, training)
        return ModelOutput(last_hidden_state=outputs["last_hidden_state"], **self._extras(outputs))

    def _saved_name(self, name):
        return name[len(BACKBONE_PREFIX) :]


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTLMHeadModel(GenerationMixin, TFOpenAIGPTPreTrainedModel):
    """GPT with the language-modelling head, tied to the token embedding.

    Call args: as `TFOpenAIGPTModel`, plus `labels` (batch, seq): the inputs themselves for causal LM
    (shifted inside), -100 where no loss should be taken.

    Returns:
        `ModelOutput` with `logits` (batch, seq, vocab_size) in float32, `loss` (scalar, when labels
        are given), and `hidden_states` / `attentions` when asked.
    """

    reference_name = "OpenAIGPTLMHeadModel"

    def _targets(self, labels):
        return losses.counted_targets(losses.next_token_labels(labels))

    def _call_heads(self, inputs, training):
        outputs, _ = self._run_backbone(inputs, training)
        logits = self.lm_logits(outputs["last_hidden_state"])
        result = ModelOutput()
        if inputs.get("labels") is not None:
            result["loss"] = losses.causal_lm_loss(logits, self._labels(inputs["labels"], "labels", self.config.vocab_size))
        result["logits"] = logits
        result.update(self._extras(outputs))
        return result


@keras.saving.register_keras_serializable(package="gpt_keras")
class SequenceSummary(keras.layers.Layer):
    """Summarizes a sequence of hidden states into one vector per sequence (the reference's
    `OpenAIGPTSequenceSummary`), configured by the config's `summary_*` fields.

    summary_type: "cls_index" (the hidden state at `cls_index`, the last token when None), "last",
    "first" or "mean"; then first dropout, an optional projection (to num_labels when
    `summary_proj_to_labels`, else n_embd), an optional tanh, and last dropout.

    Args:
        config: The model's `OpenAIGPTConfig` (or its dict).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = OpenAIGPTConfig.from_dict(config)
        self.config = config
        self.summary_type = config.summary_type
        self.first_dropout = keras.layers.Dropout(config.summary_first_dropout, dtype=self.dtype_policy)
        self.last_dropout = keras.layers.Dropout(config.summary_last_dropout, dtype=self.dtype_policy)
        self.summary = None
        if config.summary_use_proj:
            to_labels = config.summary_proj_to_labels and config.num_labels > 0
            self.summary = keras.layers.Dense(
                config.num_labels if to_labels else config.n_embd,
                kernel_initializer=normal_initializer(config.initializer_range),
                dtype=self.dtype_policy,
                name="summary",
            )

    def build(self, input_shape=None):
        if self.summary is not None:
            self.summary.build((None, self.config.n_embd))
        self.built = True

    def call(self, hidden_states, cls_index=None, training=None):
        # hidden_states: (batch, choices, seq, n_embd); cls_index: (batch, choices)
        if self.summary_type == "last":
            output = hidden_states[..., -1, :]
        elif self.summary_type == "first":
            output = hidden_states[..., 0, :]
        elif self.summary_type == "mean":
            output = ops.mean(hidden_states, axis=-2)
        else:
            seq_len = ops.shape(hidden_states)[-2]
            if cls_index is None:
                cls_index = ops.full(ops.shape(hidden_states)[:-2], seq_len - 1, dtype="int32")
            cls_index = ops.cast(cls_index, "int32")
            valid = ops.logical_and(cls_index >= 0, cls_index < seq_len)
            index = ops.expand_dims(ops.expand_dims(ops.where(valid, cls_index, 0), -1), -1)
            output = ops.squeeze(ops.take_along_axis(hidden_states, index, axis=-2), -2)
            # XLA clamps out-of-range gathers; a NaN makes a bad index visible instead.
            output = ops.where(ops.expand_dims(valid, -1), output, ops.cast(float("nan"), output.dtype))
        output = self.first_dropout(output, training=training)
        if self.summary is not None:
            output = self.summary(output)
        if self.config.summary_activation == "tanh":
            output = ops.tanh(output)
        return self.last_dropout(output, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(config=self.config.to_dict())
        return config


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTDoubleHeadsModel(GenerationMixin, TFOpenAIGPTPreTrainedModel):
    """GPT with the LM head and a multiple-choice head: the paper's fine-tuning model (e.g. ROCStories).

    Inputs are (batch, choices, seq). As in the reference, `config.num_labels` is set to 1 so the
    summary projects each choice to one score.

    Call args: as `TFOpenAIGPTModel`, plus
        mc_token_ids: (batch, choices) position of the classification token in each choice (the last
            token when None).
        labels: (batch, choices, seq) LM labels (-100 to ignore).
        mc_labels: (batch,) index of the right choice.

    Returns:
        `ModelOutput` with `loss` (LM, when labels given), `mc_loss` (when mc_labels given), `logits`
        (batch, choices, seq, vocab), `mc_logits` (batch, choices), and hidden states / attentions
        when asked.

    Args:
        config: The model's config.
        lm_coef: Weight of the LM loss in the loss `fit` minimizes: `mc_loss + lm_coef * loss`
            (0.5 in the paper).
    """

    main_output = "mc_logits"
    metric_labels = "mc_labels"
    reference_name = "OpenAIGPTDoubleHeadsModel"
    head_inputs = ("labels", "mc_token_ids", "mc_labels")
    model_arguments = ("lm_coef",)
    input_rank = 3

    def __init__(self, config, dtype=None, lm_coef=0.5, **kwargs):
        if isinstance(config, dict):
            config = OpenAIGPTConfig.from_dict(config)
        config.num_labels = 1
        super().__init__(config, dtype=dtype, **kwargs)
        self.lm_coef = lm_coef
        self.mc_loss_tracker = keras.metrics.Mean(name="mc_loss")
        self.lm_loss_tracker = keras.metrics.Mean(name="lm_loss")
        self.multiple_choice_head = SequenceSummary(config, dtype=dtype, name="multiple_choice_head")
        self.multiple_choice_head.build()

    def _call_heads(self, inputs, training):
        outputs, _ = self._run_backbone(inputs, training)
        hidden_states = outputs["last_hidden_state"]
        logits = self.lm_logits(hidden_states)
        mc_token_ids = inputs.get("mc_token_ids")
        if mc_token_ids is not None:
            mc_token_ids = _as_int_tensor(mc_token_ids, "mc_token_ids")
            _check_rank(mc_token_ids, 2, "mc_token_ids", "(batch, choices)")
            seq_len = hidden_states.shape[-2]
            if seq_len is not None:
                mc_token_ids = check_ids_in_range(mc_token_ids, seq_len, "mc_token_ids")
        mc_logits = ops.cast(ops.squeeze(self.multiple_choice_head(hidden_states, mc_token_ids, training=training), -1), "float32")
        result = ModelOutput()
        if inputs.get("labels") is not None:
            result["loss"] = losses.causal_lm_loss(logits, self._labels(inputs["labels"], "labels", self.config.vocab_size))
        if inputs.get("mc_labels") is not None:
            num_choices = mc_logits.shape[-1] if mc_logits.shape[-1] is not None else ops.shape(mc_logits)[-1]
            mc_labels = self._labels(inputs["mc_labels"], "mc_labels", num_choices)
            result["mc_loss"] = losses.sparse_cross_entropy(mc_logits, mc_labels)
        result["logits"] = logits
        result["mc_logits"] = mc_logits
        result.update(self._extras(outputs))
        return result

    @property
    def metrics(self):
        trackers = (self.mc_loss_tracker, self.lm_loss_tracker)
        if self._compile_loss is None:
            return super().metrics
        # A compiled Keras loss replaces the internal one, and with it these two parts.
        return [metric for metric in super().metrics if all(metric is not tracker for tracker in trackers)]

    def _internal_loss(self, y_pred):
        # Both parts also show in the progress bar, next to the total that is minimized.
        if "mc_loss" in y_pred:
            self.mc_loss_tracker.update_state(y_pred["mc_loss"])
        if "loss" in y_pred:
            self.lm_loss_tracker.update_state(y_pred["loss"])
        if "mc_loss" in y_pred and "loss" in y_pred:
            return y_pred["mc_loss"] + self.lm_coef * y_pred["loss"]
        return y_pred["mc_loss"] if "mc_loss" in y_pred else y_pred["loss"]

    def _head_variables(self):
        summary = self.multiple_choice_head.summary
        if summary is None:
            return {}
        return {
            "multiple_choice_head.summary.weight": (summary.kernel, True),
            "multiple_choice_head.summary.bias": (summary.bias, False),
        }

    def get_config(self):
        return {**super().get_config(), "lm_coef": self.lm_coef}


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPTForSequenceClassification(TFOpenAIGPTPreTrainedModel):
    """GPT with a linear classifier (no bias) on the hidden state of each sequence's last real token.

    The last real token is found from `attention_mask` when given (so left- or right-padded batches work
    without a pad token), else from `config.pad_token_id`; without either, only batches of one sequence
    are accepted (the reference's rule). `inputs_embeds` without a mask have no ids to find padding in:
    each row's last position is used, with a warning, as the reference does.

    Call args: as `TFOpenAIGPTModel`, plus `labels` (batch,): class ids; float targets for regression
    (num_labels == 1) or multi-hot (batch, num_labels) for multi-label (`config.problem_type`).

    Args:
        config: The model's config.
        classifier_dropout: Dropout before the classifier while training. 0.0 (the reference has
            none) by default; the paper fine-tuned with 0.1 (`training.PAPER_RECIPE`).

    Returns:
        `ModelOutput` with `logits` (batch, num_labels), `loss` when labels are given, and hidden
        states / attentions when asked.
    """

    reference_name = "OpenAIGPTForSequenceClassification"
    model_arguments = ("classifier_dropout",)

    def __init__(self, config, dtype=None, classifier_dropout=0.0, **kwargs):
        super().__init__(config, dtype=dtype, **kwargs)
        if not 0.0 <= classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {classifier_dropout!r}")
        self.classifier_dropout = classifier_dropout
        self.dropout = keras.layers.Dropout(classifier_dropout, dtype=dtype, name="classifier_dropout")
        self.score = keras.layers.Dense(
            self.config.num_labels,
            use_bias=False,
            kernel_initializer=normal_initializer(self.config.initializer_range),
            dtype=dtype,
            name="score",
        )
        self.score.build((None, self.config.n_embd))

    def _call_heads(self, inputs, training):
        outputs, prepared = self._run_backbone(inputs, training)
        hidden_states = self.dropout(outputs["last_hidden_state"], training=training)
        logits = ops.cast(self.score(hidden_states), "float32")  # (batch, seq, num_labels)
        last = self._last_token_index(prepared, logits)
        pooled = ops.squeeze(ops.take_along_axis(logits, last[:, None, None], axis=1), 1)
        result = ModelOutput()
        labels = inputs.get("labels")
        if labels is not None:
            result["loss"] = self._loss(pooled, labels)
        result["logits"] = pooled
        result.update(self._extras(outputs))
        return result

    def _last_token_index(self, prepared, logits):
        seq_len = ops.shape(logits)[1]
        positions = ops.arange(seq_len, dtype="int32")[None, :]
        if prepared.get("attention_mask") is not None:
            real = ops.cast(prepared["attention_mask"] != 0, "int32")
        elif self.config.pad_token_id is not None and prepared["input_ids"] is not None:
            real = ops.cast(prepared["input_ids"] != self.config.pad_token_id, "int32")
        elif self.config.pad_token_id is not None:
            # As the reference: padding cannot be seen in inputs_embeds, so the last position is used.
            logger.warning(
                "%s cannot find padding in inputs_embeds: each row is classified by its last position;"
                " pass attention_mask if rows are padded",
                type(self).__name__,
            )
            return ops.full((ops.shape(logits)[0],), seq_len - 1, dtype="int32")
        else:
            batch = logits.shape[0]
            if batch is not None and batch != 1:
                raise ValueError(
                    f"cannot find the last token of {batch} sequences: pass attention_mask or set "
                    "config.pad_token_id (without either, only a batch of one sequence can be classified)"
                )
            return ops.full((ops.shape(logits)[0],), seq_len - 1, dtype="int32")
        # The rightmost real position (0 when a row has none), as the reference computes it.
        return ops.cast(ops.argmax(positions * real, axis=-1), "int32")

    def _problem_type(self, labels):
        """`config.problem_type`, or what the reference infers from num_labels and the labels' dtype."""
        if self.config.problem_type is not None:
            return self.config.problem_type
        if self.config.num_labels == 1:
            return "regression"
        return "single_label_classification" if "int" in str(labels.dtype) else "multi_label_classification"

    def _loss(self, pooled, labels):
        labels = ops.convert_to_tensor(labels)
        problem_type = self._problem_type(labels)
        if problem_type == "regression":
            return losses.regression_loss(pooled, labels)
        if problem_type == "single_label_classification":
            return losses.sparse_cross_entropy(pooled, self._labels(labels, "labels", self.config.num_labels))
        return losses.multi_label_loss(pooled, labels)

    def _targets(self, labels):
        # Class indices may be -100 (ignored); regression and multi-hot targets are compared as given.
        labels = ops.convert_to_tensor(labels)
        return losses.counted_targets(labels) if self._problem_type(labels) == "single_label_classification" else (labels, None)

    def _head_variables(self):
        return {"score.weight": (self.score.kernel, True)}

    def get_config(self):
        return {**super().get_config(), "classifier_dropout": self.classifier_dropout}
