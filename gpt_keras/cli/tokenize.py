"""`gpt-keras tokenize DIR [TEXT ...]`: the BPE tokens and ids of texts."""
import logging
from pathlib import Path

from gpt_keras.cli._args import _existing_dir, _texts_from
from gpt_keras.cli._loading import _load_tokenizer


def add_parser(subparsers):
    """Declares `gpt-keras tokenize MODEL_OR_TOKENIZER_DIR [TEXT ...] [options]`."""
    parser = subparsers.add_parser(
        "tokenize",
        help="show the BPE tokens and ids of texts",
        description=(
            "Tokenize each TEXT (or each non-empty line of stdin) with the tokenizer in the directory and "
            "print, per text, a `tokens:` line (whitespace inside a token escaped) and an `ids:` line."
        ),
    )
    parser.add_argument("directory", type=Path, metavar="MODEL_OR_TOKENIZER_DIR", help="directory with vocab.json + merges.txt")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts (default: one per line of stdin)")
    parser.add_argument(
        "--mode", choices=("basic", "spacy_ftfy"), help="pre-tokenizer (default: the one saved with the tokenizer)"
    )
    parser.add_argument("--ids-only", action="store_true", help="print one line of ids per text")
    parser.set_defaults(run=run, log_level=logging.WARNING)
    return parser


def run(args):
    """Runs `gpt-keras tokenize`; returns the exit code (0)."""
    _existing_dir(args.directory, "MODEL_OR_TOKENIZER_DIR")
    texts = _texts_from(args.texts, "text")
    overrides = {} if args.mode is None else {"pre_tokenizer": args.mode}
    tokenizer = _load_tokenizer(args.directory, "MODEL_OR_TOKENIZER_DIR", **overrides)
    for index, text in enumerate(texts):
        ids = " ".join(str(i) for i in tokenizer.encode(text))
        if args.ids_only:
            print(ids)
            continue
        if index:
            print()
        print("tokens: " + " ".join(_visible(token) for token in tokenizer.tokenize(text)))
        print("ids: " + ids)
    return 0


def _visible(token):
    """A token with whitespace and control characters escaped, so that one token stays one word."""
    return "".join(repr(c)[1:-1] if c.isspace() or not c.isprintable() else c for c in token)
