"""Tokenizer saves, SavedModel exports and `ResumableCheckpoint` saves stopped at each of their steps, for
tests/test_interrupted_writers.py.

Imported by the tests (a stop is an exception), and run by them as a script (a stop is a SIGKILL):
``python interrupted_writers.py tokenizer ROOT`` kills a forked child at every step of a tokenizer save;
``python interrupted_writers.py export ROOT STEP`` (a step name) and ``... training ROOT N`` (the N-th
step of a run's saves) kill the process there. The tokenizer run prints what each kill left, as JSON;
the others leave their directory for the test to inspect. The tokenizer part imports no TensorFlow (so
it can fork); the others import it only when they run.
"""
import json
import os
import signal
import sys
from pathlib import Path

from checkpoint_save_steps import stopping_at, subprocess_environment  # noqa: F401  (used by the tests)

TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt")
# Two vocabularies that differ in all three files (the second also has a special token).
CORPORA = {1: ["low lower lowest newer wider"] * 10, 2: ["tall taller tallest shorter"] * 10}


def kill(step):
    os.kill(os.getpid(), signal.SIGKILL)


# === Tokenizer saves ===


def tokenizer(version, root):
    from gpt_keras.tokenization.bpe_training import train_tokenizer

    trained = train_tokenizer(CORPORA[version], vocab_size=40, output_dir=root / f"trained-{version}")
    if version == 2:
        trained.add_special_tokens({"pad_token": "<pad>"})
    return trained


def tokenizer_files(directory):
    return {name: (directory / name).read_bytes() for name in TOKENIZER_FILES}


def first_tokenizer_save(root):
    """The directory with version 1 saved in it, and the file contents of versions 1 and 2."""
    directory = root / "tokenizer"
    versions = {}
    for version in (1, 2):
        tokenizer(version, root).save_pretrained(root / f"saved-{version}")
        versions[version] = tokenizer_files(root / f"saved-{version}")
    tokenizer(1, root).save_pretrained(directory)
    return directory, versions


def tokenizer_steps(root):
    directory, _ = first_tokenizer_save(root)
    second = tokenizer(2, root)
    with stopping_at(-1, None) as calls:
        second.save_pretrained(directory)
    return calls


def stopped_tokenizer_save(root, number, stop):
    """Saves version 1, then version 2 stopped at its `number`-th step by `stop(step)`."""
    directory, versions = first_tokenizer_save(root)
    second = tokenizer(2, root)
    with stopping_at(number, stop):
        second.save_pretrained(directory)
    return directory, versions


def tokenizer_state(directory, versions):
    """What a stopped tokenizer save left: which version each file is (None: neither), whether the
    files load, what the whole set is, and the hidden files left beside them."""
    from gpt_keras.tokenization import OpenAIGPTTokenizer

    contents = tokenizer_files(directory)
    files = {name: next((v for v, saved in versions.items() if saved[name] == data), None) for name, data in contents.items()}
    try:
        loads = len(OpenAIGPTTokenizer.from_pretrained(directory)) > 0
    except ValueError as error:  # e.g. merges of one version over the vocabulary of the other
        loads = f"{type(error).__name__}: {error}"
    whole = set(files.values())
    return {
        "files": files,
        "loads": loads,
        "set": whole.pop() if len(whole) == 1 else "mixed",
        "leftovers": sorted(p.name for p in directory.iterdir() if p.name.startswith(".")),
    }


def saved_versions(root):
    return {version: tokenizer_files(root / f"saved-{version}") for version in (1, 2)}


