"""`gpt-keras train-tokenizer FILE... --vocab-size N --output DIR`: learn a BPE vocabulary from text files."""
import time
from pathlib import Path

from gpt_keras.cli._args import _existing_files, _positive_int, _writable_dir


def add_parser(subparsers):
    """Declares `gpt-keras train-tokenizer FILE... --vocab-size N --output DIR [options]`."""
    parser = subparsers.add_parser(
        "train-tokenizer",
        help="learn a BPE vocabulary (vocab.json + merges.txt) from text files",
        description=(
            "Learn a BPE vocabulary from the lines of FILEs (UTF-8 text) and write vocab.json, merges.txt "
            "and tokenizer_config.json into --output; the directory then loads with "
            "OpenAIGPTTokenizer.from_pretrained."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="UTF-8 text files")
    parser.add_argument("--vocab-size", type=_positive_int, required=True, metavar="N", help="vocabulary size to aim for")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR", help="directory to write")
    parser.add_argument(
        "--mode", choices=("basic", "spacy_ftfy"), default="basic", help="pre-tokenizer, kept by the tokenizer (default basic)"
    )
    parser.add_argument(
        "--min-frequency", type=_positive_int, default=2, metavar="N", help="merge no pair seen fewer times (default 2)"
    )
    parser.set_defaults(run=run)
    return parser


def _lines(paths, progress):
    """The lines of UTF-8 files, in order, counting their bytes into `progress`; closes it at the end."""
    from gpt_keras.data.readers import read_lines

    yield from read_lines(paths, progress)
    progress.close()


def run(args):
    """Runs `gpt-keras train-tokenizer`; returns the exit code (0)."""
    _existing_files(args.files, "FILE")
    _writable_dir(args.output, "--output")
    from gpt_keras.tokenization.bpe_training import train_tokenizer

    started = time.monotonic()
    from gpt_keras.progress import Progress

    progress = Progress(f"reading {len(args.files)} file(s)", sum(path.stat().st_size for path in args.files), "bytes")
    texts = _lines(args.files, progress)
    tokenizer = train_tokenizer(
        texts, args.vocab_size, args.output, pre_tokenizer=args.mode, min_frequency=args.min_frequency
    )
    print(
        f"learned {tokenizer.vocab_size} tokens ({args.mode} pre-tokenizer) in {time.monotonic() - started:.1f} s "
        f"-> {args.output}"
    )
    if tokenizer.vocab_size < args.vocab_size:
        print(f"note: the corpus ran out of pairs seen {args.min_frequency}+ times before {args.vocab_size} tokens")
    return 0
