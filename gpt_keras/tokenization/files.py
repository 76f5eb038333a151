"""Tokenizer directories: finding the vocabulary files, reading ``tokenizer_config.json``, and saving.

A save writes every file whole to a temporary sibling first and renames them over the old files only
once all are written, so a failure part-way (a full disk, bad data) leaves the old files as they were,
and a kill leaves no file truncated.
"""
import contextlib
import json
import os

from gpt_keras import _fs
from gpt_keras._fs import atomic_file
from gpt_keras.tokenization.bpe import merges_text, vocab_text
from gpt_keras.tokenization.special_tokens import SPECIAL_TOKEN_ATTRIBUTES

VOCAB_FILES = ("vocab.json", "merges.txt")
ORIGINAL_RELEASE_FILES = ("encoder_bpe_40000.json", "vocab_40000.bpe")
CONFIG_FILE = "tokenizer_config.json"


def read_directory(directory):
    """Finds the files of a tokenizer directory and the constructor arguments its config gives.

    Accepts this package's and the reference's layout (``vocab.json``, ``merges.txt``, optional
    ``tokenizer_config.json`` with ``added_tokens_decoder`` and special tokens) and the original
    release's (``encoder_bpe_40000.json``, ``vocab_40000.bpe``).

    Args:
        directory: the directory.

    Returns:
        ``(vocab_path, merges_path, arguments)``: ``arguments`` are keyword arguments of
        ``OpenAIGPTTokenizer`` (pre_tokenizer, model_max_length, added_tokens, special tokens).
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"tokenizer directory not found: {directory}")
    for vocab_name, merges_name in (VOCAB_FILES, ORIGINAL_RELEASE_FILES):
        if os.path.isfile(os.path.join(directory, vocab_name)):
            break
    else:
        raise FileNotFoundError(
            f"no vocabulary in {directory}: expected {' + '.join(VOCAB_FILES)} "
            f"or the original release's {' + '.join(ORIGINAL_RELEASE_FILES)}"
        )
    arguments = _config_arguments(_read_config(os.path.join(directory, CONFIG_FILE)))
    return os.path.join(directory, vocab_name), os.path.join(directory, merges_name), arguments


def _read_config(path):
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None


def _config_arguments(config):
    arguments = {}
    if "pre_tokenizer" in config:
        arguments["pre_tokenizer"] = config["pre_tokenizer"]
    # The reference writes a huge number (int(1e30)) for "no limit": keep the default then.
    if isinstance(config.get("model_max_length"), int) and config["model_max_length"] < 10**9:
        arguments["model_max_length"] = config["model_max_length"]
    if "added_tokens_decoder" in config:
        arguments["added_tokens"] = config["added_tokens_decoder"]
    for name in (*SPECIAL_TOKEN_ATTRIBUTES, "additional_special_tokens"):
        value = config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, list):
            value = [v.get("content") if isinstance(v, dict) else v for v in value]
        if value is not None:
            arguments[name] = value
    return arguments


def _write_together(texts):
    """Writes ``{path: text}``; the files replace the old ones only once every one is written whole."""
    with contextlib.ExitStack() as stack:
        for path, text in texts.items():
            # Entered first, left after the file's rename (the stack unwinds in reverse).
            stack.enter_context(_step_on_success(f"renamed {os.path.basename(path)}"))
            stack.enter_context(atomic_file(path, "w")).write(text)
            _fs.at_step(f"wrote {os.path.basename(path)}")
    return tuple(texts)


@contextlib.contextmanager
def _step_on_success(step):
    yield
    _fs.at_step(step)


def _vocabulary_texts(directory, vocab, merges, filename_prefix=None):
    prefix = f"{filename_prefix}-" if filename_prefix else ""
    return {
        os.path.join(directory, prefix + VOCAB_FILES[0]): vocab_text(vocab),
        os.path.join(directory, prefix + VOCAB_FILES[1]): merges_text(merges),
    }


def save_vocabulary(directory, vocab, merges, filename_prefix=None):
    """Writes ``vocab.json`` and ``merges.txt`` (prefixed with ``filename_prefix-`` if given).

    Args:
        directory: an existing directory.
        vocab: token -> id.
        merges: the merge pairs in rank order.
        filename_prefix: optional prefix of the two file names.

    Returns:
        tuple of the two paths.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save_vocabulary: directory {directory} does not exist")
    return _write_together(_vocabulary_texts(directory, vocab, merges, filename_prefix))


def save_pretrained(directory, vocab, merges, config):
    """Writes ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` into ``directory`` (created if needed).

    Args:
        directory: the directory.
        vocab: token -> id.
        merges: the merge pairs in rank order.
        config: the content of ``tokenizer_config.json``.

    Returns:
        tuple of the three paths.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    texts = _vocabulary_texts(directory, vocab, merges)
    texts[os.path.join(directory, CONFIG_FILE)] = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    return _write_together(texts)
