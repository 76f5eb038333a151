"""Kill-and-resume: a training process SIGKILLed mid-epoch and restarted with `ResumableCheckpoint`
ends with the same weights as an uninterrupted run.

The training runs in subprocesses: this file, run as a script, is the training program.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

EPOCHS, BATCH, EXAMPLES, SAVE_EVERY = 3, 8, 48, 4  # 6 steps per epoch, 18 in all


def train(checkpoint_dir, output, kill_at_step):
    import keras
    import tensorflow as tf

    from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel, data, training

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    config = OpenAIGPTConfig(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    model = TFOpenAIGPTLMHeadModel(config)
    ids = np.random.default_rng(0).integers(0, 50, (EXAMPLES, 12)).astype(np.int32)
    features = {"input_ids": ids, "labels": ids}
    checkpoint = training.ResumableCheckpoint(checkpoint_dir, save_every_steps=SAVE_EVERY, verbose=1)
    start = checkpoint.initial_epoch
    stream, steps = data.epoch_stream(features, BATCH, epochs=EPOCHS, shuffle_seed=1, initial_epoch=start)
    model.compile(optimizer=training.paper_optimizer(EPOCHS * steps, learning_rate=3e-3, warmup=0.1))

    class Kill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations) == kill_at_step:
                os.kill(os.getpid(), signal.SIGKILL)

    history = model.fit(
        stream, epochs=EPOCHS, steps_per_epoch=steps, initial_epoch=start, callbacks=[checkpoint, Kill()], verbose=0
    )
    np.savez(output, iterations=int(model.optimizer.iterations), **{v.path: v.numpy() for v in model.weights})
    Path(f"{output}.json").write_text(json.dumps(history.history))


def run(tmp_path, name, checkpoint_dir, kill_at_step=-1):
    output = tmp_path / f"{name}.npz"
    command = [sys.executable, __file__, str(checkpoint_dir), str(output), str(kill_at_step)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return process, output


def test_killed_mid_epoch_and_restarted_ends_with_the_uninterrupted_weights(tmp_path):
    straight, straight_out = run(tmp_path, "straight", tmp_path / "ckpt-straight")
    assert straight.returncode == 0, straight.stderr[-3000:]

    # Killed at global step 10 (epoch 2, step 4); the last checkpoint is at step 8 (epoch 2, step 2).
    killed, _ = run(tmp_path, "killed", tmp_path / "ckpt", kill_at_step=10)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    state = json.loads((tmp_path / "ckpt" / "state.json").read_text())
    assert (state["global_step"], state["epoch"], state["step_in_epoch"]) == (8, 1, 2)

    resumed, resumed_out = run(tmp_path, "resumed", tmp_path / "ckpt")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from step-000000008.weights.h5: epoch 2, after step 2 (global step 8)" in resumed.stderr

    want, got = np.load(straight_out), np.load(resumed_out)
    assert int(want["iterations"]) == int(got["iterations"]) == EPOCHS * EXAMPLES // BATCH
    assert set(want.files) == set(got.files)
    for name in want.files:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # The resumed run's last epoch is a whole epoch, logged like the uninterrupted run's.
    want_history = json.loads(Path(f"{straight_out}.json").read_text())
    got_history = json.loads(Path(f"{resumed_out}.json").read_text())
    np.testing.assert_allclose(got_history["loss"][-1], want_history["loss"][-1], rtol=1e-5)


if __name__ == "__main__":
    train(sys.argv[1], sys.argv[2], int(sys.argv[3]))
