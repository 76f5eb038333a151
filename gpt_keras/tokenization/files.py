"""Tokenizer directories: finding the vocabulary files, reading ``tokenizer_config.json``, and saving.

A save writes every file whole to a temporary sibling first and renames them over the old files only
once all are written, so a failure part-way (a full disk, bad data) leaves the old files as they were,
and a kill leaves no file truncated.
"""
import contextlib
import json
import os

from gpt_keras import _dirs, _fs
from gpt_keras._fs import atomic_file
from gpt_keras.tokenization.added_tokens import as_added_token
from gpt_keras.tokenization.bpe import merges_text, vocab_text
from gpt_keras.tokenization.chat import CHAT_TEMPLATE_DIR, CHAT_TEMPLATE_FILE
from gpt_keras.tokenization.special_tokens import ADDITIONAL, SPECIAL_TOKEN_ATTRIBUTES

VOCAB_FILES = ("vocab.json", "merges.txt")
ORIGINAL_RELEASE_FILES = ("encoder_bpe_40000.json", "vocab_40000.bpe")
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
# tokenizer_config.json entries that are constructor arguments as they are.
_PLAIN_SETTINGS = ("pre_tokenizer", "padding_side", "truncation_side", "clean_up_tokenization_spaces", "split_special_tokens")


