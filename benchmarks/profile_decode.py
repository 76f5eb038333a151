"""Where a batch-1 decoding step's time goes, next to one large matrix-vector product timed in the same run.

Profiles one XLA-compiled greedy decode of the full-size GPT (random weights, float32, prompt 32 ->
+N) with XLA's per-operation trace events, maps each event to its operation in the optimized program,
and prints per token: the weight products (the 49 matrix-vector products that read every weight once,
by shape, each with its bandwidth), attention over the cache, and every other operation; then the
once-per-call work (the prefill, the decode-layout copies). Alternating with the profiled calls, it
times one large (256 MB) GEMV in its faster layout, the limit `bench_generation.py` divides by, and
the same weight products through numpy's BLAS (same shapes and counts, in a child process): what a
library kernel reaches on matrices this small here. It prints the ceilings these figures imply: how
fast the step would be if every weight product read at that GEMV's rate, or at the BLAS's, the rest
as measured.

    python benchmarks/profile_decode.py [--new-tokens 128] [--rounds 3] [--threads N]

`--threads 1` runs TensorFlow's intra-op pool (the one XLA's CPU code runs on) with one thread, for
the decode and the large GEMV, and the BLAS with one thread: next to a default run it shows what each
product gains from more cores.

The trace adds a little time to each of a step's ~350 operations, so the profiled call can be slower
than an unprofiled one (by 0-11% on a 2-core VM): both are printed. Run it on an idle machine.
"""
import argparse
import collections
import glob
import os
import re
import shutil
import sys
import tempfile
import time

DUMP = tempfile.mkdtemp(prefix="profile_decode_")
USER_XLA_FLAGS = os.environ.get("XLA_FLAGS", "")
# XLA reads its flags once, when TensorFlow first compiles: set before TensorFlow is imported.
os.environ["XLA_FLAGS"] = (
    f"{USER_XLA_FLAGS} --xla_cpu_enable_xprof_traceme=true --xla_dump_to={DUMP}"
    " --xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*generate.*"
).strip()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel  # noqa: E402
from machine import blas_gemv_rates, cpu_description, gemv_bandwidths  # noqa: E402

BYTES = {"f32": 4, "bf16": 2, "f16": 2, "f64": 8, "s8": 1, "u8": 1}
# Operations that hold other operations (their events span their contents' events).
CONTAINERS = ("while", "conditional", "call")
INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = (\(.*?\)|\S+) ([\w\-]+)\((.*)$")


def parse_hlo(text):
    """{instruction name: (opcode, shape, operand names)} of an optimized HLO module's text."""
    instructions = {}
    for line in text.splitlines():
        match = INSTRUCTION.match(line)
        if match:
            name, shape, opcode, rest = match.groups()
            operands = re.findall(r"%([\w.\-]+)", rest.split(")", 1)[0])
            instructions[name] = (opcode, shape, operands)
    return instructions


def dims(shape):
    """(dtype, dims) of an HLO array shape such as f32[768,3072]{1,0}."""
    match = re.match(r"(\w+)\[([\d,]*)\]", shape)
    if not match:
        return None, ()
    return match.group(1), tuple(int(d) for d in match.group(2).split(",") if d)


def classify(name, instructions):
    """("weights", (rows, cols), bytes) for a matrix-vector product reading a weight matrix;
    ("attention", None, 0) for other products; ("other", None, 0) for the rest; None for containers."""
    opcode, _, operands = instructions[name]
    if opcode in CONTAINERS:
        return None
    if opcode != "dot":
        return "other", None, 0
    shapes = [dims(instructions[o][1]) if o in instructions else (None, ()) for o in operands]
    ranks = sorted(len(d) for _, d in shapes)
    if ranks == [1, 2]:
        dtype, matrix = next((t, d) for t, d in shapes if len(d) == 2)
        return "weights", matrix, int(np.prod(matrix)) * BYTES.get(dtype, 4)
    return "attention", None, 0


def opcode_of(name, instructions):
    """An operation's opcode, or for a fusion its name without XLA's numbering (e.g. "copy" for the
    fused transposes XLA names wrapped_copy.N)."""
    opcode = instructions[name][0]
    return re.sub(r"^wrapped_|\.\d+$", "", name) if opcode == "fusion" else opcode


def thunk_events(space, instructions):
    """(name, duration in seconds) of every traced operation of the module."""
    events = []
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if name in instructions:
                    events.append((name, event.duration_ps * 1e-12))
    return events


def profile_call(generate):
    """The XSpace of one profiled `generate()` and its wall time."""
    logdir = os.path.join(DUMP, f"trace_{time.time_ns()}")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    generate()
    seconds = time.perf_counter() - start
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0], "rb") as trace:
        space.ParseFromString(trace.read())
    return space, seconds


