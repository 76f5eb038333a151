"""This machine's own limits, measured in the same run as a benchmark, and the timing helper they share.

Every benchmark reports its figure as a fraction of one of these: the float32 matmul rate for
compute-bound work, the bandwidth of a large matrix-vector product for batch-1 generation.
"""
import json
import os
import re
import subprocess
import sys
import time

import tensorflow as tf

from gpt_keras._cpu import cpu_flags, graph_runs_bf16_fast


def best_time(function, repeats, warmup=True):
    """The fastest of `repeats` calls of `function`, in seconds (after one untimed call if `warmup`)."""
    if warmup:
        function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(dtype=tf.float32, size=2048, chain=4, repeats=5):
    """FLOP/s of `chain` chained size x size matmuls in one XLA-compiled call (best of `repeats`)."""
    a = tf.cast(tf.random.normal((size, size), stddev=size**-0.5), dtype)

    @tf.function(jit_compile=True)
    def chained(x):
        for _ in range(chain):
            x = tf.matmul(x, a)
        return x

    return 2.0 * size**3 * chain / best_time(lambda: chained(a).numpy(), repeats)


def gemv_bandwidths(repeats, size=8192):
    """Bytes per second of an XLA float32 (size x size) matrix-vector product (256 MB of weights) in the
    matrix's two layouts: {"(in, out)": ..., "(out, in)": ...}, read as Keras stores a kernel and
    transposed (XLA's CPU runtime streams the second faster). A decode's limit is the faster of the two,
    the best this machine does whichever layout the decode reads."""
    matrix = tf.Variable(tf.random.normal((size, size)))
    vector = tf.random.normal((1, size))
    products = {
        "(in, out)": tf.function(lambda x: tf.matmul(x, matrix), jit_compile=True),
        "(out, in)": tf.function(lambda x: tf.matmul(x, matrix, transpose_b=True), jit_compile=True),
    }
    calls = 20
    rates = {}
    for layout, product in products.items():
        seconds = best_time(lambda: [product(vector) for _ in range(calls)][-1].numpy(), repeats) / calls
        rates[layout] = size * size * 4 / seconds
    return rates


def gemv_chain(shapes):
    """An XLA program of float32 matrix-vector products, one per (out, in) shape in `shapes`, each fed
    the last one's output: every call reads every matrix once, as a decoding step reads its weights
    (random matrices, in the layout decoding reads). Returns `(run() -> None, bytes read per call)`."""
    matrices = [tf.Variable(tf.random.normal(shape)) for shape in shapes]

    @tf.function(jit_compile=True)
    def chained(x):
        for matrix in matrices:
            width = matrix.shape[1]
            fed = tf.tile(x, [1, -(-width // x.shape[1])])[:, :width]
            x = tf.matmul(fed, matrix, transpose_b=True)[:, : shapes[0][1]] * 1e-3
        return x

    vector = tf.random.normal((1, shapes[0][1]))
    chained(vector).numpy()
    return (lambda: chained(vector).numpy()), sum(out * width for out, width in shapes) * 4


# Runs in a child process, so that the BLAS's thread count can be set before numpy loads it.
_BLAS_SCRIPT = r"""
import json, sys, time
import numpy as np
request = json.load(sys.stdin)
rng = np.random.default_rng(0)
shapes = [tuple(shape) for shape in request["order"]]
matrices = [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]
vector = rng.standard_normal(max(cols for _, cols in shapes), dtype=np.float32)
best, best_pass = float("inf"), None
for _ in range(request["repeats"] + 1):  # the first pass is a warm-up
    seconds = []
    for matrix in matrices:
        start = time.perf_counter()
        matrix @ vector[: matrix.shape[1]]
        seconds.append(time.perf_counter() - start)
    if sum(seconds) < best:
        best, best_pass = sum(seconds), seconds
totals = {}
for shape, taken in zip(shapes, best_pass):
    totals[shape] = totals.get(shape, 0.0) + taken
rates = [[list(shape), shape[0] * shape[1] * 4 * shapes.count(shape) / taken] for shape, taken in totals.items()]
blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print(json.dumps({"rates": rates, "blas": f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()}))
"""


def blas_gemv_rates(shapes, repeats=5, threads=None):
    """Bytes per second at which numpy's BLAS reads float32 matrices in matrix-vector products, the
    products XLA runs in a decoding step: `shapes` is {(rows, cols): count}. Each pass multiplies
    every one of `count` different random row-major (rows, cols) matrices of each shape by a vector of
    `cols` (for decode-layout kernels, (out, in), this is the product decoding runs; for a kernel read
    as stored, (in, out), it is a product of the same bytes the other way round), interleaved as a
    step's layers are, so that each matrix comes from memory as in a step, not from a cache. Each
    product is timed, and the fastest of `repeats` passes kept.

    Run in a child process with `threads` BLAS threads (default: the BLAS's own, one per core). Returns
    `({(rows, cols): bytes per second}, the BLAS's name and version)`: what this machine reaches on these
    shapes with a library kernel, next to XLA's figures for them."""
    order = [shape for i in range(max(shapes.values(), default=0)) for shape, count in shapes.items() if i < count]
    request = {"order": order, "repeats": repeats}
    env = dict(os.environ)
    if threads:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    result = subprocess.run(
        [sys.executable, "-c", _BLAS_SCRIPT], input=json.dumps(request), env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"timing numpy's BLAS failed: {result.stderr.strip()[-2000:]}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return {tuple(shape): rate for shape, rate in answer["rates"]}, answer["blas"]


BF16_GRAPH_SKIPPED = "skipped (oneDNN capped below the CPU's bfloat16 instructions aborts it)"


def bf16_graph_aborts():
    """True where a bfloat16 TF graph would abort the process: the CPU has bfloat16 instructions but
    ONEDNN_MAX_CPU_ISA caps oneDNN below them (it then cannot create a bfloat16 matmul)."""
    return graph_runs_bf16_fast(environ={}) and not graph_runs_bf16_fast()


_VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_description():
    """The CPU's name, its vector extensions, and any instruction-set cap set for this run."""
    name = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            name = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), name)
    except OSError:
        pass
    flags = cpu_flags()
    extensions = ", ".join(flag for flag in _VECTOR_FLAGS if flag in flags) or "none listed"
    caps = [f"{var}={os.environ[var]}" for var in ("ONEDNN_MAX_CPU_ISA", "XLA_FLAGS") if os.environ.get(var)]
    capped = f"; capped: {' '.join(caps)}" if caps else ""
    return f"{name} ({os.cpu_count()} threads; {extensions}{capped})"


def onednn_isa():
    """The instruction set oneDNN dispatches to in this environment, as its verbose log names it.

    Run in a child process (the log must be switched on before TensorFlow loads), so that a cap set with
    ONEDNN_MAX_CPU_ISA is shown to take effect rather than assumed.
    """
    script = "import tensorflow as tf; a = tf.ones((256, 256)); print(float(tf.reduce_sum(tf.matmul(a, a))))"
    env = dict(os.environ, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    found = re.search(r"isa:([^,\n]+)", result.stdout + result.stderr)
    return found.group(1).strip() if found else "not reported (oneDNN off?)"
