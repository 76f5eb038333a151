"""`gpt-keras quickstart`: the whole library on a corpus every Python ships, with no downloads.

It learns a BPE vocabulary on the English prose of Python's own documentation (`quickstart_corpus`),
trains a small GPT on it on the CPU for a bounded time, compares held-out perplexity with a unigram
baseline, writes the loss curve (per-step training loss and validation loss; a PNG with matplotlib,
else a CSV), samples text with the XLA-compiled cached generation, exports a SavedModel and answers
one request from it in a fresh process that does not import gpt_keras.
"""
import math
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
from gpt_keras._fs import atomic_write_json
from gpt_keras.data import causal_lm_features
from gpt_keras.export import export_saved_model
from gpt_keras.progress import activity
from gpt_keras.quickstart_corpus import load_corpus
from gpt_keras.tokenization.bpe_training import train_tokenizer
from gpt_keras.training import LossHistory, ProgressBar, TimeBudget

# Sizes of the full run (about 3 minutes on 2 CPU cores) and of the reduced run used by the tests.
# The post-LayerNorm GPT stayed on the unigram plateau (loss 6.3) at a peak learning rate of 2e-3 until
# early stopping ended it; at 1e-3 it leaves the plateau after about 200 steps and reaches held-out
# perplexity 113 (unigram: 541) in 870 steps on a busy 2-core machine, still at 5e-4 on a cosine decay
# over 1500 steps. The 1-layer reduced model trains at 3e-3, and its rate barely decays in its seconds.
FULL = dict(
    vocab_size=3000, n_layer=4, n_embd=128, n_head=4, block_size=64, batch_size=32, train_seconds=150.0, dropout=0.1,
    learning_rate=1e-3, warmup_steps=100, decay_steps=1500,
)
REDUCED = dict(
    vocab_size=400, n_layer=1, n_embd=32, n_head=2, block_size=32, batch_size=16, train_seconds=4.0, dropout=0.0,
    learning_rate=3e-3, warmup_steps=20, decay_steps=20_000,
)
PROMPTS = ("the python interpreter", "a list is", "the class")


def pack_blocks(tokenizer, texts, block_size):
    """The texts' ids concatenated and cut into (blocks, block_size) int32 rows (the tail is dropped)."""
    return causal_lm_features(tokenizer, block_size, texts=texts, quiet=True)["input_ids"]


def unigram_perplexity(train_blocks, held_out_blocks, vocab_size):
    """Held-out perplexity of add-one unigram frequencies, on the tokens the LM predicts (all but the first)."""
    counts = np.bincount(train_blocks.ravel(), minlength=vocab_size).astype(np.float64) + 1.0
    log_probs = np.log(counts / counts.sum())
    targets = held_out_blocks[:, 1:].ravel()
    return float(np.exp(-log_probs[targets].mean()))


