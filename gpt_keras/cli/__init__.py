"""The `gpt-keras` command line: `gpt-keras <command> ...` (`gpt-keras <command> --help` for each).

Commands:
    convert SRC DST                  Read a checkpoint in any supported layout (safetensors, sharded
                                     safetensors, the reference's tf_model.h5 or pytorch_model.bin, the
                                     original release's params_*.npy) and write config.json + model.safetensors.
    generate MODEL_DIR [PROMPT ...]  Continue prompts (arguments or stdin lines); one prompt is streamed.
    finetune lm|multiple-choice|classify MODEL_DIR DATA OUTPUT_DIR
                                     Fine-tune with the paper's recipe; OUTPUT_DIR gets model + tokenizer,
                                     --plot PNG the loss curve, --tensorboard DIR TensorBoard logs.
    evaluate perplexity|multiple-choice|classify MODEL_DIR DATA...
                                     Perplexity on text files, or multiple-choice / classification accuracy.
    export MODEL_DIR EXPORT_DIR      SavedModel for TF Serving (forward and generate signatures).
    tokenize DIR [TEXT ...]          Print the BPE tokens and ids of texts (arguments or stdin lines).
    train-tokenizer FILE... --vocab-size N --output DIR
                                     Learn a BPE vocabulary from text files.
    quickstart [--reduced]           Tokenizer, training, perplexity vs unigram, samples and serving on
                                     Python's own documentation, with no downloads.

Each command is a module of this package with `add_parser(subparsers)`, which declares its arguments
and sets `run=<function(args) -> exit code>`; `COMMANDS` lists them. What several commands share is in
`_args` (exit codes, argument types, path checks), `_loading` (the model class, tokenizer and model)
and `_tasks` (evaluate's and finetune's tasks). TensorFlow is imported only by the commands that need
it, so `--help` and usage errors are instant.

Errors print one line on stderr (`gpt-keras <command>: error: ...`) and exit with 1; usage errors
(a wrong argument, a missing input file or directory) exit with 2; `--debug` shows the full traceback
instead. The library's INFO log (what was loaded from where) goes to stdout, except for commands whose
stdout is their result (`generate`, `tokenize`, `evaluate`), which log warnings only unless `--debug`.
Long work shows progress on stderr (reading, tokenizing) or stdout (training): on a terminal a line
with the elapsed and remaining time, redrawn in place; otherwise a few plain lines.
TensorFlow's C++ logging (CUDA probes, XLA notices) is silenced unless `--debug` is given or
TF_CPP_MIN_LOG_LEVEL is set (see `_quiet`).

Example:
    $ gpt-keras convert openai-gpt-release/ openai-gpt/ --n-head 12
    $ echo "the python interpreter" | gpt-keras generate openai-gpt/ --max-new-tokens 30
"""
import logging
import sys

from gpt_keras.cli import convert, evaluate, export, finetune, generate, quickstart, tokenize, train_tokenizer
from gpt_keras.cli._args import FAILURE, USAGE_ERROR, CommandLineError, _add_hidden_debug, _Parser
from gpt_keras.cli._quiet import quiet_tensorflow

__all__ = ["COMMANDS", "CommandLineError", "build_parser", "main"]

COMMANDS = (
    convert.add_parser,
    generate.add_parser,
    finetune.add_parser,
    evaluate.add_parser,
    export.add_parser,
    tokenize.add_parser,
    train_tokenizer.add_parser,
    quickstart.add_parser,
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
        _add_hidden_debug(command_parser)
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
        with quiet_tensorflow(debug=args.debug):
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
