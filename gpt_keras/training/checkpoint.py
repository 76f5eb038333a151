"""Resumable, NaN-safe checkpoints for `model.fit`: `ResumableCheckpoint`.

Each checkpoint is a Keras weights file (weights and optimizer state) and `state.json` (where in the
run it was taken), both replaced atomically through `gpt_keras._fs`.
"""
import json
import logging
import math
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gpt_keras import _fs
from gpt_keras._fs import atomic_replace, atomic_write_json
from gpt_keras.models import _keras_compat

logger = logging.getLogger("gpt_keras")

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
        self.model.save_weights(partial)  # Keras writes to a path: fill a sibling, then rename it in
        _fs.at_step("wrote weights")
        atomic_replace(partial, self.directory / name)
        _fs.at_step("renamed weights")
        state = {
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "loss": loss,
            "weights": name,
            "steps_per_epoch": (self.params or {}).get("steps"),
        }
        atomic_write_json(self.directory / STATE_FILE, state, indent=1)
        _fs.at_step("wrote state")
        for old in self.directory.glob("*step-*.weights.h5"):
            if old.name != name:
                old.unlink()
        _fs.at_step("removed old weights")
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
        _keras_compat.set_resume_epoch(self.model, state["epoch"])
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
        _keras_compat.set_resume_epoch(self.model, None)
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