def run_quickstart(output_dir="gpt-keras-quickstart", reduced=False, train_seconds=None, seed=0, log=print, progress=True):
    """Runs the quickstart end to end and returns its figures.

    Args:
        output_dir: Where the tokenizer, checkpoint, loss curve and SavedModel are written.
        reduced: Tiny sizes and a few seconds of training (for tests and smoke runs).
        train_seconds: Override the training time budget.
        seed: Random seed of initialization, shuffling and sampling.
        log: Where the lines saying what was done go.
        progress: Show progress on stdout while each step runs (on a terminal a line redrawn in
            place; otherwise a few lines while training).

    Returns:
        A dict with "perplexity", "unigram_perplexity", "train_seconds", "steps", "epochs",
        "validation_losses", "samples", "served_sample", "total_seconds", and the paths written.
    """
    sizes = dict(REDUCED if reduced else FULL)
    if train_seconds is not None:
        sizes["train_seconds"] = float(train_seconds)
    output_dir = Path(output_dir).absolute()
    output_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    step = lambda label: activity(label, quiet=not progress, stream=sys.stdout)

    with step("reading the prose of Python's documentation") as timer:
        train_texts, held_out_texts = load_corpus()
    words = sum(len(text.split()) for text in train_texts + held_out_texts)
    log(
        f"[1/6] corpus: {words:,} words of English prose from Python's own documentation (pydoc topics, stdlib "
        f"docstrings), {len(train_texts):,} train / {len(held_out_texts):,} held-out paragraphs ({timer.seconds:.0f} s)"
    )
    with step("learning the BPE vocabulary") as timer:
        tokenizer = train_tokenizer(train_texts, sizes["vocab_size"], output_dir / "tokenizer", pre_tokenizer="basic")
    log(f"[2/6] BPE vocabulary of {tokenizer.vocab_size} tokens learned in {timer.seconds:.0f} s -> {output_dir / 'tokenizer'}")

    with step("packing the texts into blocks"):
        train_blocks = pack_blocks(tokenizer, train_texts, sizes["block_size"])
        held_out_blocks = pack_blocks(tokenizer, held_out_texts, sizes["block_size"])
    # The last 5% of the training blocks decide when to stop: the corpus is small enough for the model
    # to memorize it within the budget on a fast CPU, and the held-out texts must not choose the epoch.
    validation_count = max(1, len(train_blocks) // 20)
    train_blocks, validation_blocks = train_blocks[:-validation_count], train_blocks[-validation_count:]
    baseline = unigram_perplexity(train_blocks, held_out_blocks, len(tokenizer))

    config = OpenAIGPTConfig(
        vocab_size=len(tokenizer),
        n_positions=2 * sizes["block_size"],
        n_embd=sizes["n_embd"],
        n_layer=sizes["n_layer"],
        n_head=sizes["n_head"],
        resid_pdrop=sizes["dropout"],
        embd_pdrop=sizes["dropout"],
        attn_pdrop=sizes["dropout"],
    )
    model = TFOpenAIGPTLMHeadModel(config)
    peak = sizes["learning_rate"]
    schedule = keras.optimizers.schedules.CosineDecay(
        peak / 100, sizes["decay_steps"], alpha=0.1, warmup_target=peak, warmup_steps=sizes["warmup_steps"]
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), jit_compile=True)
    log(
        f"[3/6] training a {config.n_layer}-layer, {config.n_embd}-wide GPT ({model.count_params():,} parameters) "
        f"on {train_blocks.size:,} tokens for {sizes['train_seconds']:.0f} s"
    )
    budget = TimeBudget(sizes["train_seconds"])
    bar = ProgressBar(budget=budget, evaluation_label="held-out evaluation", quiet=not progress)
    data = {"input_ids": train_blocks, "labels": train_blocks}
    validation = ({"input_ids": validation_blocks, "labels": validation_blocks},)
    # An epoch is about 100 steps of the full run: validation loss that rises twice in a row is overfitting,
    # once can be a step of noise on its 5% of the blocks.
    early_stopping = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    loss_history = LossHistory()
    history = model.fit(
        data,
        batch_size=sizes["batch_size"],
        epochs=10_000,  # the time budget or early stopping ends training
        shuffle=True,
        validation_data=validation,
        callbacks=[budget, early_stopping, loss_history, bar],
        verbose=0,
    )
    held_out = {"input_ids": held_out_blocks, "labels": held_out_blocks}
    held_out_loss = model.evaluate(held_out, batch_size=sizes["batch_size"], callbacks=[bar], verbose=0)
    perplexity = float(math.exp(held_out_loss))
    log(
        f"[4/6] held-out perplexity {perplexity:.1f} vs unigram baseline {baseline:.1f} "
        f"({budget.steps:,} steps, {len(history.epoch)} epochs)"
    )

    curve = loss_history.plot(
        output_dir / "loss_curve.png",
        title=(
            f"quickstart: {config.n_layer}-layer GPT on Python's documentation, {budget.steps:,} steps\n"
            f"held-out perplexity {perplexity:.1f} (unigram model: {baseline:.1f})"
        ),
        perplexity_axis=True,
        baselines={"unigram model, held-out": math.log(baseline)},
    )
    log(f"    {curve.note or f'loss curve -> {curve.path}'}")
    checkpoint = output_dir / "checkpoint"
    model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)

    with step("sampling (compiling the cached generation)") as timer:
        samples = model.generate_text(tokenizer, list(PROMPTS), max_new_tokens=24, do_sample=True, top_k=20, seed=seed)
    log(f"[5/6] samples (XLA-compiled, cached generation, {timer.seconds:.0f} s with compiling):")
    for prompt, sample in zip(PROMPTS, samples):
        log(f"    {prompt!r} -> {sample!r}")

    export_dir = output_dir / "saved_model"
    with step("exporting the SavedModel and serving it in a fresh process") as timer:
        # A rerun into the same --output adds the next version (TF Serving serves the newest).
        # With the tokenizer the export takes and returns text (`generate_text`): the BPE runs in the graph.
        exported = export_saved_model(model, export_dir, max_length=config.n_positions, tokenizer=tokenizer)
        served = f"{PROMPTS[0]} {serve_one_request(exported, PROMPTS[0], max_new_tokens=16)}"
    log(f"[6/6] SavedModel {exported} answered {PROMPTS[0]!r} in a fresh process ({timer.seconds:.0f} s): {served!r}")

    figures = {
        "perplexity": perplexity,
        "unigram_perplexity": baseline,
        "train_seconds": budget.elapsed,
        "steps": budget.steps,
        "epochs": len(history.epoch),
        "validation_losses": loss_history.validation_losses,
        "samples": samples,
        "served_sample": served,
        "loss_curve": str(curve.path),
        "checkpoint": str(checkpoint),
        "saved_model": str(exported),
        "total_seconds": time.perf_counter() - started,
    }
    atomic_write_json(output_dir / "figures.json", figures, indent=2)
    log(f"done in {figures['total_seconds']:.0f} s; figures in {output_dir / 'figures.json'}")
    return figures


SERVE_SCRIPT = """
import sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.signatures["generate_text"](
    prompts=tf.constant([sys.argv[2]]),
    max_new_tokens=tf.constant(int(sys.argv[3]), tf.int32),
    temperature=tf.constant(1.0),
    top_k=tf.constant(0),
    top_p=tf.constant(1.0),
    seed=tf.constant(0),
    do_sample=tf.constant(False),
)
sys.stdout.buffer.write(out["completions"].numpy()[0] + b"\\n")
"""


def serve_one_request(saved_model_dir, prompt, max_new_tokens):
    """Runs the SavedModel's `generate_text` signature (greedy) on the string `prompt` in a fresh Python
    process that does not import gpt_keras; returns the continuation's text."""
    saved_model_dir = Path(saved_model_dir).absolute()
    result = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, str(saved_model_dir), prompt, str(max_new_tokens)],
        capture_output=True,
        timeout=600,
        cwd=str(Path(saved_model_dir).parent),
    )
    if result.returncode != 0:
        raise RuntimeError(f"serving {saved_model_dir} in a fresh process failed:\n{result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode("utf-8").removesuffix("\n")