def summarize(events, instructions):
    """Per-token seconds and bytes by category, per-shape weight products, once-per-call seconds, and
    the number of loop steps.

    The token loop's steps are the most times any weight product ran; an operation that ran that often
    is in the loop and its time is per token. The rest (the prefill's operations, the copies made once
    per call) is per call."""
    counts = collections.Counter(name for name, _ in events)
    kinds = {name: classify(name, instructions) for name in counts}  # once per operation, not per event
    steps = max((count for name, count in counts.items() if kinds[name] and kinds[name][0] == "weights"), default=0)
    if steps == 0:
        sys.exit("the profiled call traced no matrix-vector product of a weight: was it a batch-1 decode under XLA?")
    per_token = collections.defaultdict(float)
    shapes = collections.defaultdict(lambda: [0.0, 0, 0])
    once = collections.defaultdict(float)
    for name, seconds in events:
        kind = kinds[name]
        if kind is None:
            continue
        category, matrix, nbytes = kind
        if counts[name] < steps:
            once["products" if category != "other" else opcode_of(name, instructions)] += seconds
            continue
        per_token[category] += seconds / steps
        if category == "weights":
            entry = shapes[matrix]
            entry[0] += seconds / steps
            entry[1] += nbytes / steps
            entry[2] += 1
    return per_token, shapes, once, steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="profiled calls, each next to a GEMV timing")
    parser.add_argument("--threads", type=int, help="threads of TensorFlow's intra-op pool (default: one per core)")
    try:
        args = parser.parse_args(argv)
        if not 2 <= args.new_tokens <= 480 or args.rounds < 1 or (args.threads is not None and args.threads < 1):
            parser.error("--new-tokens must be 2..480 (the prompt is 32 of the 512 positions), --rounds and --threads at least 1")
        if args.threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        run(args)
    finally:
        shutil.rmtree(DUMP, ignore_errors=True)


