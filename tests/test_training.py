"""The paper's recipe (optimizer, schedule, weight-decay exclusions), learning with `fit` through the
data pipelines, the fixtures' losses through `evaluate`, mixed precision, and the NaN stop."""
import io
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import gpt_keras.progress
from gpt_keras import (
    OpenAIGPTConfig,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    data,
    evaluation,
    training,
)

NO_DROPOUT = dict(resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0, summary_first_dropout=0.0)
TINY = dict(vocab_size=40, n_positions=24, n_embd=32, n_layer=2, n_head=4, **NO_DROPOUT)


# === Schedule and optimizer, against the original code's formulas ===


def original_warmup_linear(x, warmup):
    # openai/finetune-transformer-lm, opt.py: s = x <= warmup; (s * (x / warmup) + (1 - s)) * (1 - x)
    s = float(x <= warmup)
    return (s * (x / warmup) + (1 - s)) * (1 - x)


def test_schedule_is_the_original_warmup_linear():
    schedule = training.WarmupLinearSchedule(6.25e-5, total_steps=1000, warmup=0.002)
    for step in (0, 1, 2, 3, 500, 999):
        want = 6.25e-5 * original_warmup_linear(step / 1000, 0.002)
        np.testing.assert_allclose(float(schedule(step)), want, rtol=1e-6, atol=1e-12)
    assert float(schedule(0)) == 0.0
    assert float(schedule(1000)) == 0.0 and float(schedule(1200)) == 0.0  # never negative
    restored = training.WarmupLinearSchedule.from_config(schedule.get_config())
    assert float(restored(300)) == float(schedule(300))


def original_adam_steps(params, grads_per_step, lr_per_step, l2, max_grad_norm, b1=0.9, b2=0.999, e=1e-8):
    """The original opt.py `adam` in numpy: global-norm clipping, then decoupled decay of rank > 1 tensors."""
    params = [p.astype(np.float64).copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, (grads, lr) in enumerate(zip(grads_per_step, lr_per_step), start=1):
        norm = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
        grads = [g * min(1.0, max_grad_norm / norm) for g in grads]
        lrt = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            step = m[i] / (np.sqrt(v[i]) + e)
            if params[i].ndim > 1:
                step = step + l2 * params[i]
            params[i] = params[i] - lrt * step
    return params


def test_openai_adam_is_the_original_update_with_decay_on_matrices_only():
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32)
    grads = [[rng.normal(size=(3, 4)).astype(np.float32) * 3, rng.normal(size=(4,)).astype(np.float32)] for _ in range(4)]
    schedule = training.WarmupLinearSchedule(0.1, total_steps=10, warmup=0.2)
    optimizer = training.paper_optimizer(total_steps=10, learning_rate=0.1, warmup=0.2, weight_decay=0.5, clipnorm=1.0)
    variables = [keras.Variable(kernel, name="kernel"), keras.Variable(bias, name="bias")]
    for step_grads in grads:
        optimizer.apply_gradients(zip([tf.constant(g) for g in step_grads], variables))
    want = original_adam_steps([kernel, bias], grads, [float(schedule(t)) for t in range(4)], l2=0.5, max_grad_norm=1.0)
    for variable, expected in zip(variables, want):
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    # The decay term matters here: without it the kernel would end elsewhere.
    undecayed = original_adam_steps([kernel, bias], grads, [float(schedule(t)) for t in range(4)], l2=0.0, max_grad_norm=1.0)
    assert np.abs(undecayed[0] - want[0]).max() > 1e-3


def test_weight_decay_skips_biases_and_layer_norms_on_every_model():
    optimizer = training.paper_optimizer(total_steps=10)
    for model in (
        TFOpenAIGPTDoubleHeadsModel(OpenAIGPTConfig(**TINY)),
        TFOpenAIGPTForSequenceClassification(OpenAIGPTConfig(**TINY, num_labels=3)),
    ):
        decayed = {v.path for v in model.trainable_variables if optimizer.decays(v)}
        for variable in model.trainable_variables:
            leaf = variable.path.split("/")[-1]
            assert (variable.path in decayed) == (leaf in ("kernel", "embeddings")), variable.path
    optimizer.exclude_from_weight_decay(var_names=["embeddings"])
    assert not any(optimizer.decays(v) for v in model.transformer.embeddings.trainable_variables)
    restored = training.OpenAIAdam.from_config(optimizer.get_config())
    assert restored.decoupled_weight_decay == 0.01 and restored.global_clipnorm == 1.0


