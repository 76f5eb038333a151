"""This machine's own limits, measured in the same run as a benchmark, and the timing helper they share.

Every benchmark reports its figure as a fraction of one of these: the float32 matmul rate for
compute-bound work, the bandwidth of a large matrix-vector product for batch-1 generation.
"""
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