def read_directory(directory):
    """Finds the files of a tokenizer directory and the constructor arguments its config gives.

    Accepts this package's and the reference's layout (``vocab.json``, ``merges.txt``, optional
    ``tokenizer_config.json`` with ``added_tokens_decoder`` and special tokens, and
    ``special_tokens_map.json``, read as the reference does: only when the config has no
    ``added_tokens_decoder``) and the original release's (``encoder_bpe_40000.json``, ``vocab_40000.bpe``).

    Args:
        directory: the directory.

    Returns:
        ``(vocab_path, merges_path, arguments)``: ``arguments`` are keyword arguments of
        ``OpenAIGPTTokenizer`` (pre_tokenizer, sides, model_max_length, added_tokens_decoder, special tokens).
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
    config = _read_json(os.path.join(directory, CONFIG_FILE))
    if "added_tokens_decoder" not in config:
        for name, value in _read_json(os.path.join(directory, SPECIAL_TOKENS_MAP_FILE)).items():
            config.setdefault(name, value)
    arguments = _config_arguments(config)
    templates = _read_chat_templates(directory)
    if templates:
        # As the reference: template files win over a template in the config.
        arguments["chat_template"] = templates["default"] if list(templates) == ["default"] else templates
    elif config.get("chat_template") is not None:
        arguments["chat_template"] = config["chat_template"]
    return os.path.join(directory, vocab_name), os.path.join(directory, merges_name), arguments


def _read_json(path):
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None


def _config_arguments(config):
    arguments = {key: config[key] for key in _PLAIN_SETTINGS if key in config}
    # The reference writes a huge number (int(1e30)) for "no limit": keep the default then.
    if isinstance(config.get("model_max_length"), int) and config["model_max_length"] < 10**9:
        arguments["model_max_length"] = config["model_max_length"]
    added = {int(index): as_added_token(entry, special=True) for index, entry in config.get("added_tokens_decoder", {}).items()}
    if added:
        arguments["added_tokens_decoder"] = added
    # As the reference: a special token that is an added token is that AddedToken (with its flags).
    by_content = {token.content: token for token in added.values()}
    for name in (*SPECIAL_TOKEN_ATTRIBUTES, ADDITIONAL):
        value = config.get(name)
        if value is None:
            continue
        if name == ADDITIONAL:
            arguments[name] = [by_content.get(_content(v), as_added_token(v, special=True)) for v in value]
        else:
            arguments[name] = by_content.get(_content(value), as_added_token(value, special=True) if isinstance(value, dict) else value)
    return arguments


def _read_chat_templates(directory):
    templates = {}
    path = os.path.join(directory, CHAT_TEMPLATE_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            templates["default"] = handle.read()
    extra = os.path.join(directory, CHAT_TEMPLATE_DIR)
    for name in sorted(os.listdir(extra)) if os.path.isdir(extra) else ():
        if name.endswith(".jinja"):
            with open(os.path.join(extra, name), encoding="utf-8") as handle:
                templates[name[: -len(".jinja")]] = handle.read()
    return templates


def _content(value):
    return value.get("content") if isinstance(value, dict) else value


def _write_together(texts):
    """Writes ``{path: text}``; the files replace the old ones only once every one is written whole."""
    with contextlib.ExitStack() as stack:
        for path, text in texts.items():
            # Entered first, left after the file's rename (the stack unwinds in reverse).
            stack.enter_context(_step_on_success(f"renamed {os.path.basename(path)}"))
            stack.enter_context(atomic_file(path, "w")).write(text)
            _fs.at_step(f"wrote {os.path.basename(path)}")
    return tuple(texts)


def _prefixed(directory, name, filename_prefix):
    return os.path.join(directory, f"{filename_prefix}-{name}" if filename_prefix else name)


@contextlib.contextmanager
def _step_on_success(step):
    yield
    _fs.at_step(step)


def _vocabulary_texts(directory, vocab, merges, filename_prefix=None):
    return {
        _prefixed(directory, VOCAB_FILES[0], filename_prefix): vocab_text(vocab),
        _prefixed(directory, VOCAB_FILES[1], filename_prefix): merges_text(merges),
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


def _json_text(content):
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _chat_template_texts(directory, chat_template, save_jinja_files, filename_prefix, config):
    """The chat template files to write (adding the templates to ``config`` when they go there instead)."""
    if chat_template is None:
        return {}
    if not save_jinja_files:
        named = isinstance(chat_template, dict)
        config["chat_template"] = [{"name": k, "template": v} for k, v in chat_template.items()] if named else chat_template
        return {}
    templates = chat_template if isinstance(chat_template, dict) else {"default": chat_template}
    texts = {}
    for name, template in templates.items():
        if name == "default":
            texts[_prefixed(directory, CHAT_TEMPLATE_FILE, filename_prefix)] = template
        else:
            texts[os.path.join(_prefixed(directory, CHAT_TEMPLATE_DIR, filename_prefix), f"{name}.jinja")] = template
    return texts


def save_pretrained(directory, vocab, merges, config, special_tokens_map, filename_prefix=None, chat_template=None, save_jinja_files=True):
    """Writes ``tokenizer_config.json``, ``special_tokens_map.json``, the chat templates, ``vocab.json`` and
    ``merges.txt`` into ``directory`` (created if needed), each name prefixed with ``filename_prefix-``.

    Args:
        directory: the directory.
        vocab: token -> id.
        merges: the merge pairs in rank order.
        config: the content of ``tokenizer_config.json``.
        special_tokens_map: the content of ``special_tokens_map.json``.
        filename_prefix: optional prefix of the file names.
        chat_template: None, a template or ``{name: template}``.
        save_jinja_files: write templates as ``.jinja`` files (else into the config, as a str or a list of
            ``{"name", "template"}``).

    Returns:
        tuple of the paths, in the reference's order (config, special tokens map, templates, vocab, merges).
    """
    directory = os.fspath(directory)
    if os.path.isfile(directory):
        raise NotADirectoryError(f"save_pretrained: {directory} is a file; give a directory")
    config = dict(config)
    templates = _chat_template_texts(directory, chat_template, save_jinja_files, filename_prefix, config)
    texts = {
        _prefixed(directory, CONFIG_FILE, filename_prefix): _json_text(config),
        _prefixed(directory, SPECIAL_TOKENS_MAP_FILE, filename_prefix): _json_text(special_tokens_map),
        **templates,
    }
    texts.update(_vocabulary_texts(directory, vocab, merges, filename_prefix))
    # Chat templates of an earlier save that this one does not write would win on load: they go too.
    stale = {os.path.basename(_prefixed(directory, name, filename_prefix)) for name in (CHAT_TEMPLATE_FILE, CHAT_TEMPLATE_DIR)}
    # One directory swap: a reader, or a save stopped at any point, sees the old files or the new ones
    # together (a new merges.txt beside an old vocab.json would not load); the directory's other files
    # (a model's weights) stay.
    with _dirs.staged_directory(directory, superseded=stale.__contains__) as staging:
        for path, text in texts.items():
            target = os.path.join(staging.path, os.path.relpath(path, directory))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            _fs.at_step(f"wrote {os.path.basename(path)}")
    return tuple(texts)
