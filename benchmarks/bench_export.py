"""SavedModel export of the full-size LM: export time, size on disk, and the first requests after loading.

    python benchmarks/bench_export.py [--max-length 512] [--max-new-tokens 256] [--no-requests]

Random weights (the time and size do not depend on their values). Prints the export time, the size of
`saved_model.pb`, of `variables/` and in total, then (unless --no-requests) the load time, a
`serving_default` call on 1x128 tokens and `generate` of 32 tokens from a 16-token prompt: the first
call (XLA compile included) and the best of three after it.
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

import gpt_keras  # noqa: F401  (pins the Keras backend)
import numpy as np
import tensorflow as tf

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
from gpt_keras.export import export_saved_model


def directory_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def generate_request(rng, config, prompt_length, new_tokens):
    return dict(
        input_ids=tf.constant(rng.integers(0, config.vocab_size, (1, prompt_length)), tf.int32),
        attention_mask=tf.ones((1, prompt_length), tf.int32),
        max_new_tokens=tf.constant(new_tokens, tf.int32),
        temperature=tf.constant(1.0),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(0),
        do_sample=tf.constant(False),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--no-requests", action="store_true", help="only export, do not load and call")
    args = parser.parse_args()

    config = OpenAIGPTConfig()
    model = TFOpenAIGPTLMHeadModel(config)
    parameters = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    root = Path(tempfile.mkdtemp(prefix="bench_export_"))
    try:
        limits = dict(max_length=args.max_length, max_new_tokens=args.max_new_tokens)
        version, seconds = timed(lambda: export_saved_model(model, root / "openai-gpt", **limits))
        print(f"full-size LM: {parameters / 1e6:.1f}M parameters, float32 weights {parameters * 4 / 2**20:.1f} MiB")
        print(f"export: {seconds:.1f} s")
        graph_size = (version / "saved_model.pb").stat().st_size
        print(
            f"size: {directory_size(version) / 2**20:.1f} MiB total, saved_model.pb {graph_size / 2**20:.2f} MiB, "
            f"variables/ {directory_size(version / 'variables') / 2**20:.1f} MiB"
        )
        if args.no_requests:
            return
        loaded, seconds = timed(lambda: tf.saved_model.load(str(version)))
        print(f"load: {seconds:.1f} s")
        rng = np.random.default_rng(0)
        forward = loaded.signatures["serving_default"]
        ids = tf.constant(rng.integers(0, config.vocab_size, (1, 128)), tf.int32)
        call = lambda: forward(input_ids=ids, attention_mask=tf.ones_like(ids))["logits"].numpy()
        _, first = timed(call)
        best = min(timed(call)[1] for _ in range(3))
        print(f"serving_default 1x128: first {first:.2f} s, then {best * 1e3:.0f} ms")
        generate = loaded.signatures["generate"]
        request = generate_request(rng, config, 16, 32)
        call = lambda: generate(**request)["sequences"].numpy()
        _, first = timed(call)
        best = min(timed(call)[1] for _ in range(3))
        print(f"generate 16 + 32 tokens: first {first:.1f} s (XLA compile included), then {best:.2f} s")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
