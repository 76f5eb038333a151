"""The `gpt-keras` command line: `gpt-keras <command> ...` (`gpt-keras <command> --help` for each).

Commands:
    convert SRC DST                  Read a checkpoint in any supported layout (safetensors, sharded
                                     safetensors, the reference's tf_model.h5 or pytorch_model.bin, the
                                     original release's params_*.npy) and write config.json + model.safetensors.
    generate MODEL_DIR [PROMPT ...]  Continue prompts (arguments or stdin lines); one prompt is streamed.
    finetune lm|multiple-choice|classify MODEL_DIR DATA OUTPUT_DIR
                                     Fine-tune with the paper's recipe; OUTPUT_DIR gets model + tokenizer.
    evaluate perplexity|multiple-choice|classify MODEL_DIR DATA...
                                     Perplexity on text files, or multiple-choice / classification accuracy.
    export MODEL_DIR EXPORT_DIR      SavedModel for TF Serving (forward and generate signatures).
    tokenize DIR [TEXT ...]          Print the BPE tokens and ids of texts (arguments or stdin lines).
    train-tokenizer FILE... --vocab-size N --output DIR
                                     Learn a BPE vocabulary from text files.
    quickstart [--reduced]           Tokenizer, training, perplexity vs unigram, samples and serving on
                                     Python's own documentation, with no downloads.

Each command is a pair of functions: `add_<command>_parser(subparsers)` declares its arguments and
sets `run=<function(args) -> exit code>`; `COMMANDS` lists the first ones. TensorFlow is imported only
by the commands that need it, so `--help` and usage errors are instant.

Errors print one line on stderr (`gpt-keras <command>: error: ...`) and exit with 1; usage errors
(a wrong argument, a missing input file or directory) exit with 2; `--debug` shows the full traceback
instead. The library's INFO log (what was loaded from where) goes to stdout, except for commands whose
stdout is their result (`generate`, `tokenize`, `evaluate`), which log warnings only unless `--debug`.
Long work shows progress on stderr (reading, tokenizing) or stdout (training).

Example:
    $ gpt-keras convert openai-gpt-release/ openai-gpt/ --n-head 12
    $ echo "the python interpreter" | gpt-keras generate openai-gpt/ --max-new-tokens 30
"""
import argparse
import logging
import math
import os
import sys
import time
from pathlib import Path

from gpt_keras.checkpoints.safetensors import parse_shard_size

USAGE_ERROR = 2
FAILURE = 1

# --model-class value -> (models class name, the reference's class name in config.json "architectures").
MODEL_CLASSES = {
    "base": ("TFOpenAIGPTModel", "OpenAIGPTModel"),
    "lm": ("TFOpenAIGPTLMHeadModel", "OpenAIGPTLMHeadModel"),
    "double-heads": ("TFOpenAIGPTDoubleHeadsModel", "OpenAIGPTDoubleHeadsModel"),
    "seq-cls": ("TFOpenAIGPTForSequenceClassification", "OpenAIGPTForSequenceClassification"),
}
CONFIG_FIELDS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "afn", "layer_norm_epsilon")


class CommandLineError(Exception):
    """A wrong argument found after parsing (e.g. SRC does not exist): exits with the usage code."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line instead of argparse's usage dump; `--help` still shows the usage.
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(convert, accept, expected):
    """An argparse `type`: `convert(text)` when `accept` takes the value, else an error saying `expected`."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):  # NaN fails every comparison, so it is refused too
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda value: value >= 1, "a positive integer")
_non_negative_int = _number(int, lambda value: value >= 0, "an integer >= 0")
_positive_float = _number(float, lambda value: 0 < value < math.inf, "a positive number")
_non_negative_float = _number(float, lambda value: 0 <= value < math.inf, "a number >= 0")
_probability = _number(float, lambda value: 0 < value <= 1, "a number in (0, 1]")
_fraction = _number(float, lambda value: 0 <= value < 1, "a number in [0, 1)")


def _shard_size(text):
    try:
        parse_shard_size(int(text) if text.isdigit() else text)
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return int(text) if text.isdigit() else text


# === convert ===


