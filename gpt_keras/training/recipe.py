"""`finetune`: the paper's fine-tuning recipe in one call, shared by `gpt-keras finetune` and the examples.

It puts together what a resumable fine-tuning run needs and what is easy to get subtly wrong when
copied: the optimizer's total steps from the data, the restart epoch passed both to the data and to
`fit`, the per-epoch order that survives a restart, and the per-step loss history.
"""
import dataclasses

import keras

from gpt_keras import data
from gpt_keras.training.callbacks import ProgressBar
from gpt_keras.training.checkpoint import ResumableCheckpoint
from gpt_keras.training.history import LossHistory
from gpt_keras.training.optimizer import PAPER_RECIPE, paper_optimizer


@dataclasses.dataclass(frozen=True)
class FinetuneResult:
    """What `finetune` did.

    Attributes:
        history: The `keras.callbacks.History` of `fit` (epoch means: `loss`, `val_loss`, ...).
        loss_history: The `LossHistory`: every step's loss and every validation loss, for a curve.
        steps_per_epoch: Optimizer steps in one epoch.
        initial_epoch: The epoch training started in (> 0 when resumed from a checkpoint).
        nan_stop: `ResumableCheckpoint.nan_stop` when a NaN loss stopped training, else None.
    """

    history: keras.callbacks.History
    loss_history: LossHistory
    steps_per_epoch: int
    initial_epoch: int
    nan_stop: dict | None = None

    @property
    def final_loss(self):
        """The last epoch's mean training loss; None when nothing was left to train (a finished run resumed)."""
        losses = self.history.history.get("loss")
        return losses[-1] if losses else None


def finetune(
    model,
    features,
    epochs=PAPER_RECIPE["epochs"],
    batch_size=None,
    learning_rate=None,
    warmup=None,
    shuffle_seed=0,
    checkpoint_dir=None,
    save_every_steps=None,
    validation=None,
    callbacks=(),
    verbose="auto",
    log=None,
):
    """Compiles `model` with the paper's optimizer and fits it on `features`, resumably.

    The batches come from `data.epoch_stream` (each epoch's order depends only on the seed and the
    epoch; the last partial batch is dropped), so that a run restarted from `checkpoint_dir` sees the
    batches the interrupted one would have: rerunning the same call continues where it stopped and
    ends with the same weights; a finished run resumed trains nothing.

    Args:
        model: A gpt_keras model whose features carry their labels (`labels`, `mc_labels`).
        features: The training features, a dict of arrays (from `data.*_features`).
        epochs: Epochs of the whole run (the paper's 3).
        batch_size: Examples per step; None for the paper's 32.
        learning_rate: Peak rate of the schedule; None for the paper's 6.25e-5.
        warmup: Warm-up fraction of the steps; None for the paper's 0.002.
        shuffle_seed: Seed of the per-epoch order; None for the same order every epoch.
        checkpoint_dir: Where a `ResumableCheckpoint` saves and resumes (and stops on a NaN loss); None for none.
        save_every_steps: With `checkpoint_dir`, also save every this many steps (else at epoch ends only).
        validation: Held-out features (or a dataset of batches) to evaluate at each epoch end; None for none.
        callbacks: More Keras callbacks.
        verbose: "auto" for a `ProgressBar` on stdout (a bar with the elapsed and remaining time on a
            terminal, a few lines otherwise); 0 for silence; 1 or 2 for Keras' own epoch display.
        log: Called with one line saying what is trained before training starts; None for silence.

    Returns:
        A `FinetuneResult`.

    Example:
        >>> result = finetune(model, data.causal_lm_features(tokenizer, 512, files=["train.txt"]),
        ...                   checkpoint_dir="runs/lm/checkpoints", save_every_steps=200)  # doctest: +SKIP
        >>> result.loss_history.plot("runs/lm/loss_curve.png")  # doctest: +SKIP
    """
    if save_every_steps is not None and checkpoint_dir is None:
        raise ValueError("save_every_steps needs a checkpoint_dir to save into")
    batch_size = batch_size or PAPER_RECIPE["batch_size"]
    progress = ProgressBar() if verbose == "auto" else None
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = ResumableCheckpoint(checkpoint_dir, save_every_steps=save_every_steps, verbose=int(verbose != 0))
    # The restart epoch goes to the data and to fit alike: fit then counts epochs as the first run did.
    initial_epoch = 0 if checkpoint is None else checkpoint.initial_epoch
    stream, steps = data.epoch_stream(features, batch_size, epochs, shuffle_seed=shuffle_seed, initial_epoch=initial_epoch)
    model.compile(
        optimizer=paper_optimizer(
            epochs * steps,
            learning_rate=learning_rate or PAPER_RECIPE["learning_rate"],
            warmup=PAPER_RECIPE["warmup"] if warmup is None else warmup,
        )
    )
    if log is not None:
        examples = len(next(iter(features.values())))
        log(f"training: {examples:,} examples, {steps} steps x {epochs} epochs of batch {batch_size}")
    if isinstance(validation, dict):
        validation = data.to_dataset(validation, batch_size)
    loss_history = LossHistory()
    history = model.fit(
        stream,
        epochs=epochs,
        steps_per_epoch=steps,
        initial_epoch=initial_epoch,
        validation_data=validation,
        # The checkpoint first: it loads the saved weights before the other callbacks start.
        callbacks=[callback for callback in (checkpoint, loss_history, progress) if callback is not None] + list(callbacks),
        shuffle=False,  # epoch_stream shuffles, by epoch
        verbose=0 if progress is not None else verbose,
    )
    return FinetuneResult(
        history=history,
        loss_history=loss_history,
        steps_per_epoch=steps,
        initial_epoch=initial_epoch,
        nan_stop=None if checkpoint is None else checkpoint.nan_stop,
    )
