"""Fine-tuning throughput of the full-size LM model under `model.fit`, against this machine's own
matmul rate measured in the same run.

    python benchmarks/bench_training.py [--steps 10] [--batch 8] [--seq 128] [--policies float32,mixed_bfloat16]

For each dtype policy: `fit` on random token blocks with the paper's optimizer (`paper_optimizer`,
XLA-compiled train step), tokens/s over the timed steps (after a compiled warm-up), the training FLOPs
per token (3 x the forward's: forward, and backward for activations and weights), and the achieved
fraction of the float32 matmul rate (4 chained 2048 x 2048 matmuls per call).

The peers are timed in the same run, float32 at the same shape, each in its own interpreter
(benchmarks/peers.py): the reference's TF port (`--reference-tf-python`, transformers + tf-keras) and
keras-hub's GPT-2 at GPT's sizes (`--keras-hub-python`); pass "" to leave one out. Target: float32
>= 1.1x the reference's TF port on every CPU (cap the instruction set with benchmarks/run.py --max-isa).
"""
import argparse
import time

import gpt_keras  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np
import tensorflow as tf

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel, training
import peers
from machine import BF16_GRAPH_SKIPPED, bf16_graph_aborts, cpu_description, matmul_rate

TARGET_VS_REFERENCE = 1.1


def training_flops_per_token(config, seq_len):
    """3 x forward: dense layers and tied LM head (2 FLOPs per multiply-add), attention scores and context."""
    d, layers = config.n_embd, config.n_layer
    dense = layers * (4 * d * d + 8 * d * d)  # qkv + proj, mlp in + out (multiply-adds per token)
    attention = layers * 2 * seq_len * d / 2  # scores + context over the causal half on average
    head = d * config.vocab_size
    return 3 * 2 * (dense + attention + head)


class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # wait for the step
        self.times.append(time.perf_counter() - self._start)


def fit_tokens_per_second(policy, batch, seq_len, steps, jit_compile, warmup_steps=2):
    keras.utils.set_random_seed(0)
    config = OpenAIGPTConfig()  # the released model's sizes
    model = TFOpenAIGPTLMHeadModel(config, dtype=policy)
    ids = np.random.default_rng(0).integers(0, config.vocab_size, ((steps + warmup_steps) * batch, seq_len)).astype(np.int32)
    model.compile(optimizer=training.paper_optimizer(steps + warmup_steps), jit_compile=jit_compile)
    timer = StepTimes()
    model.fit({"input_ids": ids, "labels": ids}, batch_size=batch, epochs=1, shuffle=False, callbacks=[timer], verbose=0)
    timed = timer.times[warmup_steps:]
    return batch * seq_len * len(timed) / sum(timed), config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--reference-tf-python", default=peers.DEFAULT_REFERENCE_TF_PYTHON)
    parser.add_argument("--keras-hub-python", default=peers.DEFAULT_KERAS_HUB_PYTHON)
    parser.add_argument(
        "--jit", choices=["xla", "graph", "both"], default="both",
        help="XLA-compiled train step, TF graph (oneDNN kernels: the fast bfloat16 path on CPU), or both",
    )
    args = parser.parse_args(argv)

    print(f"CPU: {cpu_description()}")
    rate32 = matmul_rate(tf.float32)
    rate16 = matmul_rate(tf.bfloat16)
    print(f"matmul rate: float32 {rate32 / 1e9:.1f} GFLOP/s, bfloat16 {rate16 / 1e9:.1f} GFLOP/s")
    results, rows = {}, []
    modes = ["xla", "graph"] if args.jit == "both" else [args.jit]
    for mode in modes:
        for policy in args.policies.split(","):
            if mode == "graph" and policy != "float32" and bf16_graph_aborts():
                print(f"{policy:>15} {mode:5s}: {BF16_GRAPH_SKIPPED}")
                continue
            tokens_per_second, config = fit_tokens_per_second(policy, args.batch, args.seq, args.steps, mode == "xla")
            flops = training_flops_per_token(config, args.seq)
            utilization = tokens_per_second * flops / rate32
            results[(policy, mode)] = tokens_per_second
            rows.append(
                dict(
                    benchmark="fit (LM, paper optimizer)",
                    setting=f"{policy} {args.batch}x{args.seq} {mode}",
                    tokens_per_second=tokens_per_second,
                    limit=f"{100 * utilization:.0f}% of matmul {rate32 / 1e9:.0f} GFLOP/s",
                )
            )
            print(
                f"{policy:>15} {mode:5s}: {tokens_per_second:8.1f} tokens/s, {flops / 1e9:.2f} GFLOP/token, "
                f"{100 * utilization:5.1f}% of the float32 matmul rate"
            )
    for mode in modes:
        if ("float32", mode) in results and ("mixed_bfloat16", mode) in results:
            ratio = results[("mixed_bfloat16", mode)] / results[("float32", mode)]
            print(f"mixed_bfloat16 / float32 ({mode}): {ratio:.2f}x")
    best = {policy: max(v for (p, _), v in results.items() if p == policy) for policy, _ in results}
    if "float32" in best and "mixed_bfloat16" in best:
        print(f"best mixed_bfloat16 / best float32: {best['mixed_bfloat16'] / best['float32']:.2f}x")
    if any(p == "float32" for p, _ in results):
        compare_with_peers(rows, best["float32"], args)
    return rows


def compare_with_peers(rows, ours, args):
    """Times the peers' float32 fit at the same shape and adds the ratios to the best float32 row."""
    row = max((r for r in rows if r["setting"].startswith("float32")), key=lambda r: r["tokens_per_second"])
    request = dict(batch=args.batch, seq=args.seq, steps=args.steps, warmup=2)
    for key, name, python, script in (
        ("reference", "reference TF port (tf-keras)", args.reference_tf_python, peers.REFERENCE_TF_FIT),
        ("keras_hub", "keras-hub GPT2CausalLM", args.keras_hub_python, peers.KERAS_HUB_FIT),
    ):
        if not peers.available(python):
            print(f"{name}: not timed (no interpreter at {python!r})")
            continue
        figure, mode, figures = peers.best_of_modes(python, script, **request)
        modes = ", ".join(f"{m} {v:.1f}" for m, v in figures.items())
        target = f" (target >= {TARGET_VS_REFERENCE}x)" if key == "reference" else ""
        print(f"{name}, float32 {args.batch}x{args.seq}: {figure:.1f} tokens/s at its best ({modes}); "
              f"ours {ours:.1f}: {ours / figure:.2f}x{target}")
        row[key] = f"{ours / figure:.2f}x ({figure:.0f} tok/s, {mode})"


if __name__ == "__main__":
    main()
