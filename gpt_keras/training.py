"""The paper's fine-tuning recipe for `model.fit`, and resumable, NaN-safe checkpoints.

Radford et al. (2018), section 4.1, fine-tune with the pre-training optimizer: Adam (b1 0.9, b2 0.999,
eps 1e-8), learning rate 6.25e-5 warmed up linearly over 0.2% of the steps then decayed linearly to 0,
weight decay 0.01 on every weight but biases and LayerNorm gains, gradient norm clipped at 1, batch 32,
3 epochs, dropout 0.1 in the classifier, and the auxiliary LM loss weighted 0.5 (the double-heads
model's `lm_coef`). The original code (openai/finetune-transformer-lm, `opt.py`) decays weights the
decoupled way, `w -= lr_t * (adam_step + 0.01 * w)` with `lr_t` the bias-corrected step size, and only
on tensors of rank > 1; `OpenAIAdam` reproduces that update exactly.

    >>> model = TFOpenAIGPTDoubleHeadsModel(config, lm_coef=PAPER_RECIPE["lm_coef"])  # doctest: +SKIP
    >>> model.compile(optimizer=paper_optimizer(total_steps=3 * steps_per_epoch))  # doctest: +SKIP
    >>> model.fit(train, epochs=3, callbacks=[ResumableCheckpoint("ckpt/", save_every_steps=100)])  # doctest: +SKIP
"""
import json
import logging
import math
import os
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gpt_keras.configuration import OpenAIGPTConfig

logger = logging.getLogger("gpt_keras")

PAPER_RECIPE = {
    "learning_rate": 6.25e-5,
    "batch_size": 32,
    "epochs": 3,
    "warmup": 0.002,
    "weight_decay": 0.01,
    "clipnorm": 1.0,
    "lm_coef": 0.5,
    "classifier_dropout": 0.1,
    "dropout": 0.1,
}


def paper_config(config, **overrides):
    """A copy of `config` with the paper's fine-tuning dropout: 0.1 on residuals, attention,
    embeddings and before the multiple-choice head (`summary_first_dropout`, the original `clf_pdrop`).

    The classification model's dropout before `score` is a model argument, not a config field (the
    reference has none): `TFOpenAIGPTForSequenceClassification(config,
    classifier_dropout=PAPER_RECIPE["classifier_dropout"])`.

    Args:
        config: An `OpenAIGPTConfig` or its dict.
        **overrides: Further fields to set.

    Returns:
        A new `OpenAIGPTConfig`.
    """
    if isinstance(config, OpenAIGPTConfig):
        config = config.to_dict()
    dropout = PAPER_RECIPE["dropout"]
    fields = dict(
        resid_pdrop=dropout,
        attn_pdrop=dropout,
        embd_pdrop=dropout,
        summary_first_dropout=PAPER_RECIPE["classifier_dropout"],
    )
    return OpenAIGPTConfig.from_dict({**config, **fields, **overrides})


# === Optimizer ===


