"""compile()'s automatic choice reads the CPU's bfloat16 support from its flags and oneDNN's settings;
the weight-gradient products read whether XLA's code uses AVX-512 from the flags and XLA_FLAGS."""

import os
import subprocess
import sys
import textwrap

import pytest

from gpt_keras import _cpu

ZEN5 = {"avx2", "fma", "avx512f", "avx512_bf16"}
ZEN3 = {"avx2", "fma"}
SAPPHIRE_RAPIDS = {"avx2", "avx512f", "amx_bf16", "amx_tile"}


def test_cpu_flags_parses_the_first_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512_bf16\n\nflags\t\t: other\n")
    assert _cpu.cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16"}
    assert _cpu.cpu_flags(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize(
    "flags, environ, expected",
    [
        (ZEN5, {}, True),
        (SAPPHIRE_RAPIDS, {}, True),
        (ZEN3, {}, False),
        (frozenset(), {}, False),  # flags unreadable: XLA
        (ZEN5, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),
        (ZEN5, {"ONEDNN_MAX_CPU_ISA": "avx512_core"}, False),
        (ZEN5, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, True),
        (ZEN5, {"ONEDNN_MAX_CPU_ISA": "ALL"}, True),
        (ZEN5, {"TF_ENABLE_ONEDNN_OPTS": "0"}, False),
        (ZEN5, {"TF_ENABLE_ONEDNN_OPTS": "1"}, True),
    ],
)
def test_graph_runs_bf16_fast(flags, environ, expected):
    assert _cpu.graph_runs_bf16_fast(frozenset(flags), environ) is expected


@pytest.mark.parametrize(
    "flags, xla_flags, expected",
    [
        (ZEN5, "", True),
        (ZEN3, "", False),
        (frozenset(), "", False),  # flags unreadable
        (ZEN5, "--xla_cpu_max_isa=AVX2", False),
        (ZEN5, "--xla_cpu_max_isa=avx2 --xla_dump_to=/tmp/x", False),
        (ZEN5, "--xla_cpu_max_isa=AVX512_BF16", True),
        (ZEN5, "--xla_cpu_max_isa=AMX_FP16", True),
        (ZEN5, "--xla_cpu_max_isa=AVX2 --xla_cpu_max_isa=AVX512", True),  # the last one counts
        (ZEN3, "--xla_cpu_max_isa=AVX512", False),  # a cap adds nothing the CPU lacks
        (ZEN5, "--xla_cpu_use_thunk_runtime=false", True),
    ],
)
def test_xla_runs_avx512(flags, xla_flags, expected):
    assert _cpu.xla_runs_avx512(frozenset(flags), {"XLA_FLAGS": xla_flags}) is expected


def test_auto_compile_trains_bf16_with_onednn_capped_below_bf16():
    """With oneDNN capped at AVX2, a bfloat16 matmul in a TF graph aborts the process: "auto" picks XLA."""
    script = textwrap.dedent(
        """
        import numpy as np
        from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
        config = OpenAIGPTConfig(vocab_size=50, n_positions=8, n_embd=16, n_layer=1, n_head=2)
        model = TFOpenAIGPTLMHeadModel(config, dtype="mixed_bfloat16")
        model.compile(optimizer="adam")
        ids = np.arange(16, dtype="int32").reshape(2, 8) % 50
        history = model.fit({"input_ids": ids, "labels": ids}, epochs=1, verbose=0)
        print("jit", model.jit_compile, "loss", np.isfinite(history.history["loss"][-1]))
        """
    )
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-4:] == ["jit", "True", "loss", "True"]