def test_paper_config_sets_the_papers_dropout():
    config = training.paper_config(OpenAIGPTConfig(**TINY), n_layer=1)
    assert (config.resid_pdrop, config.attn_pdrop, config.embd_pdrop, config.summary_first_dropout) == (0.1,) * 4
    assert config.n_layer == 1 and config.n_embd == 32


# === The fixtures' losses through fit's loss path ===


def test_evaluate_gives_the_reference_losses_of_the_fixtures(tiny_dir, expected):
    lm = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    lm.compile(optimizer="adam")
    inputs = {k: expected[k] for k in ("input_ids", "attention_mask", "labels")}
    np.testing.assert_allclose(lm.evaluate(inputs, batch_size=2, verbose=0), expected["lm.loss"], atol=1e-5)

    dh = TFOpenAIGPTDoubleHeadsModel.from_pretrained(tiny_dir / "double-heads", lm_coef=0.5)
    dh.compile(optimizer="adam")
    inputs = {k: expected[f"dh.{k}"] for k in ("input_ids", "mc_token_ids", "labels", "mc_labels")}
    outputs = dh(**inputs)
    np.testing.assert_allclose(float(outputs["loss"]), expected["dh.loss"], atol=1e-5)
    np.testing.assert_allclose(float(outputs["mc_loss"]), expected["dh.mc_loss"], atol=1e-5)
    want = expected["dh.mc_loss"] + 0.5 * expected["dh.loss"]
    logs = dh.evaluate(inputs, batch_size=2, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], want, atol=1e-5)
    np.testing.assert_allclose(logs["mc_loss"], expected["dh.mc_loss"], atol=1e-5)
    np.testing.assert_allclose(logs["lm_loss"], expected["dh.loss"], atol=1e-5)

    sc = TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls")
    sc.compile(optimizer="adam")
    inputs = {"input_ids": expected["sc.input_ids"], "labels": expected["sc.labels"]}
    np.testing.assert_allclose(sc.evaluate(inputs, batch_size=3, verbose=0), expected["sc.loss"], atol=1e-5)


# === Learning ===


def synthetic_multiple_choice(n, rng, choices=3, seq=8, vocab=40):
    """The right choice ends with the context's first token; the others end with a different one."""
    ids = rng.integers(4, vocab, (n, choices, seq))
    ids[:, :, :4] = ids[:, :1, :4]  # one shared context per example
    labels = rng.integers(0, choices, n)
    for i in range(n):
        for j in range(choices):
            if j == labels[i]:
                ids[i, j, 5] = ids[i, j, 0]
            else:
                ids[i, j, 5] = 4 + (ids[i, j, 0] - 4 + rng.integers(1, vocab - 4)) % (vocab - 4)
    ids[:, :, 7] = 1  # the classify token
    return {
        "input_ids": ids.astype(np.int32),
        "mc_token_ids": np.full((n, choices), seq - 1, np.int32),
        "labels": ids.astype(np.int32),
        "mc_labels": labels.astype(np.int32),
    }


def test_double_heads_reaches_95_percent_on_a_learnable_multiple_choice_task():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train, held_out = synthetic_multiple_choice(512, rng), synthetic_multiple_choice(128, rng)
    model = TFOpenAIGPTDoubleHeadsModel(OpenAIGPTConfig(**TINY), lm_coef=training.PAPER_RECIPE["lm_coef"])
    epochs, batch_size = 12, 32
    total = epochs * data.steps_per_epoch(train, batch_size)
    model.compile(optimizer=training.paper_optimizer(total, learning_rate=3e-3), jit_compile=True)
    model.fit(data.to_dataset(train, batch_size, shuffle_seed=0, drop_remainder=True), epochs=epochs, verbose=0)
    result = evaluation.multiple_choice_accuracy(model, held_out, batch_size=64)
    assert result["examples"] == 128
    assert result["accuracy"] >= 0.95, result


