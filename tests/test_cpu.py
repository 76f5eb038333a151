"""compile()'s automatic choice reads the CPU's bfloat16 support from its flags and oneDNN's settings."""

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
