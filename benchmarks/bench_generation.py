"""Generation speed: XLA-compiled, KV-cached greedy decoding of the full-size GPT (random weights).

Figures (float32, batch 1 unless said): tokens/s at prompt 32 -> +128 and 32 -> +448; per-token latency
near position 40 and near position 470; the first call's compile time; batch-8 tokens/s; whether calls
within one bucket recompile; and the fraction of the memory-bandwidth limit, i.e. tokens/s divided by
(bandwidth of a large float32 matrix-vector product measured in this run / weight bytes read per token).
When a Python with `transformers` + torch is available (`--reference-python`, default
/work/refvenv/bin/python), the reference's `generate` is timed at 32 -> +128 in that interpreter (this
project never imports it) and the speed-up is printed. When a Python with keras-hub is given
(`--keras-hub-python`, default /work/khvenv/bin/python), its GPT2CausalLM at GPT's sizes is timed with its
greedy sampler at batch 1 and batch 8, 32 -> +128, and the ratios are printed.

    python benchmarks/bench_generation.py [--repeat 3] [--reference-python PATH | --no-reference] [--keras-hub-python PATH]

Other processes on the machine slow every figure: run it on an idle machine for the real numbers.
`profile_decode.py` says where a decoding step's time goes, operation by operation.
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np
import tensorflow as tf

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
import peers
from machine import best_time, cpu_description, gemv_bandwidths, gemv_chain
from gpt_keras.decoding import DecodingControls, DecodingOptions, bucket_length, build_stream_fns

DEFAULT_REFERENCE_PYTHON = peers.DEFAULT_REFERENCE_PYTHON
TARGET_TOKENS_PER_SECOND = 100.0
TARGET_SPEEDUP = 15.0
TARGET_LATENCY_RATIO = 1.5

# Runs in the reference's interpreter: same config, random weights, greedy with its KV cache.
REFERENCE_SCRIPT = r"""
import json, sys, time, torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel
request = json.load(sys.stdin)
torch.manual_seed(0)
model = OpenAIGPTLMHeadModel(OpenAIGPTConfig()).eval()
prompt = torch.randint(0, 40000, (1, request["prompt"]))
best = None
with torch.no_grad():
    model.generate(prompt, max_new_tokens=4, do_sample=False, pad_token_id=0)
    for _ in range(request["repeat"]):
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=request["new"], min_new_tokens=request["new"], do_sample=False, pad_token_id=0)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
print(json.dumps({"tokens_per_second": request["new"] / best, "threads": torch.get_num_threads()}))
"""


def weight_bytes_per_token(model):
    """Bytes of weights one decoding step reads: everything but the position table, of which one row."""
    positions = model.transformer.embeddings.positions_embed.embeddings
    total = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    return total - int(np.prod(positions.shape)) * 4 + positions.shape[1] * 4


def per_token_latency(model, prompt, position, steps, repeat):
    """Seconds per token of a compiled chunk of `steps` greedy tokens starting near `position`."""
    max_new = 448
    max_length = bucket_length(prompt.shape[1]) + bucket_length(max_new)
    prefill_fn, decode_fn = build_stream_fns(model, max_length, DecodingOptions())
    # Allow tokens up to the last position, so that every timed chunk really decodes `steps` tokens.
    allowed = model.config.n_positions - prompt.shape[1]
    if position + steps > prompt.shape[1] + allowed:
        raise ValueError(f"position {position} + {steps} steps is past n_positions {model.config.n_positions}")
    controls = DecodingControls(
        max_new_tokens=tf.constant(allowed),
        temperature=tf.constant(1.0),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(0),
        do_sample=tf.constant(False),
    )
    ids = tf.constant(prompt, tf.int32)
    state = prefill_fn(ids, tf.ones_like(ids))
    state = decode_fn(state, tf.constant(position - prompt.shape[1]), controls)  # reach the position
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        decode_fn(state, tf.constant(steps), controls).logits.numpy()
        timings.append(time.perf_counter() - start)
    return min(timings) / steps


def reference_tokens_per_second(python, prompt, new, repeat):
    request = json.dumps({"prompt": prompt, "new": new, "repeat": repeat})
    result = subprocess.run(
        [python, "-c", REFERENCE_SCRIPT], input=request, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    """Prints the figures; returns the headline ones as rows for benchmarks/run.py."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure (the best is kept)")
    parser.add_argument("--reference-python", default=DEFAULT_REFERENCE_PYTHON)
    parser.add_argument("--no-reference", action="store_true", help="skip timing the reference")
    parser.add_argument("--keras-hub-python", default=peers.DEFAULT_KERAS_HUB_PYTHON, help='"" to skip keras-hub')
    args = parser.parse_args(argv)

    config = OpenAIGPTConfig()
    model = TFOpenAIGPTLMHeadModel(config)
    model(np.zeros((1, 4), np.int32))  # creates the weights
    rng = np.random.RandomState(0)
    prompt = rng.randint(0, 40000, (1, 32)).astype(np.int32)
    print(f"full-size GPT: {config.n_layer} layers, n_embd {config.n_embd}, vocab {config.vocab_size}, float32")
    print(f"CPU: {cpu_description()}")

    results = {}
    start = time.perf_counter()
    model.generate(prompt, max_new_tokens=128)
    first_call = time.perf_counter() - start
    seconds = best_time(lambda: model.generate(prompt, max_new_tokens=128), args.repeat, warmup=False)
    results["tps_128"] = 128 / seconds
    results["compile"] = first_call - seconds
    traces = model.generation_trace_count
    model.generate(prompt[:, 2:], max_new_tokens=120)  # same buckets: (32, 128)
    model.generate(prompt[:, 5:], max_new_tokens=100)
    results["recompiled"] = model.generation_trace_count != traces

    model.generate(prompt, max_new_tokens=448)
    results["tps_448"] = 448 / best_time(lambda: model.generate(prompt, max_new_tokens=448), args.repeat, warmup=False)

    results["latency_40"] = per_token_latency(model, prompt, 40, 16, args.repeat)
    results["latency_470"] = per_token_latency(model, prompt, 470, 16, args.repeat)

    batch = rng.randint(0, 40000, (8, 32)).astype(np.int32)
    model.generate(batch, max_new_tokens=128)
    results["tps_batch8"] = 8 * 128 / best_time(lambda: model.generate(batch, max_new_tokens=128), args.repeat, warmup=False)

    # The machine's bandwidth moves from minute to minute on a shared VM: the decode and the same bytes
    # read as one chain of the model's own products are timed in alternation, and their medians compared.
    shapes = [(3 * config.n_embd, config.n_embd), (config.n_embd, config.n_embd), (4 * config.n_embd, config.n_embd),
              (config.n_embd, 4 * config.n_embd)] * config.n_layer + [(config.vocab_size, config.n_embd)]
    run_chain, chain_bytes = gemv_chain(shapes)
    decode_steps, chain_calls = [], []
    for _ in range(max(3, args.repeat)):
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=128)
        decode_steps.append((time.perf_counter() - start) / 128)
        chain_calls.append(best_time(run_chain, 10, warmup=False))
    decode_step, chain_call = float(np.median(decode_steps)), float(np.median(chain_calls))
    layouts = gemv_bandwidths(args.repeat)
    bandwidth = max(layouts.values())
    bytes_per_token = weight_bytes_per_token(model)
    limit = bandwidth / bytes_per_token

    print(f"prompt 32 -> +128, batch 1: {results['tps_128']:8.1f} tokens/s")
    print(f"prompt 32 -> +448, batch 1: {results['tps_448']:8.1f} tokens/s")
    print(f"per-token latency near position 40:  {results['latency_40'] * 1e3:6.2f} ms")
    print(f"per-token latency near position 470: {results['latency_470'] * 1e3:6.2f} ms"
          f"  (ratio {results['latency_470'] / results['latency_40']:.2f}, target <= {TARGET_LATENCY_RATIO})")
    print(f"first call's compile time (32 -> +128): {results['compile']:.1f} s")
    print(f"recompiled within a bucket: {results['recompiled']}")
    print(f"prompt 32 -> +128, batch 8: {results['tps_batch8']:8.1f} tokens/s")
    print("GEMV bandwidth by layout: " + ", ".join(f"{layout} {rate / 1e9:.1f} GB/s" for layout, rate in layouts.items()))
    print(f"GEMV bandwidth (the faster): {bandwidth / 1e9:.1f} GB/s; weights read per token: {bytes_per_token / 1e6:.0f} MB"
          f" -> bandwidth limit {limit:.1f} tokens/s")
    print(f"fraction of the bandwidth limit (32 -> +128): {results['tps_128'] / limit:.2f}")
    print(f"the model's own products in one chain ({chain_bytes / 1e6:.0f} MB): {chain_call * 1e3:.2f} ms"
          f" ({chain_bytes / chain_call / 1e9:.1f} GB/s); a decoding step, alternating with it: {decode_step * 1e3:.2f} ms"
          f" -> decoding at {chain_call / decode_step:.0%} of that chain's speed (medians of {len(decode_steps)})")
    print(f"target >= {TARGET_TOKENS_PER_SECOND:.0f} tokens/s at batch 1: "
          f"{'met' if results['tps_128'] >= TARGET_TOKENS_PER_SECOND else 'NOT met'}")
    limit_text = f"{results['tps_128'] / limit:.0%} of {limit:.0f} tok/s ({bandwidth / 1e9:.0f} GB/s GEMV)"
    rows = [
        dict(benchmark="generate (greedy, cached, XLA)", setting="float32 1x 32->+128", tokens_per_second=results["tps_128"], limit=limit_text),
        dict(benchmark="generate (greedy, cached, XLA)", setting="float32 1x 32->+448", tokens_per_second=results["tps_448"], limit=f"{results['tps_448'] / limit:.0%} of {limit:.0f} tok/s"),
        dict(benchmark="generate (greedy, cached, XLA)", setting="float32 8x 32->+128", tokens_per_second=results["tps_batch8"], limit=""),
        dict(benchmark="generate (greedy, cached, XLA)", setting="float32 1x 32->+128, medians alternating",
             tokens_per_second=1 / decode_step, limit=f"{chain_call / decode_step:.0%} of the model's GEMV chain ({1 / chain_call:.0f} tok/s)"),
    ]
    if not args.no_reference and os.path.exists(args.reference_python):
        reference = reference_tokens_per_second(args.reference_python, 32, 128, 1)  # slow: one run
        speedup = results["tps_128"] / reference["tokens_per_second"]
        print(f"reference (transformers + torch, {reference['threads']} threads) 32 -> +128: "
              f"{reference['tokens_per_second']:.1f} tokens/s; speed-up {speedup:.1f}x (target >= {TARGET_SPEEDUP:.0f}x)")
        rows[0]["reference"] = f"{speedup:.1f}x ({reference['tokens_per_second']:.1f} tok/s)"
    if peers.available(args.keras_hub_python):
        for row, batch, ours in ((rows[0], 1, results["tps_128"]), (rows[2], 8, results["tps_batch8"])):
            theirs = peers.run_peer(
                args.keras_hub_python, peers.KERAS_HUB_GENERATE, batch=batch, prompt=32, new=128, repeat=args.repeat
            )["tokens_per_second"]
            print(f"keras-hub GPT2CausalLM (greedy sampler, XLA) batch {batch} 32 -> +128: {theirs:.1f} tokens/s; "
                  f"ours {ours / theirs:.2f}x")
            row["keras_hub"] = f"{ours / theirs:.2f}x ({theirs:.1f} tok/s)"
    return rows


if __name__ == "__main__":
    main()