def add_convert_parser(subparsers):
    """Declares `gpt-keras convert SRC DST [options]`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
    parser = subparsers.add_parser(
        "convert",
        help="convert a checkpoint of any supported layout to config.json + model.safetensors",
        description=(
            "Read SRC (a directory with model.safetensors, sharded safetensors, tf_model.h5, pytorch_model.bin "
            "or the original release's params_shapes.json + params_*.npy; a hub cache folder works too), print "
            "what was found, write DST as config.json + model.safetensors and check that DST loads and gives "
            "the same outputs. With several formats in SRC, safetensors is read first, then h5, then bin."
        ),
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="checkpoint directory or weights file")
    parser.add_argument("dst", type=Path, metavar="DST", help="directory to write (replaced atomically)")
    parser.add_argument("--config", type=Path, metavar="CONFIG_JSON", help="config.json to use instead of SRC's")
    parser.add_argument(
        "--n-head", type=_positive_int, metavar="N", help="number of attention heads (the original release: 12)"
    )
    parser.add_argument(
        "--model-class",
        choices=("auto",) + tuple(MODEL_CLASSES),
        default="auto",
        help="model to load into; auto: config.json's architectures, else the LM model",
    )
    parser.add_argument(
        "--max-shard-size", type=_shard_size, metavar="S", help='shard the safetensors, e.g. "2GB" (default: one file)'
    )
    parser.set_defaults(run=run_convert)
    return parser


def run_convert(args):
    """Runs `gpt-keras convert` (see `add_convert_parser`).

    Args:
        args: The parsed arguments.

    Returns:
        The exit code (0).

    Raises:
        CommandLineError: SRC or --config does not exist, or DST is SRC.
    """
    if not args.src.exists():
        raise CommandLineError(f"SRC does not exist: {args.src}")
    if args.config is not None and not args.config.is_file():
        raise CommandLineError(f"--config: no such file: {args.config}")
    from gpt_keras import checkpoints, models
    from gpt_keras.configuration import OpenAIGPTConfig

    directory = checkpoints.resolve_checkpoint_dir(args.src) if args.src.is_dir() else args.src.parent
    if args.dst.exists() and args.dst.resolve() in (args.src.resolve(), directory.resolve()):
        # Saving replaces every weight file of DST: the checkpoint being read among them.
        raise CommandLineError(f"DST must differ from SRC's directory: writing {args.dst} would replace the weights being read")
    fmt = checkpoints.detect_format(args.src)
    print(f"found: {fmt} checkpoint in {directory}")
    config = OpenAIGPTConfig.from_json_file(args.config) if args.config is not None else None
    if config is None and not (directory / "config.json").is_file() and fmt != checkpoints.ORIGINAL_RELEASE:
        raise FileNotFoundError(f"no config.json in {directory}: pass --config CONFIG_JSON")
    model_class = getattr(models, MODEL_CLASSES[_choose_model_class(args.model_class, config, directory)][0])
    overrides = {} if args.n_head is None else {"n_head": args.n_head}
    model = model_class.from_pretrained(args.src, config=config, **overrides)
    config = model.config
    print("config: " + ", ".join(f"{field}={getattr(config, field)}" for field in CONFIG_FIELDS))
    print(f"model: {model_class.__name__}, {model.count_params():,} parameters")

    info = model.save_pretrained(args.dst, max_shard_size=args.max_shard_size)
    print(f"wrote: {info.directory} ({info.format}: {', '.join(path.name for path in info.files)} + config.json)")
    reloaded = model_class.from_pretrained(info.directory)
    inputs = _probe_inputs(model_class, config)
    difference = _max_output_difference(model(**inputs), reloaded(**inputs))
    if difference != 0.0:
        raise RuntimeError(f"{info.directory} loads but its outputs differ from the source's by {difference:g}")
    print(f"verified: {info.directory} loads as {model_class.__name__} with identical outputs")
    return 0


def _choose_model_class(choice, config, directory):
    """The --model-class key: as given, else from config.json's `architectures`, else "lm"."""
    if choice != "auto":
        return choice
    if config is None and (directory / "config.json").is_file():
        from gpt_keras.configuration import OpenAIGPTConfig

        config = OpenAIGPTConfig.from_json_file(directory / "config.json")
    architectures = (config.extra.get("architectures") if config is not None else None) or []
    by_reference_name = {reference: key for key, (_, reference) in MODEL_CLASSES.items()}
    known = [by_reference_name[name] for name in architectures if name in by_reference_name]
    return known[0] if known else "lm"


def _probe_inputs(model_class, config):
    import numpy as np

    seq_len = min(8, config.n_positions)
    shape = (2, 2, seq_len) if model_class.input_rank == 3 else (2, seq_len)
    input_ids = np.random.default_rng(0).integers(0, config.vocab_size, shape)
    if model_class.__name__ == "TFOpenAIGPTForSequenceClassification":
        return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
    return {"input_ids": input_ids}


