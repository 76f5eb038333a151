"""The paper's fine-tuning optimizer: `OpenAIAdam` on a `WarmupLinearSchedule`, the recipe's constants
(`PAPER_RECIPE`, `paper_config`) and the mixed-precision policy for this machine.

Radford et al. (2018), section 4.1, fine-tune with the pre-training optimizer: Adam (b1 0.9, b2 0.999,
eps 1e-8), learning rate 6.25e-5 warmed up linearly over 0.2% of the steps then decayed linearly to 0,
weight decay 0.01 on every weight but biases and LayerNorm gains, gradient norm clipped at 1, batch 32,
3 epochs, dropout 0.1 in the classifier, and the auxiliary LM loss weighted 0.5 (the double-heads
model's `lm_coef`). The original code (openai/finetune-transformer-lm, `opt.py`) decays weights the
decoupled way, `w -= lr_t * (adam_step + 0.01 * w)` with `lr_t` the bias-corrected step size, and only
on tensors of rank > 1; `OpenAIAdam` reproduces that update exactly.
"""
import keras
import tensorflow as tf
from keras import ops

from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.models import _keras_compat

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
class OpenAIAdam(_keras_compat.ReplicaConsistentClipping, keras.optimizers.Optimizer):
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
        return self.decoupled_weight_decay > 0 and len(variable.shape) > 1 and _keras_compat.uses_weight_decay(self, variable)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        step_size = learning_rate * ops.sqrt(1 - ops.power(ops.cast(self.beta_2, dtype), step)) / (
            1 - ops.power(ops.cast(self.beta_1, dtype), step)
        )
        index = _keras_compat.optimizer_variable_index(self, variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        update = ops.divide(m, ops.add(ops.sqrt(v), self.epsilon))
        if self.decays(variable):
            update = ops.add(update, ops.multiply(variable, ops.cast(self.decoupled_weight_decay, dtype)))
        self.assign_sub(variable, ops.multiply(update, step_size))

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
