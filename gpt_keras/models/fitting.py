"""Training with Keras: the models' internal losses and metrics under `compile` / `fit` / `evaluate`,
and the workarounds that make them run under tf.distribute.

A model trains on its internal loss (the reference's `loss`, computed from labels in the input dict,
or from `y`, which then stands for `metric_labels`, or is a dict of label names: the LM's labels are
shifted as the reference shifts them) unless it was compiled with a Keras loss, which then takes
`main_output` and `y` as they are. Compiled metrics compare `main_output` with `y`, or, on the internal
loss, with the input dict's `metric_labels`. `sample_weight` weights the internal loss's examples (or
the LM's tokens) as Keras weights a compiled loss (see `gpt_keras.losses`), and the metrics with it.
"""
import inspect
import warnings
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gpt_keras import _cpu, losses
from gpt_keras.models import _keras_compat
from gpt_keras.models.inputs import LABEL_ARGUMENTS, weight_for


def weighted(counted, sample_weight):
    """The 0/1 weights of counted targets times `sample_weight` (broadcast to them), when given."""
    return counted if sample_weight is None else counted * losses.broadcast_weights(sample_weight, counted)


class KerasTrainingMixin(_keras_compat.FirstReplicaSymbolicBuild):
    """Keras' training hooks for the models: mixed in before `keras.Model`.

    Reads the class attributes `main_output` and `metric_labels` (see `TFOpenAIGPTPreTrainedModel`);
    heads override `_internal_loss` (how their losses add up) and `_targets` (metric targets from labels).
    """

    def _internal_loss(self, y_pred):
        return y_pred["loss"]

    def _head_losses(self, outputs, inputs, sample_weight=None):
        """The head's losses (`loss`, `mc_loss`) from its `outputs` and the labels in `inputs`, each
        example weighted by `sample_weight`; none for a model without a head."""
        return {}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if _keras_compat.compiled_loss(self) is None:
            if not isinstance(y_pred, Mapping):
                raise ValueError(
                    f"{type(self).__name__} returned a tuple (config.return_dict is False), and its internal loss"
                    " is read by name: set config.return_dict = True to train it"
                )
            if y is not None:
                raise ValueError(
                    "y was given but no loss was compiled: the internal loss reads labels from the input dict;"
                    " compile(loss=...) to train on y instead"
                )
            # The call's own losses are unweighted: with sample weights they are computed again from its
            # outputs (the unweighted ones are then unused, and pruned from the traced step).
            parts = y_pred if sample_weight is None else self._head_losses(y_pred, x if isinstance(x, Mapping) else {}, sample_weight)
            if "loss" not in parts and "mc_loss" not in parts:
                raise ValueError(
                    f"{type(self).__name__} was compiled without a loss and got no labels: put `labels`"
                    " (and `mc_labels` for the double-heads model) in the input dict or pass them as y, or"
                    " compile with a loss"
                )
            loss = self._internal_loss(parts)
            if self.losses:
                loss = loss + ops.sum(ops.stack([ops.cast(l, "float32") for l in self.losses]))
            # Under tf.distribute each replica's gradients are summed: a per-replica mean loss must be
            # divided by the number of replicas (what Keras does for compiled losses), and the loss
            # tracker multiplies it back for display.
            return _keras_compat.scale_loss_for_distribution(loss)
        return super().compute_loss(x, y, self._for_compiled(y_pred), sample_weight, training)

    def _check_class_weight(self, method, args, kwargs):
        # Keras turns class weights into sample weights from y, one class per example: the internal
        # loss can use them when y holds class labels, not for the LM, whose labels are tokens.
        arguments = inspect.signature(method).bind(self, *args, **kwargs).arguments
        if arguments.get("class_weight") is None or _keras_compat.compiled_loss(self) is not None:
            return
        if arguments.get("y") is None or (self.metric_labels == "labels" and self.has_tied_lm_head):
            reason = (
                "the LM's labels are tokens, not one class per example: weight them with sample_weight"
                if arguments.get("y") is not None
                else "Keras derives class weights from y: pass the class labels as y"
            )
            raise ValueError(f"class_weight was given but no loss was compiled, and {reason}")

    def _labels_as_y_for_weights(self, method, args, kwargs):
        """`method`'s (args, kwargs), with the labels of an input dict moved to y when sample weights come
        without y: Keras drops the weights of data without y. Once per call, not per step."""
        bound = inspect.signature(method).bind(self, *args, **kwargs)
        given = bound.arguments
        weights_dropped = given.get("sample_weight") is not None and given.get("y") is None and isinstance(given.get("x"), Mapping)
        if not weights_dropped or _keras_compat.compiled_loss(self) is not None:
            return args, kwargs
        x = dict(given["x"])
        labels = {name: x.pop(name) for name in LABEL_ARGUMENTS if x.get(name) is not None}
        if labels:
            # One array when it is the only label, so that per-token weights (batch, seq) pass Keras'
            # checks; Keras copies per-example weights to each entry of a dict.
            bound.arguments["x"] = x
            bound.arguments["y"] = labels[self.metric_labels] if list(labels) == [self.metric_labels] else labels
        return bound.args[1:], bound.kwargs

    def fit(self, *args, **kwargs):
        self._check_class_weight(keras.Model.fit, args, kwargs)
        self._warn_if_unshifted(inspect.signature(keras.Model.fit).bind(self, *args, **kwargs).arguments)
        args, kwargs = self._labels_as_y_for_weights(keras.Model.fit, args, kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        args, kwargs = self._labels_as_y_for_weights(keras.Model.evaluate, args, kwargs)
        return super().evaluate(*args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        self._check_class_weight(keras.Model.train_on_batch, args, kwargs)
        return super().train_on_batch(*args, **kwargs)

    def _warn_if_unshifted(self, arguments):
        # A compiled Keras loss lines logits[:, t] up with y[:, t]: with y = input_ids the model is
        # trained to copy its input, and its accuracy on that looks like learning.
        if _keras_compat.compiled_loss(self) is None or not self.has_tied_lm_head or self.main_output != "logits":
            return
        x, y = arguments.get("x"), arguments.get("y")
        ids = x.get("input_ids") if isinstance(x, dict) else x
        same = y is ids or (
            isinstance(y, np.ndarray) and isinstance(ids, np.ndarray) and y.shape == ids.shape and np.array_equal(y, ids)
        )
        if same and not self.__dict__.get("_warned_unshifted_targets"):
            self.__dict__["_warned_unshifted_targets"] = True
            warnings.warn(
                "fit(x, y) with a compiled Keras loss compares logits[:, t] with y[:, t], and y is input_ids itself:"
                " the model learns to copy its input instead of predicting the next token. Pass next-token targets"
                " (y[:, t] = input_ids[:, t + 1], -100 in the last column, with a loss that ignores it:"
                " SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)), or compile without a loss"
                " and pass the ids as y: the internal loss shifts them",
                stacklevel=3,
            )

    def train_step(self, data):
        return self._logs_for_multi_worker(super().train_step(self._y_as_labels(data)))

    def test_step(self, data):
        return self._logs_for_multi_worker(super().test_step(self._y_as_labels(data)))

    def _y_as_labels(self, data):
        """`data` with `y` moved into the input dict when no loss is compiled: as `metric_labels`, or,
        for a dict, under its label names. The internal loss then reads them (the LM's shifted as the
        reference shifts labels); sample weights stay with the data. Runs once per trace, not per step."""
        if _keras_compat.compiled_loss(self) is not None:
            return data
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            return data
        x = dict(x) if isinstance(x, Mapping) else {"input_ids": x}
        given = dict(y) if isinstance(y, Mapping) else {self.metric_labels: y}
        unknown = sorted(set(given) - set(LABEL_ARGUMENTS))
        if unknown:
            raise ValueError(f"y holds {unknown}, which are not labels; a dict y holds some of {LABEL_ARGUMENTS}")
        for name, value in given.items():
            if x.get(name) is not None:
                raise ValueError(f"{name} given twice, in the input dict and as y: pass them once")
            x[name] = value
        return x if sample_weight is None else (x, None, sample_weight)

    def _logs_for_multi_worker(self, logs):
        # Keras 3 reduces each log across workers with strategy.reduce("MEAN", value, axis=0), which
        # fails on scalars under MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388): give
        # them a leading axis of one, which that reduction removes.
        if not isinstance(_keras_compat.model_distribute_strategy(self), tf.distribute.MultiWorkerMirroredStrategy):
            return logs
        return {name: ops.reshape(value, (1,)) if len(value.shape) == 0 else value for name, value in logs.items()}

    def compile(self, *args, jit_compile="auto", **kwargs):
        """`keras.Model.compile`, with `jit_compile="auto"` chosen by what is faster for this model on
        a machine without GPU or TPU (Keras' own "auto" never uses XLA there): XLA for float32, and for
        bfloat16 too unless the CPU has bfloat16 instructions that TensorFlow's oneDNN graph kernels use
        (`gpt_keras._cpu.graph_runs_bf16_fast`; README, "Benchmarks", has the figures). With an
        accelerator, or inside a tf.distribute strategy's scope, "auto" is Keras' own.
        """
        # Measured with benchmarks/bench_training.py, 8x128 on 2 Zen 5 cores: float32 467 tokens/s with
        # XLA, 412 without; mixed_bfloat16 606 without XLA, 471 with (capped at AVX2: float32 467 with
        # XLA, 275 without).
        kwargs = dict(inspect.signature(keras.Model.compile).bind(self, *args, **kwargs).arguments)
        del kwargs["self"]
        if isinstance(kwargs.get("metrics"), (list, tuple)) and kwargs.get("loss") is None:
            # With the internal loss, the metrics' targets come from the input dict, where -100 marks what
            # no loss is taken on; they reach the metrics as zero weights (times a user's sample
            # weights), which Keras applies to weighted metrics only.
            metrics = kwargs.pop("metrics")
            kwargs["weighted_metrics"] = list(metrics) + list(kwargs.get("weighted_metrics") or [])
        choose = jit_compile == "auto" and not kwargs.get("run_eagerly") and not tf.distribute.has_strategy()
        if choose and not _cpu.accelerators_visible():
            jit_compile = self.dtype_policy.compute_dtype != "bfloat16" or not _cpu.graph_runs_bf16_fast()
        self.forget_compiled_programs()
        return super().compile(jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        """Compiles a model loaded from a `.keras` file as it was saved (its optimizer state follows).

        Keras skips this step for models that override `compile`, as these do to choose `jit_compile`.
        """
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None and _keras_compat.compiled_loss(self) is None and _keras_compat.compiled_metrics(self) is not None:
            # Training on the internal loss: the metrics compare `main_output` with the labels of the
            # input dict, -100 entries weighted out.
            targets = self._metric_targets(x if isinstance(x, Mapping) else {}, weight_for(sample_weight, self.metric_labels))
            if targets is None:
                raise ValueError(
                    f"compiled metrics of {type(self).__name__} need targets for {self.main_output!r}: "
                    f"put {self.metric_labels!r} in the input dict, or pass y with a compiled loss"
                )
            y, sample_weight = targets
        return super().compute_metrics(x, y, self._for_compiled(y_pred), sample_weight)

    def _metric_targets(self, x, sample_weight=None):
        """(targets, sample_weight) for compiled metrics from the input dict `x`, or None."""
        labels = x.get(self.metric_labels)
        return None if labels is None else self._targets(labels, sample_weight)

    def _targets(self, labels, sample_weight=None):
        # Class indices, -100 weighted out, the others by their sample weights.
        targets, counted = losses.counted_targets(labels)
        return targets, weighted(counted, sample_weight)

    def _for_compiled(self, y_pred):
        return y_pred[self.main_output] if isinstance(y_pred, dict) else y_pred
