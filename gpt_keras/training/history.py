"""`LossHistory`: the loss of every training step and of every evaluation during `fit`, for loss curves."""
import keras


class LossHistory(keras.callbacks.Callback):
    """Records each optimizer step's own training loss and the validation loss of each evaluation.

    Keras logs after each batch the mean loss of the epoch so far (what its progress bar shows): drawn
    as a curve it restarts at every epoch, a sawtooth. This callback recovers each step's loss from
    consecutive means: with m_k the mean after k batches of one size, batch k's loss is
    k * m_k - (k - 1) * m_(k-1). Keras weighs the mean by batch size, which a callback does not see,
    so the last, smaller batch of an epoch (when there is one; `data.epoch_stream` has none) gets a
    value off by its share of the difference. With `steps_per_execution` > 1 each record is the mean
    of the steps of one execution. Batches that `ResumableCheckpoint` skips after a restart are not
    recorded: the curve of a resumed run starts where it resumed.

    Attributes:
        steps: The global step (optimizer iterations) after each recorded training step.
        losses: The loss of each of those steps.
        validation_steps: The global step of each evaluation (at the ends of epochs).
        validation_losses: `val_loss` at each of those.

    Example:
        >>> history = LossHistory()
        >>> model.fit(train, epochs=3, validation_data=valid, callbacks=[history])  # doctest: +SKIP
        >>> history.plot("loss_curve.png", title="fine-tuning")  # doctest: +SKIP
    """

    def __init__(self):
        super().__init__()
        self.steps, self.losses = [], []
        self.validation_steps, self.validation_losses = [], []
        self._last_batch = -1
        self._epoch_batches = 0
        self._epoch_total = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        # Keras resets its loss mean at every epoch start, and so does the sum it is undone with.
        self._last_batch, self._epoch_batches, self._epoch_total = -1, 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        new_batches, self._last_batch = batch - self._last_batch, batch
        if not logs or "loss" not in logs:
            return  # a batch skipped on resuming: not trained on, not in Keras' mean
        batches = self._epoch_batches + new_batches
        total = float(logs["loss"]) * batches
        self.steps.append(self._global_step())
        self.losses.append((total - self._epoch_total) / new_batches)
        self._epoch_batches, self._epoch_total = batches, total

    def on_epoch_end(self, epoch, logs=None):
        if logs and "val_loss" in logs:
            self.validation_steps.append(self._global_step())
            self.validation_losses.append(float(logs["val_loss"]))

    def _global_step(self):
        # Variable.numpy(): converting the variable itself warns under NumPy 2 (no `copy` argument), every step.
        return int(self.model.optimizer.iterations.numpy())

    def plot(self, path, title="Training loss", perplexity_axis=False, baselines=None):
        """Draws the recorded curve with `gpt_keras.plotting.plot_loss_curve` (see there).

        Returns:
            The `CurveFile` written: the PNG, or a CSV when matplotlib is not installed.
        """
        from gpt_keras.plotting import plot_loss_curve

        validation = (self.validation_steps, self.validation_losses) if self.validation_steps else None
        return plot_loss_curve(
            path, (self.steps, self.losses), validation, title=title, perplexity_axis=perplexity_axis, baselines=baselines
        )
