"""`gpt-keras quickstart`: the whole library on Python's own documentation, with no downloads."""
from pathlib import Path

from gpt_keras.cli._args import _positive_float, _writable_dir


def add_parser(subparsers):
    """Declares `gpt-keras quickstart [options]`."""
    parser = subparsers.add_parser(
        "quickstart",
        help="learn a tokenizer, train, evaluate, sample and serve a small GPT on Python's docs (no downloads)",
        description=(
            "The whole library in a few minutes on the CPU, with no downloads: learn a BPE vocabulary on "
            "the English prose of the documentation that ships with Python (the pydoc topics and the "
            "standard library's docstrings), train a small GPT for a bounded time, "
            "print its held-out perplexity next to a unigram baseline, write the loss curve (PNG; CSV without "
            "matplotlib), sample with the XLA-compiled generation, export a SavedModel and answer a request "
            "from it in a fresh process. Figures go to OUTPUT/figures.json."
        ),
    )
    parser.add_argument(
        "--output", type=Path, default=Path("gpt-keras-quickstart"), metavar="DIR", help="where to write (default ./gpt-keras-quickstart)"
    )
    parser.add_argument("--reduced", action="store_true", help="tiny sizes and seconds of training (a smoke test)")
    parser.add_argument("--train-seconds", type=_positive_float, metavar="S", help="training time budget")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Runs `gpt-keras quickstart`; returns the exit code (0)."""
    _writable_dir(args.output, "--output")
    from gpt_keras.quickstart import run_quickstart

    run_quickstart(
        args.output,
        reduced=args.reduced,
        train_seconds=args.train_seconds,
        seed=args.seed,
        log=lambda line: print(line, flush=True),
    )
    return 0