@keras.saving.register_keras_serializable(package="gpt_keras")
class WarmupLinearSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The original code's `warmup_linear`: with x = step / total_steps, the rate is
    `learning_rate * min(x / warmup, 1) * (1 - x)`, and 0 from `total_steps` on.

    The first step (step 0) has rate 0, as in the original; the peak `learning_rate * (1 - warmup)` is
    reached after `warmup * total_steps` steps.

    Args:
        learning_rate: Peak learning rate.
        total_steps: Number of optimizer steps of the whole run.
        warmup: Fraction of `total_steps` spent warming up (0.002 in the paper); 0 for none.
    """

    def __init__(self, learning_rate, total_steps, warmup=PAPER_RECIPE["warmup"]):
        if not total_steps or total_steps < 1:
            raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
        if not 0 <= warmup < 1:
            raise ValueError(f"warmup must be a fraction in [0, 1), got {warmup!r}")
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup = float(warmup)

    def __call__(self, step):
        x = ops.cast(step, "float32") / float(self.total_steps)
        warm = ops.minimum(x / self.warmup, 1.0) if self.warmup > 0 else 1.0
        return self.learning_rate * warm * ops.maximum(1.0 - x, 0.0)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "total_steps": self.total_steps, "warmup": self.warmup}


@keras.saving.register_keras_serializable(package="gpt_keras")
class OpenAIAdam(keras.optimizers.Optimizer):
    """Adam with the original GPT code's decoupled weight decay, applied to weights of rank > 1 only.

    For each variable, with t the step (from 1), g its gradient and lr the scheduled rate:

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)
        w -= lr_t * (m / (sqrt(v) + eps) + weight_decay * w)     (decay only if rank(w) > 1)

    This is Keras' `Adam` plus a decay term scaled by the *bias-corrected* step size, which differs
    from `keras.optimizers.AdamW` (decay scaled by `lr` alone) in the first few thousand steps. Rank > 1
    excludes every bias and LayerNorm gain/offset, as the paper says; embeddings and kernels decay.
    `exclude_from_weight_decay(var_names=[...])` excludes more by name.

    Args:
        learning_rate: A float or a schedule (see `WarmupLinearSchedule`).
        beta_1, beta_2, epsilon: Adam's constants.
        weight_decay: Decoupled decay rate (0.01 in the paper); 0 for plain Adam.
        global_clipnorm: Clip the global gradient norm to this (1.0 in the paper); None for no clipping.
        name: Optimizer name.
        **kwargs: Other `keras.optimizers.Optimizer` arguments.
    """

    def __init__(
        self,
        learning_rate=PAPER_RECIPE["learning_rate"],
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=PAPER_RECIPE["weight_decay"],
        global_clipnorm=PAPER_RECIPE["clipnorm"],
        name="openai_adam",
        **kwargs,
    ):
        # The base class would apply its own (AdamW-style) decay: the decay happens in update_step.
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.decoupled_weight_decay = float(weight_decay or 0.0)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def decays(self, variable):
        """Whether `variable` is decayed: rank > 1 and not excluded by `exclude_from_weight_decay`."""
        return self.decoupled_weight_decay > 0 and len(variable.shape) > 1 and self._use_weight_decay(variable)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        step_size = learning_rate * ops.sqrt(1 - ops.power(ops.cast(self.beta_2, dtype), step)) / (
            1 - ops.power(ops.cast(self.beta_1, dtype), step)
        )
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        update = ops.divide(m, ops.add(ops.sqrt(v), self.epsilon))
        if self.decays(variable):
            update = ops.add(update, ops.multiply(variable, ops.cast(self.decoupled_weight_decay, dtype)))
        self.assign_sub(variable, ops.multiply(update, step_size))

    def _clip_gradients(self, grads):
        # Keras clips each replica's gradients before they are summed across replicas, which clips a
        # different vector than one device would. Scale every replica's gradients by the factor of the
        # summed gradient instead: their sum is then exactly the clipped global gradient.
        context = tf.distribute.get_replica_context()
        if not self.global_clipnorm or context is None or context.num_replicas_in_sync == 1:
            return super()._clip_gradients(grads)
        dense = [None if g is None else tf.convert_to_tensor(g) for g in grads]
        summed = context.all_reduce("SUM", [g for g in dense if g is not None])
        scale = tf.minimum(1.0, self.global_clipnorm / tf.maximum(tf.linalg.global_norm(summed), 1e-12))
        return [None if g is None else g * tf.cast(scale, g.dtype) for g in dense]

    def get_config(self):
        config = super().get_config()
        config.update(
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            weight_decay=self.decoupled_weight_decay,
        )
        return config


def paper_optimizer(
    total_steps,
    learning_rate=PAPER_RECIPE["learning_rate"],
    warmup=PAPER_RECIPE["warmup"],
    weight_decay=PAPER_RECIPE["weight_decay"],
    clipnorm=PAPER_RECIPE["clipnorm"],
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
):
    """The paper's fine-tuning optimizer: `OpenAIAdam` on a `WarmupLinearSchedule`.

    Args:
        total_steps: Optimizer steps of the whole run (epochs * steps per epoch); the rate reaches 0 there.
        learning_rate: Peak rate (6.25e-5 in the paper).
        warmup: Warm-up fraction of `total_steps` (0.2%).
        weight_decay: Decoupled decay of weights of rank > 1 (0.01).
        clipnorm: Global gradient-norm clip (1.0); None for none.
        beta_1, beta_2, epsilon: Adam's constants.

    Returns:
        An `OpenAIAdam` for `model.compile(optimizer=...)`.

    Example:
        >>> model.compile(optimizer=paper_optimizer(total_steps=3 * len(train_dataset)))  # doctest: +SKIP
    """
    schedule = WarmupLinearSchedule(learning_rate, total_steps, warmup)
    return OpenAIAdam(
        schedule,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        weight_decay=weight_decay,
        global_clipnorm=clipnorm,
    )


# === Mixed precision ===


def mixed_precision_policy():
    """The mixed-precision policy for this machine: "mixed_float16" when a GPU is visible (Keras'
    `compile` then wraps the optimizer in a `LossScaleOptimizer`, so small float16 gradients do not
    underflow), else "mixed_bfloat16" (CPUs and TPUs; bfloat16 has float32's range, no loss scaling).

    Returns:
        The policy name, to pass as a model's `dtype=` or to `keras.mixed_precision.set_dtype_policy`.
    """
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


# === Checkpoints ===

STATE_FILE = "state.json"


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves weights and optimizer state during `fit`, resumes an interrupted run at the exact step,
    and stops cleanly on a NaN loss, keeping the last good checkpoint.

    A checkpoint is written every `save_every_steps` optimizer steps and at the end of every epoch,
    as `step-<global step>.weights.h5` plus `state.json` (epoch, step within the epoch, global step,
    loss), each replaced atomically: a process killed while saving leaves the previous checkpoint
    whole. Only a state whose loss and weights are all finite is saved.

    When `fit` starts and the directory holds a checkpoint, the weights and optimizer state are
    loaded, `fit` starts at the saved epoch, and the batches of that epoch that were already trained
    on are read and skipped (not trained on again). For the resumed run to end with the same weights
    as an uninterrupted one, the dataset must yield the same batches in that epoch as the first run
    did: a fixed order, or `gpt_keras.data.epoch_stream`, whose order depends only on the epoch
    (a `tf.data` shuffle reshuffles by how often it was iterated *in this process*, which differs after
    a restart). Dropout masks are not reproduced across a restart.

    On a NaN or infinite loss, training stops, a message names the step and the last good checkpoint,
    and (with `restore_on_nan`) the model's weights are put back to that checkpoint.

    Under `MultiWorkerMirroredStrategy` only the chief writes (the workers' weights are identical) and
    every worker resumes from the same files, so `directory` must be on storage all workers see.

    Args:
        directory: Where checkpoints go (created if needed).
        save_every_steps: Save every this many optimizer steps; None to save at epoch ends only.
        restore_on_nan: After a NaN stop, reload the last good checkpoint into the model.
        verbose: Print what is saved and resumed (to stderr).

    Example:
        >>> checkpoint = ResumableCheckpoint("run/ckpt", save_every_steps=200)  # doctest: +SKIP
        >>> train, steps = data.epoch_stream(features, 8, epochs=3, initial_epoch=checkpoint.initial_epoch)  # doctest: +SKIP
        >>> model.fit(train, epochs=3, steps_per_epoch=steps, initial_epoch=checkpoint.initial_epoch,
        ...           callbacks=[checkpoint])  # doctest: +SKIP
    """

    def __init__(self, directory, save_every_steps=None, restore_on_nan=True, verbose=0):
        super().__init__()
        if save_every_steps is not None and (not isinstance(save_every_steps, int) or save_every_steps < 1):
            raise ValueError(f"save_every_steps must be a positive int or None, got {save_every_steps!r}")
        self.directory = Path(directory)
        self.save_every_steps = save_every_steps
        self.restore_on_nan = restore_on_nan
        self.verbose = verbose
        self.nan_stop = None
        self._to_skip = 0
        self._train_function = None
        self._epoch = 0

    # --- state on disk ---
    def read_state(self):
        """The saved state as a dict (epoch, step_in_epoch, global_step, loss, weights), or None."""
        path = self.directory / STATE_FILE
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None
        weights = self.directory / state["weights"]
        if not weights.is_file():
            raise FileNotFoundError(f"{path} names {weights}, which does not exist")
        return state

    @property
    def initial_epoch(self):
        """The epoch a resumed `fit` starts in (0 without a checkpoint): pass it to `fit` and the data."""
        state = self.read_state()
        return 0 if state is None else state["epoch"]

    @property
    def last_checkpoint(self):
        """Path of the last good weights file, or None."""
        state = self.read_state()
        return None if state is None else self.directory / state["weights"]

    def _global_step(self):
        return int(ops.convert_to_numpy(self.model.optimizer.iterations))

    @property
    def writes_checkpoints(self):
        """Whether this process writes: True except on multi-worker workers other than the chief."""
        model = self.model
        strategy = getattr(model, "distribute_strategy", None) if model is not None else None
        return (strategy or tf.distribute.get_strategy()).extended.should_checkpoint

    def _save(self, epoch, step_in_epoch, loss):
        if not self.writes_checkpoints:
            return
        if not all(np.isfinite(ops.convert_to_numpy(w)).all() for w in self.model.trainable_weights):
            self._say(f"not saving at epoch {epoch}, step {step_in_epoch}: the weights hold NaN or inf")
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        global_step = self._global_step()
        name = f"step-{global_step:09d}.weights.h5"
        partial = self.directory / f"partial-{name}"
        self.model.save_weights(partial)
        os.replace(partial, self.directory / name)
        state = {
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "loss": loss,
            "weights": name,
            "steps_per_epoch": (self.params or {}).get("steps"),
        }
        state_partial = self.directory / f"{STATE_FILE}.partial"
        state_partial.write_text(json.dumps(state, indent=1))
        os.replace(state_partial, self.directory / STATE_FILE)
        for old in self.directory.glob("*step-*.weights.h5"):
            if old.name != name:
                old.unlink()
        self._say(f"saved {self.directory / name} (epoch {epoch}, step {step_in_epoch}, global step {global_step})")

    def _say(self, message):
        if self.verbose:
            print(f"ResumableCheckpoint: {message}", file=sys.stderr, flush=True)

    def _load(self, state):
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.directory / state["weights"])

    # --- callback hooks ---
    def on_train_begin(self, logs=None):
        self.nan_stop = None
        state = self.read_state()
        if state is None:
            return
        saved_steps, steps = state.get("steps_per_epoch"), (self.params or {}).get("steps")
        if state["step_in_epoch"] and saved_steps and steps and saved_steps != steps:
            # The position is a count of batches: with other batches it would skip the wrong examples.
            raise ValueError(
                f"{self.directory} holds a run with {saved_steps} steps per epoch, stopped after step "
                f"{state['step_in_epoch']}; this fit has {steps}. Resume with the same data and batch size, "
                "or use another checkpoint directory"
            )
        self._load(state)
        # As keras.callbacks.BackupAndRestore does: fit reads this in place of its initial_epoch.
        self.model._initial_epoch = state["epoch"]
        self._to_skip = state["step_in_epoch"]
        if self._to_skip:
            self._train_function = self.model.train_function
            self.model.train_function = self._skip_batch
        self._say(
            f"resumed from {state['weights']}: epoch {state['epoch'] + 1}, after step {state['step_in_epoch']} "
            f"(global step {state['global_step']})"
        )

    def _skip_batch(self, iterator):
        # Called by fit in place of the train function, which reads its steps' batches from the
        # iterator itself (or gets them as a list): read them and train on nothing, since they were
        # trained on before the restart.
        if isinstance(iterator, list):
            count = len(iterator)
        else:
            count = self.model.steps_per_execution
            for _ in range(count):
                next(iterator)
        self._to_skip -= count
        if self._to_skip <= 0:
            self.model.train_function = self._train_function
            self._train_function = None
        return {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not logs or self.nan_stop is not None:
            return  # a skipped batch, or already stopped
        loss = float(logs.get("loss", 0.0))
        if not math.isfinite(loss):
            self._stop_on_nan(batch, loss)
            return
        if self.save_every_steps and self._global_step() % self.save_every_steps == 0:
            self._save(self._epoch, batch + 1, loss)

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_stop is not None:
            return
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self._stop_on_nan(None, loss)
            return
        self._save(epoch + 1, 0, loss)

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None
        if self._train_function is not None:
            self.model.train_function = self._train_function
            self._train_function = None

    def _stop_on_nan(self, batch, loss):
        self.model.stop_training = True
        state = self.read_state()
        where = f"epoch {self._epoch + 1}" + ("" if batch is None else f", step {batch + 1}")
        if state is None:
            kept = "no checkpoint had been saved yet"
        else:
            kept = f"the last good checkpoint is {self.directory / state['weights']} (global step {state['global_step']})"
            if self.restore_on_nan:
                self._load(state)
                kept += "; the model's weights were restored from it"
        self.nan_stop = {"epoch": self._epoch, "batch": batch, "loss": loss, "checkpoint": state}
        message = f"loss became {loss} at {where}; training stopped. {kept}"
        logger.error("ResumableCheckpoint: %s", message)
        print(f"ResumableCheckpoint: {message}", file=sys.stderr, flush=True)
