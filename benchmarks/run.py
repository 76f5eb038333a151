"""All benchmarks in one run, summarized in one table.

    python benchmarks/run.py [--quick] [--no-reference]

Runs the forward, generation, training and tokenizer benchmarks (full-size GPT, random weights) and
prints tokens/s with the ratio to this machine's own limit measured in the same run (float32 matmul
FLOP/s for compute-bound work, large-GEMV memory bandwidth for batch-1 generation) and, where the
reference (transformers + torch in /work/refvenv or --reference-python) is installed, the ratio to
it. About 25 minutes on 2 cores (the reference's generation alone takes several); --quick times fewer
repeats. Run it on an idle machine: every other process lowers every figure.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_forward  # noqa: E402
import bench_generation  # noqa: E402
import bench_tokenizer  # noqa: E402
import bench_training  # noqa: E402


def format_table(rows):
    header = ("benchmark", "setting", "tokens/s", "vs machine limit", "vs reference")
    lines = [(r["benchmark"], r["setting"], f"{r['tokens_per_second']:,.0f}", r.get("limit", ""), r.get("reference", "")) for r in rows]
    widths = [max(len(str(line[i])) for line in [header] + lines) for i in range(len(header))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier figures)")
    parser.add_argument("--no-reference", action="store_true", help="do not time the reference")
    args = parser.parse_args(argv)
    repeats = "1" if args.quick else "3"
    rows = []
    rows += bench_forward.main(["--repeats", repeats])
    generation = ["--repeat", repeats] + (["--no-reference"] if args.no_reference else [])
    rows += bench_generation.main(generation)
    rows += bench_training.main(["--steps", "4" if args.quick else "10"])
    tokenizer = ["--repeat", repeats] + (["--reference-python", ""] if args.no_reference else [])
    rows += bench_tokenizer.main(tokenizer)
    print()
    print(format_table(rows))
    return rows


if __name__ == "__main__":
    main()
