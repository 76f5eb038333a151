"""Forward-pass throughput of the full-size LM model against this machine's own float32 matmul rate.

    python benchmarks/bench_forward.py [--repeats 5] [--shapes 8x128,1x512] [--policies float32,mixed_bfloat16]

Prints tokens/s for each shape and dtype policy, the model FLOPs per token, and the achieved fraction of
the float32 matmul rate measured in the same run (`machine.matmul_rate`). Random weights: speed does not
depend on their values.
"""
import argparse

import gpt_keras  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np
import tensorflow as tf

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
from machine import BF16_GRAPH_SKIPPED, best_time, bf16_graph_aborts, matmul_rate


def forward_flops_per_token(config, seq_len):
    """Multiply-adds of the dense layers and the LM head, plus attention scores and context (x2 FLOPs)."""
    d, layers = config.n_embd, config.n_layer
    dense = layers * (d * 3 * d + d * d + 2 * d * 4 * d)
    head = d * config.vocab_size
    attention = layers * 2 * seq_len * d
    return 2.0 * (dense + head + attention)


def main(argv=None):
    """Prints the figures; returns them as rows for benchmarks/run.py."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default="8x128,1x512")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--jit", choices=["xla", "graph", "both"], default="both")
    args = parser.parse_args(argv)

    peak = matmul_rate()
    print(f"float32 matmul rate (4 chained 2048x2048 matmuls, XLA): {peak / 1e9:.1f} GFLOP/s")
    config = OpenAIGPTConfig()
    results, rows = {}, []
    for policy in args.policies.split(","):
        keras.config.set_dtype_policy(policy)
        model = TFOpenAIGPTLMHeadModel(config)
        for shape in args.shapes.split(","):
            batch, seq = (int(x) for x in shape.split("x"))
            ids = tf.constant(np.random.default_rng(0).integers(0, config.vocab_size, (batch, seq)), tf.int32)
            modes = ["xla", "graph"] if args.jit == "both" else [args.jit]
            for mode in modes:
                if mode == "graph" and policy != "float32" and bf16_graph_aborts():
                    print(f"{policy:15s} {shape:6s} {mode:5s}: {BF16_GRAPH_SKIPPED}")
                    continue
                forward = tf.function(lambda x: model(x).logits, jit_compile=(mode == "xla"))
                seconds = best_time(lambda: forward(ids).numpy(), args.repeats)
                tokens_per_second = batch * seq / seconds
                utilization = tokens_per_second * forward_flops_per_token(config, seq) / peak
                results[(policy, shape, mode)] = tokens_per_second
                rows.append(
                    dict(
                        benchmark="forward (LM logits)",
                        setting=f"{policy} {shape} {mode}",
                        tokens_per_second=tokens_per_second,
                        limit=f"{utilization * 100:.0f}% of matmul {peak / 1e9:.0f} GFLOP/s",
                    )
                )
                print(
                    f"{policy:15s} {shape:6s} {mode:5s}: {tokens_per_second:8.0f} tokens/s  "
                    f"{utilization * 100:5.1f}% of the float32 matmul rate"
                )
        keras.config.set_dtype_policy("float32")
    for (policy, shape, mode), value in results.items():
        if policy != "float32" and ("float32", shape, mode) in results:
            print(f"{policy} / float32 at {shape} ({mode}): {value / results[('float32', shape, mode)]:.2f}x")
    return rows


if __name__ == "__main__":
    main()
