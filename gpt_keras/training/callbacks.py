"""Callbacks for `fit` and `evaluate`: `ProgressBar`, a progress line with the elapsed and remaining
time and the current loss (Keras' own shows `Epoch 1/10000` for a time-bounded run), and
`TimeBudget`, which stops training after a number of seconds.

    >>> budget = TimeBudget(150)  # doctest: +SKIP
    >>> model.fit(train, epochs=10_000, callbacks=[budget, ProgressBar(budget=budget)], verbose=0)  # doctest: +SKIP
    training: 40% [##########--------------] 1:00 elapsed, 1:30 left, step 1,234, loss 3.412, val_loss 3.530
"""
import sys
import time

import keras

from gpt_keras.progress import Progress


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of training have passed.

    The clock starts after the first step, which compiles the XLA train step (several seconds on a
    CPU): the budget is spent training, also in a run of a few seconds.

    Args:
        seconds: The training time.

    Attributes:
        steps: Training steps run.
        elapsed: Seconds trained since the first step ended.
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.steps, self.elapsed = seconds, 0, 0.0
        self._start = None

    @property
    def remaining(self):
        """Seconds of the budget left."""
        return max(0.0, self.seconds - self.elapsed)

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self._start is None:
            self._start = time.perf_counter()
            return
        self.elapsed = time.perf_counter() - self._start
        if self.elapsed >= self.seconds:
            self.model.stop_training = True


class ProgressBar(keras.callbacks.Callback):
    """A `gpt_keras.progress.Progress` line over `fit` (and over `evaluate` outside of `fit`).

    Training is counted in steps of the whole run (`epochs x steps per epoch`, from `fit`'s own
    parameters; a resumed run starts at its global step), or, given a `TimeBudget`, in its seconds.
    After the times the line shows the epoch (or, in seconds, the global step), the loss (Keras' mean
    over the epoch so far) and the last `val_loss`. Pass `verbose=0` to `fit` so that Keras' own
    display is off.

    Args:
        label: What the line says is done.
        budget: The `TimeBudget` that ends training, or None when the epochs do.
        evaluation_label: The label of `evaluate`'s line.
        stream: Where to write; None for `sys.stdout` (where Keras' bar goes).
        quiet: Print nothing (the callback then only costs a few attribute reads per step).
    """

    def __init__(self, label="training", budget=None, evaluation_label="evaluating", stream=None, quiet=False):
        super().__init__()
        self.label, self.budget, self.evaluation_label, self.quiet = label, budget, evaluation_label, quiet
        self.stream = stream
        self._training = None
        self._evaluation = None
        self._validation_loss = None
        self._loss = None
        self._epoch = None

    def on_train_begin(self, logs=None):
        stream = sys.stdout if self.stream is None else self.stream
        if self.budget is not None:
            self._training = Progress(self.label, self.budget.seconds, None, self.quiet, stream)
        else:
            epochs, steps = self.params.get("epochs"), self.params.get("steps")
            self._training = Progress(self.label, epochs * steps if epochs and steps else None, "steps", self.quiet, stream)
            # A resumed run counts from where it resumed: the first run's steps are done already.
            self._training.done = self._global_step()
        self._training.status("compiling the train step")

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:  # a batch skipped on resuming has no loss, and no step
            self._loss = float(logs["loss"])
        step = self._global_step()
        if self.budget is None:
            self._training.update(step - self._training.done, self._note(step))
        else:
            self._training.update(self.budget.elapsed - self._training.done, self._note(step), self.budget.remaining)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if logs and "val_loss" in logs:
            self._validation_loss = float(logs["val_loss"])
            self._training.update(0, self._note(self._global_step()))

    def on_train_end(self, logs=None):
        self._training.close(self._note(self._global_step()))
        self._training = None

    def on_test_begin(self, logs=None):
        if self._training is not None:  # validation inside fit shows in the training line
            self._training.status(f"{self._note(self._global_step())}, validating")
        else:
            stream = sys.stdout if self.stream is None else self.stream
            self._evaluation = Progress(self.evaluation_label, self.params.get("steps"), "batches", self.quiet, stream)

    def on_test_batch_end(self, batch, logs=None):
        if self._evaluation is not None:
            loss = f"loss {float(logs['loss']):.3f}" if logs and "loss" in logs else None
            self._evaluation.update(1, loss)

    def on_test_end(self, logs=None):
        if self._evaluation is not None:
            self._evaluation.close()
            self._evaluation = None

    def _note(self, step):
        # Counted in steps, the line shows the step already; counted in seconds, the epochs are many and short.
        if self.budget is None:
            parts = [f"epoch {self._epoch + 1}/{self.params['epochs']}"] if self._epoch is not None else []
        else:
            parts = [f"step {step:,}"]
        if self._loss is not None:
            parts.append(f"loss {self._loss:.3f}")
        if self._validation_loss is not None:
            parts.append(f"val_loss {self._validation_loss:.3f}")
        return ", ".join(parts)

    def _global_step(self):
        # Variable.numpy(): converting the variable itself warns under NumPy 2 (no `copy` argument), every step.
        return int(self.model.optimizer.iterations.numpy())
