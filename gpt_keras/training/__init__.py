"""The paper's fine-tuning recipe for `model.fit`, resumable NaN-safe checkpoints, and loss histories.

- `optimizer`: `OpenAIAdam` (the original `opt.py` update), `WarmupLinearSchedule`, `paper_optimizer`,
  `PAPER_RECIPE`, `paper_config`, `mixed_precision_policy`.
- `checkpoint`: `ResumableCheckpoint`, which resumes a killed run at the exact step.
- `history`: `LossHistory`, every step's loss and every validation loss, for a loss curve.
- `callbacks`: `ProgressBar` (elapsed and remaining time, the loss) and `TimeBudget` (stops after N seconds).
- `recipe`: `finetune(model, features, ...)`, all of the above in one call.

    >>> model = TFOpenAIGPTDoubleHeadsModel(config, lm_coef=PAPER_RECIPE["lm_coef"])  # doctest: +SKIP
    >>> model.compile(optimizer=paper_optimizer(total_steps=3 * steps_per_epoch))  # doctest: +SKIP
    >>> model.fit(train, epochs=3, callbacks=[ResumableCheckpoint("ckpt/", save_every_steps=100)])  # doctest: +SKIP

or, with the data, the restart epoch and the history handled:

    >>> result = finetune(model, features, checkpoint_dir="ckpt/", save_every_steps=100)  # doctest: +SKIP
"""
from gpt_keras.training.callbacks import ProgressBar, TimeBudget
from gpt_keras.training.checkpoint import STATE_FILE, ResumableCheckpoint
from gpt_keras.training.history import LossHistory
from gpt_keras.training.optimizer import (
    PAPER_RECIPE,
    OpenAIAdam,
    WarmupLinearSchedule,
    mixed_precision_policy,
    paper_config,
    paper_optimizer,
)
from gpt_keras.training.recipe import FinetuneResult, finetune

__all__ = [
    "PAPER_RECIPE",
    "STATE_FILE",
    "FinetuneResult",
    "LossHistory",
    "OpenAIAdam",
    "ProgressBar",
    "ResumableCheckpoint",
    "TimeBudget",
    "WarmupLinearSchedule",
    "finetune",
    "mixed_precision_policy",
    "paper_config",
    "paper_optimizer",
]