def test_lm_loss_on_repeated_text_halves_and_perplexity_follows(vocab_dir):
    from gpt_keras.tokenizer import OpenAIGPTTokenizer

    keras.utils.set_random_seed(0)
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    text = "the quick brown fox jumps over the lazy dog and runs back home again ."
    features = data.causal_lm_features(tokenizer, block_size=16, texts=[text] * 40, quiet=True)
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**{**TINY, "vocab_size": tokenizer.vocab_size}))
    batches = data.to_dataset(features, batch_size=8, shuffle_seed=0)
    steps = data.steps_per_epoch(features, 8, drop_remainder=False)
    model.compile(optimizer=training.paper_optimizer(6 * steps, learning_rate=1e-2, warmup=0.05))
    before = evaluation.perplexity(model, features)
    history = model.fit(batches, epochs=6, verbose=0)
    after = evaluation.perplexity(model, features)
    assert history.history["loss"][-1] <= 0.5 * history.history["loss"][0], history.history["loss"]
    assert after["loss"] <= 0.5 * before["loss"], (before, after)
    # perplexity weighs every token equally: it agrees with Keras' mean of (equal-sized) batch losses.
    np.testing.assert_allclose(after["loss"], model.evaluate(features, batch_size=5, verbose=0), rtol=1e-4)
    assert after["tokens"] == features["input_ids"].size - len(features["input_ids"])


def test_classifier_learns_a_separable_task_from_a_csv(tmp_path, vocab_dir):
    from gpt_keras.tokenizer import OpenAIGPTTokenizer

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    good, bad = ["great", "fine", "lovely", "superb"], ["awful", "poor", "dreadful", "boring"]
    lines = ["text,label"]
    for _ in range(96):
        label = int(rng.integers(0, 2))
        words = rng.choice(good if label else bad, 3)
        lines.append(f"the film was {' and '.join(words)},{'positive' if label else 'negative'}")
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    examples = data.read_classification(tmp_path / "train.csv", label_names=["negative", "positive"])
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    features = data.classification_features(examples, tokenizer, quiet=True)
    model = TFOpenAIGPTForSequenceClassification(OpenAIGPTConfig(**{**TINY, "vocab_size": tokenizer.vocab_size, "num_labels": 2}))
    model.compile(optimizer=training.paper_optimizer(8 * 6, learning_rate=3e-3))
    model.fit(data.to_dataset(features, 16, shuffle_seed=1), epochs=8, verbose=0)
    assert evaluation.classification_accuracy(model, features)["accuracy"] >= 0.95


