"""All benchmarks in one run, summarized in one table.

    python benchmarks/run.py [--quick] [--no-reference] [--max-isa AVX2]

Runs the forward, generation, prompt-lookup, training and tokenizer benchmarks (full-size GPT, random weights) and
prints tokens/s with the ratio to this machine's own limit measured in the same run (float32 matmul
FLOP/s for compute-bound work, large-GEMV memory bandwidth for batch-1 generation) and to the peers
timed in the same run where their interpreters exist (benchmarks/peers.py: the reference, transformers
with torch and with its TF port, and keras-hub). About 40 minutes on 2 cores (the peers' runs take half
of it); --quick times fewer repeats. Run it on an idle machine: every other process lowers every figure.

`--max-isa AVX2` caps both oneDNN (ONEDNN_MAX_CPU_ISA) and XLA (--xla_cpu_max_isa) for this run and the
peers', to see an AVX2-only machine's code paths on a CPU with AVX-512; the header says which
instruction set oneDNN then dispatches to.
"""
import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def format_table(rows):
    header = ("benchmark", "setting", "tokens/s", "vs machine limit", "vs reference", "vs keras-hub")
    keys = ("limit", "reference", "keras_hub")
    lines = [(r["benchmark"], r["setting"], f"{r['tokens_per_second']:,.0f}") + tuple(r.get(k, "") for k in keys) for r in rows]
    widths = [max(len(str(line[i])) for line in [header] + lines) for i in range(len(header))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    return "\n".join(out)


def capped_environment(isa):
    """The environment with both oneDNN's and XLA's instruction sets capped at `isa` (e.g. "AVX2")."""
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_cpu_max_isa={isa}".strip()
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier figures)")
    parser.add_argument("--no-reference", action="store_true", help="do not time the peers")
    parser.add_argument("--max-isa", help="cap oneDNN and XLA at this instruction set, e.g. AVX2")
    args = parser.parse_args(argv)
    if args.max_isa and os.environ.get("ONEDNN_MAX_CPU_ISA") != args.max_isa:
        # The caps are read when TensorFlow loads: run again in a capped environment.
        arguments = [sys.executable, str(Path(__file__).resolve())] + (sys.argv[1:] if argv is None else list(argv))
        os.execve(sys.executable, arguments, capped_environment(args.max_isa))

    import bench_forward
    import bench_generation
    import bench_prompt_lookup
    import bench_tokenizer
    import bench_training
    from machine import cpu_description, onednn_isa

    print(f"CPU: {cpu_description()}; oneDNN dispatches to: {onednn_isa()}")
    repeats = "1" if args.quick else "3"
    no_peers = ["--reference-tf-python", "", "--keras-hub-python", ""] if args.no_reference else []
    rows = []
    rows += bench_forward.main(["--repeats", repeats])
    rows += bench_generation.main(["--repeat", repeats] + (["--no-reference", "--keras-hub-python", ""] if args.no_reference else []))
    rows += bench_prompt_lookup.main(["--repeat", "3" if args.quick else "7"])
    rows += bench_training.main(["--steps", "4" if args.quick else "10"] + no_peers)
    rows += bench_tokenizer.main(["--repeat", repeats] + (["--reference-python", ""] if args.no_reference else []))
    print()
    print(f"CPU: {cpu_description()}")
    print(format_table(rows))
    return rows


if __name__ == "__main__":
    main()