def run(args):
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig())
    model(np.zeros((1, 4), np.int32))
    prompt = np.random.RandomState(0).randint(0, 40000, (1, 32)).astype(np.int32)
    new = args.new_tokens
    generate = lambda: model.generate(prompt, max_new_tokens=new)  # noqa: E731
    generate()
    generate()
    modules = [p for p in glob.glob(os.path.join(DUMP, "*after_optimizations.txt")) if "buffer" not in p]
    if not modules:
        sys.exit(f"no optimized generation program was dumped under {DUMP}: XLA_FLAGS not applied?")
    with open(max(modules, key=os.path.getsize)) as module:
        instructions = parse_hlo(module.read())

    unprofiled, rounds, bandwidths, blas_rounds = [], [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        generate()
        unprofiled.append(time.perf_counter() - start)
        space, seconds = profile_call(generate)
        summary = summarize(thunk_events(space, instructions), instructions)
        rounds.append((summary, seconds))
        bandwidths.append(max(gemv_bandwidths(3).values()))
        _, shapes, _, steps = summary
        products = {matrix: round(events / steps) for matrix, (_, _, events) in shapes.items()}
        blas_rounds.append(blas_gemv_rates(products, 3, args.threads))
    # The round whose profiled call was the median one.
    order = sorted(range(len(rounds)), key=lambda i: rounds[i][1])
    (per_token, shapes, once, steps), profiled = rounds[order[len(order) // 2]]
    bandwidth = float(np.median(bandwidths))
    blas_name = blas_rounds[0][1]
    blas = {matrix: float(np.median([rates.get(matrix, np.nan) for rates, _ in blas_rounds])) for matrix in shapes}

    weight_bytes = sum(entry[1] for entry in shapes.values())
    limit = bandwidth / weight_bytes
    step = sum(per_token.values())
    call = float(np.median(unprofiled))
    threads = f", intra-op threads: {args.threads}" if args.threads else ""
    print(f"full-size GPT, float32, batch 1, prompt 32 -> +{new}{threads}")
    os.environ["XLA_FLAGS"] = USER_XLA_FLAGS  # so that the description names only the user's caps
    print(f"CPU: {cpu_description()}")
    print(f"one large GEMV (256 MB, faster layout), median of {len(bandwidths)} timings alternating with the calls: "
          f"{bandwidth / 1e9:.1f} GB/s (each: {', '.join(f'{b / 1e9:.1f}' for b in bandwidths)})")
    print(f"weights read per token {weight_bytes / 1e6:.0f} MB -> bandwidth limit {limit:.1f} tokens/s")
    print(f"a call: {call * 1e3:.0f} ms unprofiled (median of {len(unprofiled)}, {new / call:.1f} tokens/s = "
          f"{new / call / limit:.0%} of the limit), {profiled * 1e3:.0f} ms profiled")
    print(f"\nper token, in the token loop ({steps} steps of the profiled call): {step * 1e3:.2f} ms")
    weights = per_token["weights"]
    print(f"  weight products        {weights * 1e3:6.2f} ms  {weights / step:4.0%}  "
          f"{weight_bytes / weights / 1e9:5.1f} GB/s = {weight_bytes / weights / bandwidth:.0%} of the large GEMV")
    for matrix, (seconds, nbytes, events) in sorted(shapes.items(), key=lambda item: -item[1][0]):
        count = round(events / steps)  # products of this shape per token
        print(f"    {str(matrix):14s} x{count:<3d} {seconds * 1e3:6.2f} ms  {nbytes / seconds / 1e9:5.1f} GB/s, "
              f"{seconds / count * 1e6:6.1f} us each; numpy's BLAS {blas[matrix] / 1e9:5.1f} GB/s")
    # The same products through a library kernel, on the same shapes and threads: what this machine
    # reaches on matrices this small when the kernel keeps every core streaming.
    at_blas = sum(nbytes / blas[matrix] for matrix, (_, nbytes, _) in shapes.items())
    threads_text = f"{args.threads} thread{'s' if args.threads > 1 else ''}" if args.threads else "its default threads"
    print(f"  the same products through numpy's BLAS ({blas_name}, {threads_text}; medians of {len(blas_rounds)}): "
          f"{at_blas * 1e3:.2f} ms, {weight_bytes / at_blas / 1e9:.1f} GB/s = "
          f"{weight_bytes / at_blas / bandwidth:.0%} of the large GEMV")
    for category, label in (("attention", "attention over the cache"), ("other", "every other operation")):
        print(f"  {label:22s} {per_token[category] * 1e3:6.2f} ms  {per_token[category] / step:4.0%}")
    total_once = sum(once.values())
    parts = ", ".join(f"{kind} {seconds * 1e3:.0f}" for kind, seconds in sorted(once.items(), key=lambda item: -item[1])[:4])
    print(f"once per call (the prefill, the decode-layout copies): {total_once * 1e3:.0f} ms "
          f"= {total_once / new * 1e3:.2f} ms per token ({parts} ms)")

    # From the profiled call alone, whose parts were timed together (the trace makes its many small
    # operations a little slower, so this "rest" is an upper bound).
    rest = step - weights + total_once / new
    at_gemv = weight_bytes / bandwidth
    print(f"\nthe profiled call per token: weight products {weights * 1e3:.2f} ms + the rest (attention, other"
          f" operations, once-per-call work) {rest * 1e3:.2f} ms")
    print("ceilings, from these figures:")
    print(f"  weight products as measured, nothing else: {1 / weights:.1f} tokens/s = {1 / weights / limit:.0%} of the limit")
    print(f"  weight products at the large GEMV's rate, the rest as measured: {1 / (at_gemv + rest):.1f} tokens/s = "
          f"{1 / (at_gemv + rest) / limit:.0%} of the limit")
    print(f"  weight products at numpy's BLAS rates, the rest as measured: {1 / (at_blas + rest):.1f} tokens/s = "
          f"{1 / (at_blas + rest) / limit:.0%} of the limit")
    allowed = (1 / 0.9 - 1) / limit
    print(f"  90% of the limit leaves, with the products at the large GEMV's rate, {allowed * 1e3:.2f} ms per token"
          f" for the rest ({rest * 1e3:.2f} ms here)")


if __name__ == "__main__":
    main()
