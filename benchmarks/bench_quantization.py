"""Quantized models: logits drift against float32, resident weight bytes, forward and decode speed.

1. Drift on the tiny fixture (`../shared/fixtures/tiny-openai-gpt/lm`, random weights drawn with
   initializer_range 0.5, so logits up to |11|): for each mode, the largest and the mean absolute
   difference of the real tokens' logits from the float32 model's (which are the reference's to 1e-5),
   and how many next-token argmaxes are unchanged.
2. The full-size GPT (random weights): weight bytes held per mode, and the speed of a forward pass
   (4 x 128 tokens) and of greedy decoding (batch 1, 8 -> +32 tokens), each as an XLA program and as a
   TensorFlow graph, all in one run so that the ratios compare like with like.

    python benchmarks/bench_quantization.py [--repeat 3] [--skip-speed]

Other processes on the machine slow every figure (the ratios within one run are what to read).
"""
import argparse
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
from gpt_keras.decoding import DecodingOptions, build_generate_fn
from machine import best_time

SHARED = os.environ.get("GPTK_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
FIXTURE = os.path.join(SHARED, "fixtures", "tiny-openai-gpt")
MODES = {
    "float32": None,
    "int8": ("int8", None),
    "int4 (block 128)": ("int4", None),
    "int4 (per channel)": ("int4", keras.quantizers.Int4QuantizationConfig(block_size=None)),
    "float8": ("float8", None),
}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        return f"{names[0]} x {len(names)}" if names else platform.processor()
    except OSError:
        return platform.processor()


def quantized_model(mode, build):
    model = build()
    if MODES[mode] is not None:
        model.quantize(MODES[mode][0], config=MODES[mode][1])
    return model


def weight_bytes(model):
    return sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)


def drift():
    expected = np.load(os.path.join(FIXTURE, "expected.npz"))
    ids, mask = expected["input_ids"], expected["attention_mask"]
    real = mask.astype(bool)
    load = lambda: TFOpenAIGPTLMHeadModel.from_pretrained(os.path.join(FIXTURE, "lm"))
    reference = load()(ids, attention_mask=mask).logits.numpy()
    gptq = ("gptq (4 bit, group 16)", lambda m: m.quantize("gptq", config=keras.quantizers.GPTQConfig(
        [np.random.default_rng(i).integers(0, 1000, 64) for i in range(16)], object(), weight_bits=4,
        num_samples=16, sequence_length=32, group_size=16)))
    rows = [(name, lambda m, name=name: m.quantize(MODES[name][0], config=MODES[name][1]) if MODES[name] else None) for name in MODES]
    print(f"drift of the fixture's logits from float32 (|logit| up to {np.abs(reference[real]).max():.1f}):")
    for name, apply in rows + [gptq]:
        model = load()
        apply(model)
        logits = model(ids, attention_mask=mask).logits.numpy()
        difference = np.abs(logits - reference)[real]
        same = (logits.argmax(-1) == reference.argmax(-1))[real].mean()
        print(f"  {name:22s} max {difference.max():8.4f}  mean {difference.mean():8.5f}  argmax kept {same:6.1%}"
              f"  weights {weight_bytes(model) / 1e3:7.1f} kB")


def speed(repeat):
    config = OpenAIGPTConfig()
    ids = np.random.default_rng(0).integers(0, 40000, (4, 128)).astype(np.int32)
    prompt = tf.constant(ids[:1, :8])
    controls = [tf.constant(32), tf.constant(1.0), tf.constant(0), tf.constant(1.0), tf.constant(0), tf.constant(False)]
    print(f"full-size GPT ({config.n_layer} layers, n_embd {config.n_embd}, vocab {config.vocab_size}), {cpu_name()}:")
    for mode in ("float32", "int8", "int4 (per channel)", "int4 (block 128)", "float8"):
        model = quantized_model(mode, lambda: TFOpenAIGPTLMHeadModel(config))
        figures = []
        for jit in (True, False):
            forward = tf.function(lambda x: model(x).logits, jit_compile=jit)
            seconds = best_time(lambda: forward(ids).numpy(), repeat)
            figures.append(f"forward {'XLA' if jit else 'graph'} {ids.size / seconds:7.0f} tok/s")
        for jit in (True, False):
            program = build_generate_fn(model, 48, DecodingOptions(), jit_compile=jit)
            program = program if jit else tf.function(program)
            seconds = best_time(lambda: program(prompt, tf.ones_like(prompt), *controls)["sequences"].numpy(), repeat)
            figures.append(f"decode {'XLA' if jit else 'graph'} {32 / seconds:6.1f} tok/s")
        print(f"  {mode:20s} weights {weight_bytes(model) / 1e6:6.1f} MB  " + "  ".join(figures), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure (the best is kept)")
    parser.add_argument("--skip-speed", action="store_true", help="only the fixture's drift")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    drift()
    if not args.skip_speed:
        speed(args.repeat)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