def _max_output_difference(a, b):
    import numpy as np

    if a.keys() != b.keys():
        return float("inf")
    return max(float(np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key])))) for key in a)


# === argument helpers shared by the commands ===


def _add_hidden_debug(parser):
    """Accepts `--debug` after the command's own arguments too (`gpt-keras evaluate perplexity ... --debug`)."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _existing_dir(path, argument):
    if not path.exists():
        raise CommandLineError(f"{argument} does not exist: {path}")
    if not path.is_dir():
        raise CommandLineError(f"{argument} must be a directory, got a file: {path}")
    return path


def _writable_dir(path, argument):
    """`path` is a directory, or can be made one, that this process may write into."""
    if path.exists() and not path.is_dir():
        raise CommandLineError(f"{argument} must be a directory, got a file: {path}")
    existing = next(parent for parent in (path.absolute(), *path.absolute().parents) if parent.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CommandLineError(f"{argument} cannot be written: {existing} is not a writable directory")


def _existing_files(paths, argument):
    for path in paths:
        if not path.exists():
            raise CommandLineError(f"{argument} does not exist: {path}")
        if not path.is_file():
            raise CommandLineError(f"{argument} must be a file, got a directory: {path}")
    return paths


def _texts_from(arguments, what):
    """The texts given as arguments, else the non-empty lines of stdin (one text per line)."""
    if arguments:
        return list(arguments)
    if sys.stdin is None or sys.stdin.isatty():
        raise CommandLineError(f"no {what} given: pass {what.upper()} arguments or pipe one {what} per line on stdin")
    texts = [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise CommandLineError(f"no {what} given: stdin holds no non-empty line")
    return texts


def _load_tokenizer(directory, argument, **overrides):
    """The tokenizer in `directory`; a directory without vocab.json + merges.txt is a usage error naming `argument`."""
    from gpt_keras.tokenizer import OpenAIGPTTokenizer

    try:
        return OpenAIGPTTokenizer.from_pretrained(directory, **overrides)
    except FileNotFoundError as error:
        raise CommandLineError(f"{argument}: {error}") from None


def _load_model(key, directory, **config_overrides):
    from gpt_keras import models

    model_class = getattr(models, MODEL_CLASSES[key][0])
    return model_class.from_pretrained(directory, **config_overrides)


def _check_vocabulary(tokenizer, model, where):
    if len(tokenizer) > model.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model in {where} has vocab_size="
            f"{model.config.vocab_size}: use the tokenizer the model was trained with (--tokenizer DIR)"
        )


def _tokenizer_and_model(args, key, check_tokenizer=None, **config_overrides):
    """The tokenizer of --tokenizer or MODEL_DIR, then MODEL_DIR's model (as `key`), checked against each other.

    `check_tokenizer(tokenizer, where)` runs before the model is loaded.
    """
    _existing_dir(args.model_dir, "MODEL_DIR")
    if args.tokenizer is not None:
        _existing_dir(args.tokenizer, "--tokenizer")
        tokenizer = _load_tokenizer(args.tokenizer, "--tokenizer")
    else:
        tokenizer = _load_tokenizer(args.model_dir, "MODEL_DIR (or pass --tokenizer DIR)")
    if check_tokenizer is not None:
        check_tokenizer(tokenizer, args.tokenizer or args.model_dir)
    model = _load_model(key, args.model_dir, **config_overrides)
    _check_vocabulary(tokenizer, model, args.model_dir)
    return tokenizer, model


def _add_tokenizer_option(parser):
    parser.add_argument(
        "--tokenizer", type=Path, metavar="DIR", help="tokenizer directory (default: MODEL_DIR's vocab.json + merges.txt)"
    )


def _visible(token):
    """A token with whitespace and control characters escaped, so that one token stays one word."""
    return "".join(repr(c)[1:-1] if c.isspace() or not c.isprintable() else c for c in token)


# === generate ===


def add_generate_parser(subparsers):
    """Declares `gpt-keras generate MODEL_DIR [PROMPT ...] [options]`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
    parser = subparsers.add_parser(
        "generate",
        help="continue text prompts with an LM checkpoint (streamed for one prompt)",
        description=(
            "Continue each PROMPT (or each non-empty line of stdin) with the LM in MODEL_DIR, on the "
            "XLA-compiled cached generation. With one prompt the text is streamed as it is produced; "
            "several prompts are generated as one batch, one output per line. Greedy unless --do-sample "
            "or --num-beams."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="checkpoint directory with an LM head")
    parser.add_argument("prompts", nargs="*", metavar="PROMPT", help="prompts (default: one per line of stdin)")
    _add_tokenizer_option(parser)
    parser.add_argument("--max-new-tokens", type=_positive_int, default=40, metavar="N", help="tokens to add (default 40)")
    parser.add_argument("--do-sample", action="store_true", help="sample instead of taking the most likely token")
    parser.add_argument("--temperature", type=_positive_float, default=1.0, metavar="T", help="sampling temperature")
    parser.add_argument("--top-k", type=_non_negative_int, default=0, metavar="K", help="sample among the K likeliest (0: all)")
    parser.add_argument("--top-p", type=_probability, default=1.0, metavar="P", help="nucleus sampling mass (1: off)")
    parser.add_argument("--num-beams", type=_positive_int, default=1, metavar="N", help="beam search with N beams")
    parser.add_argument("--seed", type=int, metavar="N", help="seed of sampling (same seed, same text)")
    parser.add_argument("--no-stream", action="store_true", help="print the text when it is complete")
    parser.set_defaults(run=run_generate, log_level=logging.WARNING)
    return parser


def run_generate(args):
    """Runs `gpt-keras generate` (see `add_generate_parser`): prints each prompt followed by its continuation.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code (0).
    """
    _existing_dir(args.model_dir, "MODEL_DIR")
    prompts = _texts_from(args.prompts, "prompt")
    tokenizer, model = _tokenizer_and_model(args, "lm")
    options = dict(
        max_new_tokens=args.max_new_tokens,
        do_sample=args.do_sample,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        num_beams=args.num_beams,
        seed=args.seed,
    )
    if len(prompts) == 1 and not args.no_stream and args.num_beams == 1:
        # The decoded continuation starts a new word, as after any word of the prompt.
        sys.stdout.write(prompts[0])
        sys.stdout.flush()
        separator = " "
        for piece in model.stream_text(tokenizer, prompts[0], **options):
            sys.stdout.write(separator + piece)
            sys.stdout.flush()
            separator = ""
        sys.stdout.write("\n")
        return 0
    continuations = model.generate_text(tokenizer, prompts, **options)
    for prompt, continuation in zip(prompts, continuations):
        print(f"{prompt} {continuation}" if continuation else prompt)
    return 0


# === export ===


def add_export_parser(subparsers):
    """Declares `gpt-keras export MODEL_DIR EXPORT_DIR [options]`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint as a SavedModel for TF Serving",
        description=(
            "Export MODEL_DIR as a SavedModel in TF Serving's layout EXPORT_DIR/<version>/, with a "
            "`serving_default` forward signature and, for models with an LM head, a `generate` signature "
            "(the XLA-compiled cached generation). Prints the version directory last."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="checkpoint directory")
    parser.add_argument("export_dir", type=Path, metavar="EXPORT_DIR", help="the model's base directory for TF Serving")
    parser.add_argument(
        "--model-class",
        choices=("auto",) + tuple(MODEL_CLASSES),
        default="auto",
        help="model to export; auto: config.json's architectures, else the LM model",
    )
    parser.add_argument("--version", type=_non_negative_int, metavar="N", help="version number (default: the next one)")
    parser.add_argument("--no-generate", action="store_true", help="leave out the generate signature")
    parser.add_argument(
        "--max-length", type=_positive_int, metavar="N", help="prompt + new tokens of generate (default: n_positions)"
    )
    parser.add_argument(
        "--max-new-tokens", type=_positive_int, metavar="N", help="the largest max_new_tokens (default: max length / 2)"
    )
    parser.set_defaults(run=run_export)
    return parser


def run_export(args):
    """Runs `gpt-keras export` (see `add_export_parser`).

    Args:
        args: The parsed arguments.

    Returns:
        The exit code (0).
    """
    _existing_dir(args.model_dir, "MODEL_DIR")
    _writable_dir(args.export_dir, "EXPORT_DIR")
    if args.no_generate and (args.max_length is not None or args.max_new_tokens is not None):
        raise CommandLineError("--max-length and --max-new-tokens configure the generate signature, which --no-generate leaves out")
    import json

    from gpt_keras.export import METADATA_FILE, export_saved_model

    model = _load_model(_choose_model_class(args.model_class, None, args.model_dir), args.model_dir)
    print(f"model: {type(model).__name__}, {model.count_params():,} parameters")
    version_dir = export_saved_model(
        model,
        args.export_dir,
        version=args.version,
        generate=not args.no_generate,
        max_length=args.max_length,
        max_new_tokens=args.max_new_tokens,
    )
    metadata = json.loads((version_dir / "assets.extra" / METADATA_FILE).read_text())
    print(f"signatures: {', '.join(sorted(metadata['signatures']))}")
    print(version_dir)
    return 0


# === tokenize ===


def add_tokenize_parser(subparsers):
    """Declares `gpt-keras tokenize MODEL_OR_TOKENIZER_DIR [TEXT ...] [options]`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
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
    parser.set_defaults(run=run_tokenize, log_level=logging.WARNING)
    return parser


def run_tokenize(args):
    """Runs `gpt-keras tokenize` (see `add_tokenize_parser`).

    Args:
        args: The parsed arguments.

    Returns:
        The exit code (0).
    """
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


# === train-tokenizer ===


def add_train_tokenizer_parser(subparsers):
    """Declares `gpt-keras train-tokenizer FILE... --vocab-size N --output DIR [options]`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
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
    parser.set_defaults(run=run_train_tokenizer)
    return parser


def _lines(paths, progress):
    """The lines of UTF-8 files, in order, counting their bytes into `progress`; closes it at the end."""
    for path in paths:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                progress.update(len(line))
                try:
                    yield line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(f"{path}:{number}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    progress.close()


def run_train_tokenizer(args):
    """Runs `gpt-keras train-tokenizer` (see `add_train_tokenizer_parser`).

    Args:
        args: The parsed arguments.

    Returns:
        The exit code (0).
    """
    _existing_files(args.files, "FILE")
    _writable_dir(args.output, "--output")
    from gpt_keras.bpe_training import train_tokenizer

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


# === quickstart ===


def add_quickstart_parser(subparsers):
    """Declares `gpt-keras quickstart [options]`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
    parser = subparsers.add_parser(
        "quickstart",
        help="learn a tokenizer, train, evaluate, sample and serve a small GPT on Python's docs (no downloads)",
        description=(
            "The whole library in a few minutes on the CPU, with no downloads: learn a BPE vocabulary on "
            "the documentation that ships with Python (pydoc_data), train a small GPT for a bounded time, "
            "print its held-out perplexity next to a unigram baseline, write the loss curve (PNG), sample "
            "with the XLA-compiled generation, export a SavedModel and answer a request from it in a fresh "
            "process. Figures go to OUTPUT/figures.json."
        ),
    )
    parser.add_argument(
        "--output", type=Path, default=Path("gpt-keras-quickstart"), metavar="DIR", help="where to write (default ./gpt-keras-quickstart)"
    )
    parser.add_argument("--reduced", action="store_true", help="tiny sizes and seconds of training (a smoke test)")
    parser.add_argument("--train-seconds", type=_positive_float, metavar="S", help="training time budget")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    parser.set_defaults(run=run_quickstart_command)
    return parser


def run_quickstart_command(args):
    """Runs `gpt-keras quickstart` (see `add_quickstart_parser`).

    Args:
        args: The parsed arguments.

    Returns:
        The exit code (0).
    """
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


# === evaluate ===


def _task_parser(tasks, name, help, description):
    """A parser of `gpt-keras evaluate|finetune <name>` whose first argument is MODEL_DIR."""
    task = tasks.add_parser(name, help=help, description=description)
    task.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="checkpoint directory")
    return task