def test_compiled_keras_loss_and_metrics_on_mc_logits_with_evaluate_and_predict_on_the_same_data():
    keras.utils.set_random_seed(0)
    features = synthetic_multiple_choice(64, np.random.default_rng(1))
    inputs = {k: features[k] for k in ("input_ids", "mc_token_ids")}
    dataset = tf.data.Dataset.from_tensor_slices((inputs, features["mc_labels"])).batch(16)
    model = TFOpenAIGPTDoubleHeadsModel(OpenAIGPTConfig(**TINY))
    model.compile(
        optimizer=training.paper_optimizer(8, learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(dataset, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    logs = model.evaluate(dataset, verbose=0, return_dict=True)
    predictions = model.predict(dataset, verbose=0)
    assert predictions["mc_logits"].shape == (64, 3)
    accuracy = (predictions["mc_logits"].argmax(-1) == features["mc_labels"]).mean()
    np.testing.assert_allclose(logs["accuracy"], accuracy, atol=1e-6)


# === Mixed precision ===


def test_policy_for_this_machine_and_loss_scaling_under_float16():
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert training.mixed_precision_policy() == ("mixed_float16" if has_gpu else "mixed_bfloat16")
    rng = np.random.default_rng(0)
    ids = np.tile(rng.integers(1, 40, (1, 12)), (16, 1)).astype(np.int32)
    for policy in ("mixed_float16", "mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY), dtype=policy)
        model.compile(optimizer=training.paper_optimizer(30, learning_rate=1e-2, warmup=0.1))
        if policy == "mixed_float16":
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
            assert isinstance(model.optimizer.inner_optimizer, training.OpenAIAdam)
        history = model.fit({"input_ids": ids, "labels": ids}, batch_size=8, epochs=15, verbose=0)
        losses = history.history["loss"]
        assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0], (policy, losses)
        assert model.transformer.blocks[0].attn.c_attn.kernel.dtype == "float32"


def test_resuming_with_other_steps_per_epoch_is_refused(tmp_path):
    # The saved position counts batches: with a new batch size it would skip examples never trained on.
    keras.utils.set_random_seed(0)
    ids = np.tile(np.arange(1, 13, dtype=np.int32), (32, 1))
    features = {"input_ids": ids, "labels": ids}

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise KeyboardInterrupt  # as a kill after the third step's checkpoint

    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    model.compile(optimizer="sgd")
    checkpoint = training.ResumableCheckpoint(tmp_path / "ckpt", save_every_steps=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(features, batch_size=2, epochs=1, shuffle=False, callbacks=[checkpoint, Crash()], verbose=0)
    state = checkpoint.read_state()
    assert (state["step_in_epoch"], state["steps_per_epoch"]) == (3, 16)
    again = training.ResumableCheckpoint(tmp_path / "ckpt", save_every_steps=1)
    with pytest.raises(ValueError, match="holds a run with 16 steps per epoch, stopped after step 3; this fit has 4"):
        model.fit(features, batch_size=8, epochs=1, shuffle=False, callbacks=[again], verbose=0)
    # The same batches resume, and finish the epoch.
    model.fit(features, batch_size=2, epochs=1, shuffle=False, callbacks=[again], verbose=0)
    assert (again.read_state()["epoch"], again.read_state()["step_in_epoch"]) == (1, 0)


# === NaN stop ===


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    ids = np.tile(np.arange(1, 13, dtype=np.int32), (32, 1))
    labels = ids.copy()
    labels[24:] = -100  # the 4th batch of 8 has nothing to score: its mean loss is NaN (0 / 0)
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    model.compile(optimizer=training.paper_optimizer(8, learning_rate=1e-3))
    checkpoint = training.ResumableCheckpoint(tmp_path / "ckpt", save_every_steps=2)
    history = model.fit(
        {"input_ids": ids, "labels": labels}, batch_size=8, epochs=2, shuffle=False, callbacks=[checkpoint], verbose=0
    )
    message = capsys.readouterr().err
    assert "loss became nan at epoch 1, step 4; training stopped" in message
    assert "step-000000002.weights.h5" in message and "restored" in message
    assert checkpoint.nan_stop["batch"] == 3
    state = checkpoint.read_state()
    assert (state["global_step"], state["epoch"], state["step_in_epoch"]) == (2, 0, 2)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["state.json", "step-000000002.weights.h5"]
    assert "loss" not in history.history or len(history.history["loss"]) <= 1
    # The model is back at the checkpoint: finite, and equal to what the file holds.
    restored = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    restored.compile(optimizer=training.paper_optimizer(8))
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(checkpoint.last_checkpoint)
    for mine, saved in zip(model.weights, restored.weights):
        assert np.isfinite(mine.numpy()).all()
        np.testing.assert_array_equal(mine.numpy(), saved.numpy())


# === The recipe and the per-step loss history ===


def test_loss_history_recovers_each_steps_loss_from_keras_running_mean():
    # With a zero learning rate the weights stay put: each step's loss is the model's loss on its batch.
    keras.utils.set_random_seed(0)
    ids = np.random.default_rng(0).integers(1, 40, (24, 12)).astype(np.int32)
    features = {"input_ids": ids, "labels": ids}
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    stream, steps = data.epoch_stream(features, 8, epochs=2, shuffle_seed=None)
    history = training.LossHistory()
    model.fit(stream, epochs=2, steps_per_epoch=steps, callbacks=[history], shuffle=False, verbose=0)
    want = [float(model(input_ids=ids[i : i + 8], labels=ids[i : i + 8])["loss"]) for i in range(0, 24, 8)] * 2
    assert history.steps == list(range(1, 2 * steps + 1))
    np.testing.assert_allclose(history.losses, want, rtol=1e-4)
    assert max(want) - min(want) > 1e-3  # the batches differ, so a running mean would not pass
    assert history.validation_steps == [] and history.validation_losses == []


def test_finetune_records_every_step_and_each_epochs_validation_and_refuses_save_every_alone(tmp_path):
    keras.utils.set_random_seed(0)
    ids = np.tile(np.arange(1, 13, dtype=np.int32), (32, 1))
    features = {"input_ids": ids, "labels": ids}
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    lines = []
    result = training.finetune(
        model, features, epochs=2, batch_size=8, learning_rate=1e-2, validation=features, verbose=0, log=lines.append
    )
    assert lines == ["training: 32 examples, 4 steps x 2 epochs of batch 8"]
    assert (result.steps_per_epoch, result.initial_epoch, result.nan_stop) == (4, 0, None)
    curve, logged = result.loss_history, result.history.history
    assert curve.steps == list(range(1, 9)) and curve.validation_steps == [4, 8]
    # Keras' epoch loss is the mean of its (equal-sized) steps' losses.
    np.testing.assert_allclose([np.mean(curve.losses[:4]), np.mean(curve.losses[4:])], logged["loss"], rtol=1e-5)
    np.testing.assert_allclose(curve.validation_losses, logged["val_loss"], rtol=1e-6)
    assert result.final_loss == logged["loss"][-1] and logged["loss"][-1] < logged["loss"][0]
    with pytest.raises(ValueError, match="save_every_steps needs a checkpoint_dir"):
        training.finetune(model, features, save_every_steps=5)


# === Progress and time budgets ===


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as `gpt_keras.progress` asks."""

    def isatty(self):
        return True


def lm_features(rows=32, length=12):
    ids = np.tile(np.arange(1, length + 1, dtype=np.int32), (rows, 1))
    return {"input_ids": ids, "labels": ids}


def test_finetune_shows_a_progress_line_of_steps_epochs_and_losses_instead_of_keras_epochs(capsys, monkeypatch):
    # A quarter's line needs 10 s since the last one, which a busy machine can take: keep to the end line.
    monkeypatch.setattr(gpt_keras.progress, "_PLAIN_LINE_SECONDS", float("inf"))
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    features = lm_features()
    result = training.finetune(model, features, epochs=2, batch_size=8, learning_rate=1e-2, validation=features)
    out = capsys.readouterr().out
    assert "Epoch 1/2" not in out and "ms/step" not in out  # Keras' own display is off
    (line,) = out.splitlines()  # not a terminal: no bar redrawn, and here the end line only
    val_loss = result.history.history["val_loss"][-1]
    assert line.startswith("training: 8/8 steps (100%) in 0:")
    assert line.endswith(f", epoch 2/2, loss {result.final_loss:.3f}, val_loss {val_loss:.3f}")


def test_a_time_budget_stops_training_and_the_bar_counts_its_seconds_on_a_terminal():
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    budget = training.TimeBudget(1.5)
    terminal = Terminal()
    bar = training.ProgressBar(budget=budget, evaluation_label="held-out", stream=terminal)
    history = model.fit(lm_features(), batch_size=4, epochs=10_000, callbacks=[budget, bar], verbose=0)
    assert budget.elapsed >= 1.5 and budget.remaining == 0.0 and len(history.epoch) < 10_000
    steps = int(model.optimizer.iterations.numpy())
    assert budget.steps == steps
    drawn = terminal.getvalue().split("\r")
    assert drawn[0].startswith("training: 0% [") and drawn[0].rstrip().endswith("compiling the train step")
    assert any(" elapsed, " in part and " left, step " in part and ", loss " in part for part in drawn[1:-1])
    final = f", step {steps:,}, loss {history.history['loss'][-1]:.3f}"
    # The budget is 1.5 s of steps; the clock also counts compiling, which a busy machine makes long.
    assert re.match(r"training: 100% in \d+:\d\d, ", drawn[-1]) and drawn[-1].rstrip().endswith(final) and drawn[-1][-1] == "\n"

    # Outside fit, the same callback draws evaluate's batches.
    terminal.seek(0), terminal.truncate()
    loss = model.evaluate(lm_features(8), batch_size=4, callbacks=[bar], verbose=0)
    assert re.fullmatch(rf"held-out: 2/2 batches \(100%\) in 0:\d\d, loss {loss:.3f} *\n", terminal.getvalue().split("\r")[-1])


# === What XLA compiles ===


def test_a_training_step_compiled_for_xla_holds_no_assert_op():
    # XLA drops tf.debugging.Assert with one "Ignoring Assert operator" warning per op at every compile:
    # a check that never runs where it is compiled. Unknown sizes, as fit traces them.
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))
    model(np.ones((1, 4), np.int32))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step, jit_compile=True)
    ids = tf.TensorSpec([None, None], tf.int32)
    graph = step.get_concrete_function({"input_ids": ids, "labels": ids}).graph.as_graph_def()
    nodes = list(graph.node) + [node for function in graph.library.function for node in function.node_def]
    asserts = [node.name for node in nodes if node.op == "Assert"]
    assert asserts == []
