"""The `gpt-keras` command line: `gpt-keras <command> ...`.

Commands:
    convert SRC DST   Read a checkpoint in any supported layout (safetensors, sharded safetensors, the
                      reference's tf_model.h5 or pytorch_model.bin, the original release's params_*.npy)
                      and write ours: config.json + model.safetensors, loadable by the PyTorch reference.

Each command is a pair of functions: `add_<command>_parser(subparsers)` declares its arguments and
sets `run=<function(args) -> exit code>`; `COMMANDS` lists the first ones. TensorFlow is imported only
by the commands that need it, so `--help` and usage errors are instant.

Errors print one line on stderr (`gpt-keras <command>: error: ...`) and exit with 1; usage errors exit
with 2; `--debug` shows the full traceback instead.

Example:
    $ gpt-keras convert openai-gpt-release/ openai-gpt/ --n-head 12
"""
import argparse
import logging
import sys
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


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
    if args.dst.exists() and args.dst.resolve() == args.src.resolve():
        raise CommandLineError(f"DST must differ from SRC: writing {args.dst} would replace the weights being read")
    from gpt_keras import checkpoints, models
    from gpt_keras.configuration import OpenAIGPTConfig

    directory = checkpoints.resolve_checkpoint_dir(args.src) if args.src.is_dir() else args.src.parent
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


# === the command line ===

COMMANDS = (add_convert_parser,)


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
    prog = f"gpt-keras {args.command}"
    logger = logging.getLogger("gpt_keras")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if args.debug else logging.INFO)
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
