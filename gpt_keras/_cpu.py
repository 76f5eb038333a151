"""What the CPU can do for TensorFlow's kernels, for `compile()`'s automatic choice of XLA or TF graph
(and for the layers' XLA-on-CPU forms: `xla_runs_avx512`, see `gpt_keras.layers.products`).

Only TensorFlow's graph kernels (oneDNN) use the CPU's bfloat16 dot-product instructions; XLA's CPU
backend converts bfloat16 to float32 around every matmul. So a bfloat16 model trains fastest as a TF
graph on a CPU that has them (AVX512_BF16 or AMX), and as XLA everywhere else, where the graph either
falls back to slow kernels or, with oneDNN capped below bfloat16 (ONEDNN_MAX_CPU_ISA=AVX2), cannot make
a bfloat16 matmul at all and aborts the process. README, "Benchmarks", has the figures.
"""
import functools
import os

# /proc/cpuinfo flags of the instructions oneDNN's bfloat16 matmul runs on.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

# ONEDNN_MAX_CPU_ISA values (oneDNN's names and their aliases) at or above the first with bfloat16 dot
# products; any other value caps oneDNN below them.
_BF16_ISAS = frozenset(
    {
        "ALL", "DEFAULT",
        "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
        "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2",
    }
)


@functools.lru_cache(maxsize=None)
def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The instruction-set flags of the first CPU in `cpuinfo` (empty where the file cannot be read), read
    once per file: every layer's trace asks."""
    try:
        with open(cpuinfo) as lines:
            for line in lines:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def accelerators_visible():
    """True when TensorFlow sees a GPU or TPU: the CPU-specific choices here then do not apply."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def onednn_enabled(environ=os.environ):
    """False when TensorFlow's oneDNN kernels are switched off (TF_ENABLE_ONEDNN_OPTS=0)."""
    return environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in {"0", "false", "off", "no"}


def graph_runs_bf16_fast(flags=None, environ=os.environ):
    """True when TensorFlow's graph kernels run bfloat16 matmuls on the CPU's bfloat16 instructions.

    Needs the instructions (`flags`, default this CPU's), oneDNN switched on, and no ONEDNN_MAX_CPU_ISA
    cap below them. Where the flags cannot be read (not Linux), the answer is False: XLA is then the safe
    choice, never slower than a graph falling back to unaccelerated kernels.
    """
    flags = cpu_flags() if flags is None else flags
    cap = environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return bool(_BF16_FLAGS & set(flags)) and onednn_enabled(environ) and (not cap or cap in _BF16_ISAS)


# --xla_cpu_max_isa values at or above AVX-512 (XLA's names); any other value caps XLA below it.
_XLA_AVX512_ISAS = frozenset({"AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX", "AMX_FP16"})


def xla_runs_avx512(flags=None, environ=os.environ):
    """True when XLA's CPU code uses AVX-512: the CPU has it (`flags`, default this CPU's) and XLA_FLAGS
    does not cap `--xla_cpu_max_isa` below it. Where the flags cannot be read, False."""
    flags = cpu_flags() if flags is None else flags
    cap = ""
    for flag in environ.get("XLA_FLAGS", "").split():
        if flag.startswith("--xla_cpu_max_isa="):
            cap = flag.split("=", 1)[1].strip().upper()
    return "avx512f" in flags and (not cap or cap in _XLA_AVX512_ISAS)