def _add_classification_keys(parser):
    parser.add_argument("--text-key", default="text", metavar="KEY", help="text column or key (default text)")
    parser.add_argument("--text-pair-key", metavar="KEY", help="optional second text column or key")
    parser.add_argument("--label-key", default="label", metavar="KEY", help="label column or key (default label)")
    parser.add_argument(
        "--label-names", nargs="+", metavar="NAME", help="class names in index order, when labels are names"
    )


def _add_common_task_options(task, batch_size_help):
    _add_tokenizer_option(task)
    task.add_argument("--batch-size", type=_positive_int, metavar="N", help=batch_size_help)
    task.add_argument("--max-length", type=_positive_int, metavar="N", help="tokens per block or example (default: n_positions)")
    _add_hidden_debug(task)


def add_evaluate_parser(subparsers):
    """Declares `gpt-keras evaluate perplexity | multiple-choice | classify MODEL_DIR DATA...`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
    parser = subparsers.add_parser(
        "evaluate",
        help="perplexity of an LM, or accuracy of a multiple-choice or classification model",
        description="Score MODEL_DIR on held-out data, in inference mode (the result does not depend on --batch-size).",
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    perplexity = _task_parser(
        tasks,
        "perplexity",
        "perplexity of an LM on text files",
        "Perplexity of the LM in MODEL_DIR on the non-empty lines of TEXT_FILEs, tokenized, concatenated "
        "and cut into blocks of --max-length tokens (a last partial block is left out).",
    )
    perplexity.add_argument("data", nargs="+", type=Path, metavar="TEXT_FILE", help="UTF-8 text files")
    choice = _task_parser(
        tasks,
        "multiple-choice",
        "accuracy of a double-heads model on a ROCStories CSV or multiple-choice JSONL",
        "Multiple-choice accuracy of the double-heads model in MODEL_DIR (e.g. from `gpt-keras finetune "
        "multiple-choice`) on a Story Cloze Test CSV (the ROCStories columns) or a .jsonl of "
        '{"context", "endings", "label"}. The tokenizer needs the paper\'s special tokens.',
    )
    choice.add_argument("data", type=Path, metavar="ROCSTORIES_CSV", help="ROCStories .csv or multiple-choice .jsonl")
    classify = _task_parser(
        tasks,
        "classify",
        "accuracy of a classification model on a CSV or JSONL",
        "Accuracy of the sequence-classification model in MODEL_DIR on a .csv (with a header) or .jsonl.",
    )
    classify.add_argument("data", type=Path, metavar="CSV_OR_JSONL", help="labelled examples")
    _add_classification_keys(classify)
    for task, run in ((perplexity, _evaluate_perplexity), (choice, _evaluate_multiple_choice), (classify, _evaluate_classify)):
        _add_common_task_options(task, "examples per batch (default 8)")
        task.set_defaults(run=run, log_level=logging.WARNING)
    return parser


def _check_inputs(args):
    """MODEL_DIR, then the data file(s), exist (in the order they are given); the directories a
    command writes can be written, checked now rather than after training."""
    _existing_dir(args.model_dir, "MODEL_DIR")
    paths = args.data if isinstance(args.data, list) else [args.data]
    _existing_files(paths, "TEXT_FILE" if isinstance(args.data, list) else "DATA")
    for name, argument in (("output_dir", "OUTPUT_DIR"), ("checkpoint_dir", "--checkpoint-dir")):
        if getattr(args, name, None) is not None:
            _writable_dir(getattr(args, name), argument)


def _max_length(args, model):
    if args.max_length is None:
        return model.config.n_positions
    if args.max_length > model.config.n_positions:
        raise CommandLineError(f"--max-length {args.max_length} exceeds the model's n_positions ({model.config.n_positions})")
    return args.max_length


def _read_multiple_choice(path):
    from gpt_keras import data

    if path.suffix.lower() == ".csv":
        return data.read_rocstories(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        return data.read_multiple_choice_jsonl(path)
    raise CommandLineError(f"DATA must be a ROCStories .csv or a .jsonl, got {path}")


def _read_classification(args, path):
    from gpt_keras import data

    return data.read_classification(
        path, args.text_key, args.text_pair_key, args.label_key, label_names=args.label_names
    )


def _check_paper_tokens(tokenizer, where):
    from gpt_keras.tokenizer import PAPER_SPECIAL_TOKENS

    missing = [token for name, token in PAPER_SPECIAL_TOKENS.items() if getattr(tokenizer, name) != token]
    if missing:
        raise ValueError(
            f"the tokenizer of {where} lacks the paper's tokens {', '.join(missing)}: evaluate a model made by "
            "`gpt-keras finetune multiple-choice`"
        )


def _evaluate_perplexity(args):
    _check_inputs(args)
    tokenizer, model = _tokenizer_and_model(args, "lm")
    from gpt_keras import data, evaluation

    features = data.causal_lm_features(tokenizer, _max_length(args, model), files=args.data)
    result = evaluation.perplexity(model, features, batch_size=args.batch_size or 8)
    print(f"perplexity: {result['perplexity']:.4f} (loss {result['loss']:.4f} nats/token over {result['tokens']:,} tokens)")
    return 0


def _evaluate_multiple_choice(args):
    _check_inputs(args)
    tokenizer, model = _tokenizer_and_model(args, "double-heads", check_tokenizer=_check_paper_tokens)
    from gpt_keras import data, evaluation

    features = data.multiple_choice_features(_read_multiple_choice(args.data), tokenizer, _max_length(args, model))
    result = evaluation.multiple_choice_accuracy(model, features, batch_size=args.batch_size or 8)
    print(f"accuracy: {result['accuracy']:.4f} ({result['correct']}/{result['examples']} examples)")
    return 0


def _evaluate_classify(args):
    _check_inputs(args)
    tokenizer, model = _tokenizer_and_model(args, "seq-cls")
    from gpt_keras import data, evaluation

    features = data.classification_features(_read_classification(args, args.data), tokenizer, _max_length(args, model))
    result = evaluation.classification_accuracy(model, features, batch_size=args.batch_size or 8)
    print(f"accuracy: {result['accuracy']:.4f} ({result['correct']}/{result['examples']} examples)")
    return 0


# === finetune ===


def add_finetune_parser(subparsers):
    """Declares `gpt-keras finetune lm | multiple-choice | classify MODEL_DIR DATA OUTPUT_DIR [options]`.

    Args:
        subparsers: The `argparse` subparsers action of the main parser.
    """
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a checkpoint as an LM, a multiple-choice or a classification model",
        description=(
            "Fine-tune MODEL_DIR on DATA with the paper's recipe (Adam with warm-up and linear decay, decoupled "
            "weight decay 0.01, gradient clipping at 1) and write the model and its tokenizer to OUTPUT_DIR, "
            "ready for generate, evaluate and export. With --checkpoint-dir an interrupted run resumes where it stopped."
        ),
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    lm = _task_parser(tasks, "lm", "continue training the LM on text files", "Causal-LM fine-tuning on the non-empty lines of DATA (UTF-8 text), packed into blocks of --max-length tokens.")
    lm.add_argument("data", type=Path, metavar="DATA", help="UTF-8 text file")
    choice = _task_parser(
        tasks,
        "multiple-choice",
        "train the double-heads model on ROCStories CSV or multiple-choice JSONL",
        "The paper's multiple-choice fine-tuning: each choice as `_start_ context _delimiter_ ending _classify_`, "
        "the loss being the multiple-choice loss + --lm-coef x the LM loss. The paper's special tokens are added "
        "to the tokenizer and the embedding grows to match.",
    )
    choice.add_argument("data", type=Path, metavar="DATA", help="ROCStories .csv or multiple-choice .jsonl")
    classify = _task_parser(
        tasks,
        "classify",
        "train the sequence-classification model on CSV or JSONL",
        "Sequence classification on a .csv (with a header) or .jsonl of text[, text pair], label.",
    )
    classify.add_argument("data", type=Path, metavar="DATA", help="labelled .csv or .jsonl")
    _add_classification_keys(classify)
    classify.add_argument("--num-labels", type=_positive_int, metavar="N", help="classes (default: from --label-names or the labels)")
    choice.add_argument("--lm-coef", type=_non_negative_float, default=0.5, metavar="C", help="weight of the LM loss (the paper's 0.5)")
    for task, run in ((lm, _finetune_lm), (choice, _finetune_multiple_choice), (classify, _finetune_classify)):
        task.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="where the fine-tuned model and tokenizer go")
        _add_common_task_options(task, "examples per batch (default: the paper's 32)")
        task.add_argument("--epochs", type=_positive_int, default=3, metavar="N", help="epochs (default: the paper's 3)")
        task.add_argument("--learning-rate", type=_positive_float, metavar="LR", help="peak rate (default: the paper's 6.25e-5)")
        task.add_argument("--warmup", type=_fraction, metavar="F", help="warm-up fraction of the steps (default: the paper's 0.002)")
        task.add_argument("--seed", type=int, default=0, metavar="N", help="seed of initialization and shuffling (default 0)")
        task.add_argument("--checkpoint-dir", type=Path, metavar="DIR", help="save resumable checkpoints there, and resume from them")
        task.add_argument("--save-every", type=_positive_int, metavar="STEPS", help="with --checkpoint-dir: also save every STEPS steps")
        task.set_defaults(run=run)
    return parser


def _fit(args, model, features):
    """Trains `model` on `features` with the paper's optimizer; returns the last epoch's loss."""
    from gpt_keras import data, training

    recipe = training.PAPER_RECIPE
    batch_size = args.batch_size or recipe["batch_size"]
    callbacks, initial_epoch = [], 0
    if args.checkpoint_dir is not None:
        checkpoint = training.ResumableCheckpoint(args.checkpoint_dir, save_every_steps=args.save_every, verbose=1)
        initial_epoch = checkpoint.initial_epoch
        callbacks.append(checkpoint)
    elif args.save_every is not None:
        raise CommandLineError("--save-every needs --checkpoint-dir")
    stream, steps = data.epoch_stream(features, batch_size, args.epochs, shuffle_seed=args.seed, initial_epoch=initial_epoch)
    optimizer = training.paper_optimizer(
        args.epochs * steps,
        learning_rate=args.learning_rate or recipe["learning_rate"],
        warmup=recipe["warmup"] if args.warmup is None else args.warmup,
    )
    model.compile(optimizer=optimizer)
    print(f"training: {len(next(iter(features.values()))):,} examples, {steps} steps x {args.epochs} epochs of batch {batch_size}")
    history = model.fit(
        stream,
        epochs=args.epochs,
        steps_per_epoch=steps,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        shuffle=False,  # epoch_stream shuffles, by epoch
        verbose=1 if sys.stdout.isatty() else 2,
    )
    if any(getattr(callback, "nan_stop", None) for callback in callbacks):
        raise RuntimeError(f"training stopped on a NaN loss; nothing written to {args.output_dir}")
    losses = history.history.get("loss")
    return losses[-1] if losses else None  # None: a resumed run that had finished already


def _save(args, model, tokenizer, loss):
    model.save_pretrained(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    done = "training had finished before (resumed from its checkpoint)" if loss is None else f"final training loss {loss:.4f}"
    print(f"{done}; wrote {type(model).__name__} and its tokenizer -> {args.output_dir}")


def _finetune_lm(args):
    _check_inputs(args)
    _seed(args.seed)
    tokenizer, model = _tokenizer_and_model(args, "lm")
    from gpt_keras import data

    features = data.causal_lm_features(tokenizer, _max_length(args, model), files=[args.data])
    _save(args, model, tokenizer, _fit(args, model, features))
    return 0


def _finetune_multiple_choice(args):
    _check_inputs(args)
    examples = _read_multiple_choice(args.data)
    if any(example.label is None for example in examples):
        # Without mc_labels only the LM loss would train: the choice head would stay as initialized.
        raise CommandLineError(
            f"DATA must label every example to fine-tune multiple choice (AnswerRightEnding in a ROCStories "
            f"csv, 'label' in jsonl); {args.data} has none"
        )
    _seed(args.seed)
    tokenizer, model = _tokenizer_and_model(args, "double-heads")
    model.lm_coef = args.lm_coef
    size = tokenizer.add_paper_special_tokens()
    if size > model.config.vocab_size:
        model.resize_token_embeddings(size)
    from gpt_keras import data

    features = data.multiple_choice_features(examples, tokenizer, _max_length(args, model))
    _save(args, model, tokenizer, _fit(args, model, features))
    return 0


def _finetune_classify(args):
    _check_inputs(args)
    examples = _read_classification(args, args.data)
    labels = [example.label for example in examples]
    num_labels = args.num_labels or (len(args.label_names) if args.label_names else max(2, max(labels) + 1))
    if max(labels) >= num_labels:
        raise ValueError(f"{args.data}: a label is {max(labels)}, but there are {num_labels} classes (--num-labels)")
    _seed(args.seed)
    tokenizer, model = _tokenizer_and_model(args, "seq-cls", num_labels=num_labels)
    from gpt_keras import data

    features = data.classification_features(examples, tokenizer, _max_length(args, model))
    _save(args, model, tokenizer, _fit(args, model, features))
    return 0


def _seed(seed):
    import keras

    keras.utils.set_random_seed(seed)

# === the command line ===

COMMANDS = (
    add_convert_parser,
    add_generate_parser,
    add_finetune_parser,
    add_evaluate_parser,
    add_export_parser,
    add_tokenize_parser,
    add_train_tokenizer_parser,
    add_quickstart_parser,
)


def build_parser():
    """The `gpt-keras` argument parser with every command of `COMMANDS`.

    Returns:
        An `argparse.ArgumentParser`.
    """
    parser = _Parser(prog="gpt-keras", description="The original OpenAI GPT in Keras 3 / TensorFlow.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in COMMANDS:
        command_parser = add_parser(subparsers)
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    """Runs the `gpt-keras` command line.

    Args:
        argv: The arguments (without the program name); `sys.argv[1:]` when None.

    Returns:
        The exit code: 0 on success, 1 when the command failed, 2 for a usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help (0) or a usage error (2), already printed
        return exit_request.code
    prog = " ".join(["gpt-keras", args.command] + ([args.task] if getattr(args, "task", None) else []))
    logger = logging.getLogger("gpt_keras")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if args.debug else getattr(args, "log_level", logging.INFO))
    try:
        return args.run(args)
    except CommandLineError as error:
        if args.debug:
            raise
        print(f"{prog}: error: {error} (see {prog} --help)", file=sys.stderr)
        return USAGE_ERROR
    except Exception as error:  # noqa: BLE001  (the CLI's contract: one line, not a traceback)
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return FAILURE
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


if __name__ == "__main__":
    sys.exit(main())
