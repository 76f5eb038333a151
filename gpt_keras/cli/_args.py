"""What every `gpt-keras` command shares: the exit codes, the one-line usage error, argparse types for
numbers, and the checks of paths and inputs made before any work starts."""
import argparse
import math
import os
import sys

USAGE_ERROR = 2
FAILURE = 1


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


def _generation_option(name):
    """An argparse `type` for the generation option `name`: parsed, then checked by `GenerationConfig`'s
    own bound for it (the one range every entry point of generation uses)."""
    from gpt_keras.decoding.config import GenerationConfig

    bound = GenerationConfig.bounds()[name]

    def parse(text):
        try:
            value = int(text) if bound.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}") from None
        try:
            return bound.check(value, name)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


_positive_int = _number(int, lambda value: value >= 1, "a positive integer")
_non_negative_int = _number(int, lambda value: value >= 0, "an integer >= 0")
_positive_float = _number(float, lambda value: 0 < value < math.inf, "a positive number")
_non_negative_float = _number(float, lambda value: 0 <= value < math.inf, "a number >= 0")
_fraction = _number(float, lambda value: 0 <= value < 1, "a number in [0, 1)")


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


def _writable_file(path, argument):
    """`path` names a file (not a directory) that this process may create or replace."""
    if path.is_dir():
        raise CommandLineError(f"{argument} must be a file path, got a directory: {path}")
    _writable_dir(path.absolute().parent, argument)


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