def tokenizer_killed_at_every_step(root):
    results = []
    for number, step in enumerate(tokenizer_steps(root / "steps")):
        where = root / str(number)
        where.mkdir()
        directory = where / "tokenizer"
        pid = os.fork()
        if pid == 0:
            stopped_tokenizer_save(where, number, kill)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        result = {"step": step, "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL}
        try:
            result.update(tokenizer_state(directory, saved_versions(where)))
        except Exception as error:  # reported to the test, which names the step
            result["error"] = f"{type(error).__name__}: {error}"
        results.append(result)
    return results


# === Exports ===


def export_model():
    import keras

    from gpt_keras import TFOpenAIGPTModel
    from helpers import tiny_config

    keras.utils.set_random_seed(0)
    return TFOpenAIGPTModel(tiny_config(n_layer=1))


# Where an export can be stopped: after the SavedModel is written (before its metadata), then the steps
# of the directory swap that puts the version in place.
EXPORT_STEPS = ("wrote saved model", "staged", "renamed into place")


def export_version(model, export_dir, stop_at=None, stop=None):
    """Exports `model` as the next version, stopped at `stop_at` (one of `EXPORT_STEPS`) by `stop(step)`;
    returns the version's path and the steps reported."""
    from gpt_keras import export

    real_write = export.atomic_write_text

    def write_metadata(*args, **kwargs):
        stop(stop_at)
        return real_write(*args, **kwargs)

    if stop_at == EXPORT_STEPS[0]:
        export.atomic_write_text = write_metadata
    number = EXPORT_STEPS.index(stop_at) - 1 if stop_at in EXPORT_STEPS[1:] else -1
    try:
        with stopping_at(number, stop) as calls:
            return export.export_saved_model(model, export_dir), calls
    finally:
        export.atomic_write_text = real_write


def export_state(export_dir, inputs):
    """The numbered versions left (each loaded and run on `inputs`) and the other entries."""
    import numpy as np
    import tensorflow as tf

    versions, others = {}, []
    for path in sorted(export_dir.iterdir()):
        if not path.name.isdigit():
            others.append(path.name)
            continue
        served = tf.saved_model.load(str(path)).signatures["serving_default"]
        versions[path.name] = np.asarray(served(**inputs)["last_hidden_state"]).tolist()
    return {"versions": versions, "others": others}


def export_inputs():
    import tensorflow as tf

    return {"input_ids": tf.constant([[1, 2, 3]]), "attention_mask": tf.constant([[1, 1, 1]])}


def export_killed_at(root, step):
    """Exports version 1, then version 2 killed at `step` (the test inspects what is left)."""
    model = export_model()
    export_version(model, root / "exports")
    export_version(model, root / "exports", stop_at=step, stop=kill)


# === ResumableCheckpoint saves ===

# 4 steps: saves after steps 2 and 4, and at the end of the epoch (step 4 again).
TRAINING_EXAMPLES, TRAINING_BATCH, SAVE_EVERY = 8, 2, 2


def training_run(checkpoint_dir, stop_at_call=None, stop=None):
    """Fits a tiny LM for one epoch with a `ResumableCheckpoint`; the `stop_at_call`-th writer step
    (counted over the run's saves, 4 steps each) calls `stop(step)`. Returns the steps seen."""
    import keras
    import numpy as np

    from gpt_keras import TFOpenAIGPTLMHeadModel, training
    from helpers import tiny_config

    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTLMHeadModel(tiny_config(n_layer=1))
    model.compile(optimizer="adam")
    ids = np.random.default_rng(0).integers(0, 60, (TRAINING_EXAMPLES, 6)).astype(np.int32)
    checkpoint = training.ResumableCheckpoint(checkpoint_dir, save_every_steps=SAVE_EVERY)
    number = -1 if stop_at_call is None else stop_at_call
    with stopping_at(number, stop) as calls:
        model.fit({"input_ids": ids, "labels": ids}, batch_size=TRAINING_BATCH, epochs=1, shuffle=False, callbacks=[checkpoint], verbose=0)
    return calls


def training_state(checkpoint_dir):
    """What a stopped training save left: the state's global step and weights file (loaded into a fresh
    model, which fails if it is not whole), and the files in the directory."""
    from gpt_keras import TFOpenAIGPTLMHeadModel, training
    from helpers import tiny_config

    checkpoint = training.ResumableCheckpoint(checkpoint_dir)
    state = checkpoint.read_state()
    model = TFOpenAIGPTLMHeadModel(tiny_config(n_layer=1))
    model.compile(optimizer="adam")
    model.optimizer.build(model.trainable_variables)
    model.load_weights(checkpoint.last_checkpoint)
    return {"global_step": state["global_step"], "weights": state["weights"], "files": sorted(p.name for p in checkpoint_dir.iterdir())}


if __name__ == "__main__":
    writer, root = sys.argv[1], Path(sys.argv[2])
    if writer == "tokenizer":
        print(json.dumps(tokenizer_killed_at_every_step(root)))
    elif writer == "export":
        export_killed_at(root, sys.argv[3])
    elif writer == "training":
        training_run(root / "ckpt", int(sys.argv[3]), kill)
