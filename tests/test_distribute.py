"""tf.distribute: MirroredStrategy over 2 logical CPU devices and MultiWorkerMirroredStrategy with
2 worker processes on localhost train the double-heads model on its internal loss with the same
loss curve as one device (same global batch).

Each run is a subprocess (logical devices and the multi-worker runtime must be set up before
TensorFlow starts): this file, run as a script, is the training program.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np

STEPS, GLOBAL_BATCH = 6, 8


def train(mode, output):
    import tensorflow as tf

    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    elif mode == "multiworker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()

    import keras
    from helpers import tiny_config

    from gpt_keras import TFOpenAIGPTDoubleHeadsModel, data, training

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 60, (STEPS * GLOBAL_BATCH, 2, 10)).astype(np.int32)
    features = {
        "input_ids": ids,
        "mc_token_ids": np.full((len(ids), 2), 9, np.int32),
        "labels": ids,
        "mc_labels": rng.integers(0, 2, len(ids)).astype(np.int32),
    }
    config = tiny_config(n_embd=32, n_head=4, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0, summary_first_dropout=0.0)
    with strategy.scope():
        model = TFOpenAIGPTDoubleHeadsModel(config)
        weights_rng = np.random.default_rng(1)
        for variable in model.weights:
            if len(variable.shape) > 1:
                variable.assign(weights_rng.normal(0, 0.1, variable.shape).astype(np.float32))
        model.compile(optimizer=training.paper_optimizer(STEPS, learning_rate=2e-2, warmup=0.2))

    losses = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(float(logs["loss"]))

    callbacks = [Record()]
    if mode == "multiworker":
        # Both workers share one checkpoint directory; only the chief may write to it.
        checkpoint = training.ResumableCheckpoint(os.path.join(os.path.dirname(output), "checkpoint"), save_every_steps=2)
        callbacks.append(checkpoint)
    model.fit(data.to_dataset(features, GLOBAL_BATCH), epochs=1, callbacks=callbacks, verbose=0)
    result = {"replicas": strategy.num_replicas_in_sync, "losses": losses, "mc_kernel": model.multiple_choice_head.summary.kernel.numpy().ravel().tolist()}
    if mode == "multiworker":
        result["writes_checkpoints"] = checkpoint.writes_checkpoints
    with open(output, "w") as handle:
        json.dump(result, handle)


def run(mode, output, env=None):
    return subprocess.Popen(
        [sys.executable, __file__, mode, str(output)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=90):
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err[-3000:]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def check_same_curve(single, distributed, replicas):
    assert distributed["replicas"] == replicas and single["replicas"] == 1
    assert len(single["losses"]) == len(distributed["losses"]) == STEPS
    # The curve must move (the test would otherwise pass on a model that does not train).
    assert single["losses"][-1] < single["losses"][0] - 0.05, single["losses"]
    np.testing.assert_allclose(distributed["losses"], single["losses"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(distributed["mc_kernel"], single["mc_kernel"], rtol=1e-4, atol=1e-5)


def test_mirrored_strategy_on_two_cpu_devices_matches_one_device(tmp_path):
    processes = [run("single", tmp_path / "single.json"), run("mirrored", tmp_path / "mirrored.json")]
    try:
        for process in processes:
            finish(process)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    single, mirrored = (json.loads((tmp_path / f"{m}.json").read_text()) for m in ("single", "mirrored"))
    check_same_curve(single, mirrored, replicas=2)


def test_multi_worker_mirrored_strategy_with_two_local_workers_matches_one_device(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            workers.append(run("multiworker", tmp_path / f"worker{index}.json", env={"TF_CONFIG": tf_config}))
        single = run("single", tmp_path / "single.json")
        for process in [*workers, single]:
            finish(process)
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
    single = json.loads((tmp_path / "single.json").read_text())
    results = [json.loads((tmp_path / f"worker{index}.json").read_text()) for index in range(2)]
    for result in results:
        check_same_curve(single, result, replicas=2)
    # Exactly one writer (the chief, worker 0), and what it left is one whole, final checkpoint.
    assert [result["writes_checkpoints"] for result in results] == [True, False]
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["global_step"] == STEPS and state["epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == sorted(["state.json", state["weights"]])


if __name__ == "__main__":
    train(sys.argv[1], sys.argv[2])
