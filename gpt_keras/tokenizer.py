"""The original OpenAI GPT tokenizer in pure Python: the reference's ``OpenAIGPTTokenizer``, faster.

One tokenizer serves every model class, the data pipelines, generation and the CLI::

    tokenizer = OpenAIGPTTokenizer.from_pretrained("openai-gpt-vocab/")
    tokenizer.add_paper_special_tokens()          # _start_, _delimiter_, _classify_, <pad>
    batch = tokenizer(["Hello, world!", "Hi"], padding=True, return_tensors="np")

Its output is identical to the reference's (transformers' slow ``OpenAIGPTTokenizer``) in both of its
modes. The speed comes from caching: a pre-tokenizer splits a text into whitespace-separated words, and
each distinct word is pre-tokenized and BPE-encoded once (see ``tokenization/pre_tokenizers.py`` for why
that is exact).
"""
import json
import logging
import os
import re

from gpt_keras.tokenization.bpe import BPE, read_merges, read_vocab, write_merges, write_vocab
from gpt_keras.tokenization.pre_tokenizers import lower_each_character, resolve_pre_tokenizer

logger = logging.getLogger(__name__)

VOCAB_FILES = ("vocab.json", "merges.txt")
ORIGINAL_RELEASE_FILES = ("encoder_bpe_40000.json", "vocab_40000.bpe")
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKEN_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# The paper's input markers (appended after the vocabulary in this order by the original code) and a pad.
PAPER_SPECIAL_TOKENS = {"bos_token": "_start_", "sep_token": "_delimiter_", "cls_token": "_classify_"}


def _check_text(value, name):
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__}")


def _check_texts(value, name):
    """Returns (list of str, was_batched)."""
    if isinstance(value, str):
        return [value], False
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value), True
    got = type(value).__name__
    if isinstance(value, (list, tuple)):
        got = f"a {got} holding {type(next(v for v in value if not isinstance(v, str))).__name__}"
    raise TypeError(f"{name} must be a str or a list of str; got {got}")


def _to_id_list(ids, name="token_ids"):
    if hasattr(ids, "numpy"):
        ids = ids.numpy()
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int) and not isinstance(ids, bool):
        return [ids]
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TypeError(f"{name} must be an int or a sequence of int; got {type(ids).__name__}")
    return list(ids)


class OpenAIGPTTokenizer:
    """The original GPT's BPE tokenizer (40,478 symbols for the released model).

    Args:
        vocab_file: ``vocab.json`` (or the release's ``encoder_bpe_40000.json``): token -> id.
        merges_file: ``merges.txt`` (or the release's ``vocab_40000.bpe``): merges in rank order.
        pre_tokenizer: "spacy_ftfy" (ftfy, text_standardize, spaCy's English tokenizer: the paper's
            preprocessing), "basic" (BERT's BasicTokenizer, no extra packages) or "auto" (spacy_ftfy when
            ftfy and spaCy are installed, else basic; the choice is logged).
        unk_token: the token for symbols outside the vocabulary.
        bos_token, eos_token, sep_token, pad_token, cls_token, mask_token: optional special tokens.
        additional_special_tokens: more special tokens.
        added_tokens: ``{id: token}`` or ``{id: {"content": token, "special": bool}}`` of tokens appended
            after the vocabulary (as saved in ``tokenizer_config.json``); restores their ids.
        model_max_length: the length ``truncation=True`` cuts to when no ``max_length`` is given.
        max_cache_size: how many distinct words the word cache holds before it is emptied.

    Example:
        >>> tokenizer = OpenAIGPTTokenizer("vocab.json", "merges.txt", pre_tokenizer="basic")
        >>> tokenizer.tokenize("Hello, world!")
        ['hello</w>', ',</w>', 'world</w>', '!</w>']
    """

    def __init__(
        self,
        vocab_file,
        merges_file,
        pre_tokenizer="auto",
        unk_token="<unk>",
        bos_token=None,
        eos_token=None,
        sep_token=None,
        pad_token=None,
        cls_token=None,
        mask_token=None,
        additional_special_tokens=None,
        added_tokens=None,
        model_max_length=512,
        max_cache_size=100_000,
    ):
        self.encoder = read_vocab(vocab_file)
        self.decoder = {index: token for token, index in self.encoder.items()}
        self._bpe = BPE(read_merges(merges_file, self.encoder))
        self._pre_tokenizer = resolve_pre_tokenizer(pre_tokenizer, logger)
        self.model_max_length = int(model_max_length)
        self.max_cache_size = int(max_cache_size)
        self._added = {}  # token -> id of every never-split token (special or added)
        self._added_decoder = {}  # id -> token, for ids beyond the vocabulary
        self._special = {}  # attribute name -> token
        self._additional_special = []
        self._non_special_added = set()
        self._clear_caches()
        for index, entry in sorted((int(k), v) for k, v in (added_tokens or {}).items()):
            if isinstance(entry, dict):
                token, special = entry["content"], entry.get("special", True)
            else:
                token, special = entry, True
            self._register(token, special=special, index=index)
        self._set_special("unk_token", unk_token)
        for name, value in (
            ("bos_token", bos_token),
            ("eos_token", eos_token),
            ("sep_token", sep_token),
            ("pad_token", pad_token),
            ("cls_token", cls_token),
            ("mask_token", mask_token),
        ):
            if value is not None:
                self._set_special(name, value)
        if additional_special_tokens:
            self.add_special_tokens({"additional_special_tokens": list(additional_special_tokens)})

    def preload(self):
        """Loads what the pre-tokenizer needs (spaCy's English tokenizer) now rather than on first use.

        Returns:
            self.
        """
        if self.pre_tokenizer == "spacy_ftfy":
            self._pre_tokenizer.spacy_tokenizer  # noqa: B018  (the property loads spaCy)
        return self

    # === Loading and saving ===

    @classmethod
    def from_pretrained(cls, directory, **kwargs):
        """Loads a tokenizer directory.

        Accepts this package's and the reference's layout (``vocab.json``, ``merges.txt``, optional
        ``tokenizer_config.json`` with ``added_tokens_decoder`` and special tokens) and the original
        release's (``encoder_bpe_40000.json``, ``vocab_40000.bpe``).

        Args:
            directory: the directory.
            **kwargs: override the constructor arguments (e.g. ``pre_tokenizer``).

        Returns:
            An ``OpenAIGPTTokenizer``.
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
        config = {}
        config_path = os.path.join(directory, CONFIG_FILE)
        if os.path.isfile(config_path):
            with open(config_path, encoding="utf-8") as handle:
                try:
                    config = json.load(handle)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{config_path} is not valid JSON (line {error.lineno}: {error.msg})") from None
        arguments = {}
        if "pre_tokenizer" in config:
            arguments["pre_tokenizer"] = config["pre_tokenizer"]
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
        arguments.update(kwargs)
        return cls(os.path.join(directory, vocab_name), os.path.join(directory, merges_name), **arguments)

    def save_vocabulary(self, directory, filename_prefix=None):
        """Writes ``vocab.json`` and ``merges.txt`` (prefixed with ``filename_prefix-`` if given).

        Args:
            directory: an existing directory.
            filename_prefix: optional prefix of the two file names.

        Returns:
            tuple of the two paths.
        """
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"save_vocabulary: directory {directory} does not exist")
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        vocab_path = os.path.join(directory, prefix + VOCAB_FILES[0])
        merges_path = os.path.join(directory, prefix + VOCAB_FILES[1])
        write_vocab(vocab_path, self.encoder)
        write_merges(merges_path, self._bpe.merges)
        return vocab_path, merges_path

    def save_pretrained(self, directory):
        """Writes ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` (mode, special and added
        tokens, in a layout the reference can read too) into ``directory`` (created if needed).

        Args:
            directory: the directory.

        Returns:
            tuple of the written paths.
        """
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        paths = self.save_vocabulary(directory)
        special_tokens = set(self.all_special_tokens)
        config = {
            "tokenizer_class": "OpenAIGPTTokenizer",
            "pre_tokenizer": self.pre_tokenizer,
            "model_max_length": self.model_max_length,
            "added_tokens_decoder": {
                str(index): {
                    "content": token,
                    "special": token in special_tokens,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "single_word": False,
                }
                for token, index in sorted(self._added.items(), key=lambda item: item[1])
            },
            **self._special,
        }
        if self._additional_special:
            config["additional_special_tokens"] = list(self._additional_special)
        config_path = os.path.join(directory, CONFIG_FILE)
        with open(config_path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        return (*paths, config_path)

    # === Vocabulary ===

    @property
    def pre_tokenizer(self):
        """The resolved pre-tokenizer mode: "spacy_ftfy" or "basic"."""
        return self._pre_tokenizer.name

    @property
    def vocab_size(self):
        """Size of the base vocabulary (without tokens added after it)."""
        return len(self.encoder)

    def __len__(self):
        """Number of distinct ids, added tokens included: the rows the model's token embedding needs."""
        return max(self._next_id(), len(self.encoder))

    def _next_id(self):
        return max(max(self.decoder, default=-1), max(self._added_decoder, default=-1)) + 1

    def get_vocab(self):
        """Returns the full token -> id mapping, added tokens included."""
        return {**self.encoder, **self._added}

    def _clear_caches(self):
        self._word_cache = {}
        self._bpe_cache = {}
        self._token_to_id = {**self.encoder, **self._added}
        self._unk_id = self._token_to_id.get(self._special.get("unk_token"))
        added = sorted(self._added, key=len, reverse=True)
        self._added_pattern = re.compile("(" + "|".join(map(re.escape, added)) + ")") if added else None
        # The reference lower-cases the text before anything else, one character at a time, except where
        # a special (or non-special added) token stands; this regex alternation is the reference's.
        protected = [*self.all_special_tokens, *(t for t in self._added if t in self._non_special_added)]
        self._protected_pattern = re.compile("(" + "|".join(map(re.escape, protected)) + ")") if protected else None

    def _register(self, token, special, index=None):
        """Makes ``token`` never-split; gives it ``index``, its vocabulary id or the next free id."""
        if not isinstance(token, str) or not token:
            raise TypeError(f"a special or added token must be a non-empty str; got {token!r}")
        if token in self._added:
            return False
        if index is None:
            index = self.encoder.get(token, self._next_id())
        self._added[token] = index
        new = token not in self.encoder
        if new:
            self._added_decoder[index] = token
        if not special:
            self._non_special_added.add(token)
        self._clear_caches()
        return new

    def _set_special(self, name, token):
        self._register(token, special=True)
        self._non_special_added.discard(token)
        self._special[name] = token
        self._clear_caches()

    def add_special_tokens(self, special_tokens):
        """Adds special tokens (never split; skipped by ``decode(skip_special_tokens=True)``).

        Args:
            special_tokens: dict from "bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                "cls_token", "mask_token" to a token, and/or "additional_special_tokens" to a list of tokens.

        Returns:
            The number of tokens appended after the vocabulary.
        """
        if not isinstance(special_tokens, dict):
            raise TypeError(f"special_tokens must be a dict; got {type(special_tokens).__name__}")
        count_before = len(self._added_decoder)
        for name, value in special_tokens.items():
            if name == "additional_special_tokens":
                tokens = [value] if isinstance(value, str) else list(value)
                for token in tokens:
                    self._register(token, special=True)
                    self._non_special_added.discard(token)
                    if token not in self._additional_special:
                        self._additional_special.append(token)
                self._clear_caches()
            elif name in SPECIAL_TOKEN_ATTRIBUTES:
                self._set_special(name, value)
            else:
                raise ValueError(
                    f"add_special_tokens: unknown key {name!r}; expected one of "
                    f"{', '.join(SPECIAL_TOKEN_ATTRIBUTES)} or additional_special_tokens"
                )
        return len(self._added_decoder) - count_before

    def add_tokens(self, tokens, special_tokens=False):
        """Adds tokens that are never split, with ids after the vocabulary.

        Args:
            tokens: a token or a list of tokens.
            special_tokens: register them as additional special tokens instead.

        Returns:
            The number of tokens appended after the vocabulary.
        """
        tokens, _ = _check_texts(tokens, "tokens")
        if special_tokens:
            return self.add_special_tokens({"additional_special_tokens": tokens})
        count_before = len(self._added_decoder)
        for token in tokens:
            # As in the reference, a non-special added token is lower-cased like the text it must match.
            self._register(token.lower(), special=False)
        return len(self._added_decoder) - count_before

    def add_paper_special_tokens(self, pad_token="<pad>"):
        """Adds the paper's input markers ``_start_``, ``_delimiter_``, ``_classify_`` (as bos, sep and
        cls token, with ids 40478-40480 on the released vocabulary) and a pad token.

        Args:
            pad_token: the pad token, or None for none.

        Returns:
            The number of rows the model's token embedding needs, i.e. ``len(tokenizer)``.
        """
        tokens = dict(PAPER_SPECIAL_TOKENS)
        if pad_token is not None:
            tokens["pad_token"] = pad_token
        self.add_special_tokens(tokens)
        return len(self)

    @property
    def all_special_tokens(self):
        """The special tokens (bos, eos, unk, sep, pad, cls, mask, then the additional ones), without repeats."""
        named = [self._special[name] for name in SPECIAL_TOKEN_ATTRIBUTES if name in self._special]
        return list(dict.fromkeys([*named, *self._additional_special]))

    @property
    def all_special_ids(self):
        """The ids of ``all_special_tokens``."""
        return [self._token_to_id[token] for token in self.all_special_tokens]

    @property
    def additional_special_tokens(self):
        """The special tokens added under "additional_special_tokens"."""
        return list(self._additional_special)

    def _special_token(name):  # noqa: N805  (builds properties below)
        def getter(self):
            return self._special.get(name)

        def id_getter(self):
            token = self._special.get(name)
            return None if token is None else self._token_to_id[token]

        return property(getter, doc=f"The {name.replace('_', ' ')} (None if unset)."), property(
            id_getter, doc=f"The id of the {name.replace('_', ' ')} (None if unset)."
        )

    bos_token, bos_token_id = _special_token("bos_token")
    eos_token, eos_token_id = _special_token("eos_token")
    unk_token, unk_token_id = _special_token("unk_token")
    sep_token, sep_token_id = _special_token("sep_token")
    pad_token, pad_token_id = _special_token("pad_token")
    cls_token, cls_token_id = _special_token("cls_token")
    mask_token, mask_token_id = _special_token("mask_token")
    del _special_token

    # === Tokenizing ===

    def _bpe_word(self, string):
        symbols = self._bpe_cache.get(string)
        if symbols is None:
            symbols = self._bpe.encode_word(string) if string else []
            if len(self._bpe_cache) >= self.max_cache_size:
                self._bpe_cache.clear()
            self._bpe_cache[string] = symbols
        return symbols

    def _encode_piece(self, text, tokens, ids):
        """Appends the BPE tokens and ids of ``text`` (which holds no added token)."""
        pre_tokenizer = self._pre_tokenizer
        words = pre_tokenizer.split(text)
        cache = self._word_cache
        entries = [cache.get(word) for word in words]
        if None in entries:
            new_words = list(dict.fromkeys(word for word, entry in zip(words, entries) if entry is None))
            new_entries = {}
            token_to_id, unk_id = self._token_to_id, self._unk_id
            for word, (strings, ends, starts) in zip(new_words, pre_tokenizer.expand(new_words)):
                word_tokens = [symbol for string in strings for symbol in self._bpe_word(string)]
                word_ids = tuple([token_to_id.get(token, unk_id) for token in word_tokens])
                new_entries[word] = (tuple(word_tokens), word_ids, ends, starts)
            if len(cache) + len(new_entries) > self.max_cache_size:
                cache.clear()
            cache.update(new_entries)
            entries = [entry or new_entries[word] for word, entry in zip(words, entries)]
        if pre_tokenizer.name == "spacy_ftfy" and self._crosses_special_case(entries):
            token_to_id, unk_id = self._token_to_id, self._unk_id
            for string in pre_tokenizer.whole_text(text):
                for symbol in self._bpe_word(string):
                    tokens.append(symbol)
                    ids.append(token_to_id.get(symbol, unk_id))
            return
        for entry in entries:
            tokens.extend(entry[0])
            ids.extend(entry[1])

    def _crosses_special_case(self, entries):
        crosses = self._pre_tokenizer.crosses_special_case
        previous_ends = None
        for _, _, ends, starts in entries:
            if previous_ends is not None and starts is not None and crosses(previous_ends, starts):
                return True
            previous_ends = ends
        return False

    def _lowercase(self, text):
        if self._protected_pattern is None:
            return lower_each_character(text)
        parts = self._protected_pattern.split(text)
        parts[0::2] = [lower_each_character(part) for part in parts[0::2]]
        return "".join(parts)

    def _tokenize_with_ids(self, text):
        tokens, ids = [], []
        text = self._lowercase(text)
        pieces = [text] if self._added_pattern is None else self._added_pattern.split(text)
        for position, piece in enumerate(pieces):
            if position % 2:
                tokens.append(piece)
                ids.append(self._added[piece])
            elif piece:
                self._encode_piece(piece, tokens, ids)
        return tokens, ids

    def tokenize(self, text):
        """Splits ``text`` into BPE tokens; special and added tokens are kept whole.

        Args:
            text: a str.

        Returns:
            list of str tokens (word-final ones end with ``</w>``).
        """
        _check_text(text, "text")
        return self._tokenize_with_ids(text)[0]

    def convert_tokens_to_ids(self, tokens):
        """Maps a token or a list of tokens to ids (unknown tokens to the unk token's id).

        Args:
            tokens: a str or a list of str.

        Returns:
            an int for a str, else a list of int.
        """
        if isinstance(tokens, str):
            return self._token_to_id.get(tokens, self._unk_id)
        tokens, _ = _check_texts(tokens, "tokens")
        return [self._token_to_id.get(token, self._unk_id) for token in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Maps an id or a list of ids to tokens (ids outside the vocabulary to the unk token).

        Args:
            ids: an int or a sequence of int (numpy arrays and tensors too).
            skip_special_tokens: drop the ids of special tokens.

        Returns:
            a str for an int, else a list of str.
        """
        single = isinstance(ids, int) and not isinstance(ids, bool)
        ids = _to_id_list(ids, "ids")
        special_ids = set(self.all_special_ids) if skip_special_tokens else ()
        unk = self.unk_token
        tokens = [
            self._added_decoder.get(index) or self.decoder.get(index, unk) for index in ids if index not in special_ids
        ]
        return tokens[0] if single and tokens else tokens

    def convert_tokens_to_string(self, tokens):
        """Joins BPE tokens into text: ``</w>`` becomes a space, ends are stripped.

        Args:
            tokens: list of str.

        Returns:
            str.
        """
        return "".join(tokens).replace("</w>", " ").strip()

    def encode(self, text, text_pair=None, truncation=False, max_length=None):
        """Token ids of ``text`` (followed by those of ``text_pair``; GPT adds no special tokens).

        Args:
            text: a str.
            text_pair: an optional second str.
            truncation: cut to ``max_length`` (longest sequence first).
            max_length: the length to cut to (default ``model_max_length``).

        Returns:
            list of int.
        """
        _check_text(text, "text")
        ids = self._tokenize_with_ids(text)[1]
        pair_ids = None
        if text_pair is not None:
            _check_text(text_pair, "text_pair")
            pair_ids = self._tokenize_with_ids(text_pair)[1]
        if truncation:
            ids, pair_ids = self._truncate(ids, pair_ids, max_length or self.model_max_length)
        return ids + (pair_ids or [])

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        """Text of ``token_ids``, as the reference decodes it.

        Word-final ``</w>`` become spaces; special tokens are kept (or skipped) in place; tokens added with
        ``add_tokens`` are set off by spaces. Ids outside the vocabulary decode as the unk token.

        Args:
            token_ids: an int or a sequence of int (numpy arrays and tensors too).
            skip_special_tokens: leave out special tokens.
            clean_up_tokenization_spaces: remove spaces before punctuation and contractions.

        Returns:
            str.
        """
        tokens = self.convert_ids_to_tokens(_to_id_list(token_ids), skip_special_tokens=skip_special_tokens)
        apart = self._non_special_added | {
            token for token in self._additional_special if self._token_to_id[token] >= self.vocab_size
        }
        texts, current = [], []
        for token in tokens:
            if token in apart:
                if current:
                    string = self.convert_tokens_to_string(current)
                    if string:
                        texts.append(string)
                    current = []
                texts.append(token)
            else:
                current.append(token)
        if current:
            texts.append(self.convert_tokens_to_string(current))
        text = " ".join(texts)
        return self.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        """``decode`` of each row of ``sequences`` (a list of id lists, a 2-D array or tensor).

        Returns:
            list of str.
        """
        if hasattr(sequences, "numpy"):
            sequences = sequences.numpy()
        if getattr(sequences, "ndim", 2) != 2:
            raise ValueError(f"sequences must be 2-D (one row of ids per text), got shape {sequences.shape}")
        return [self.decode(row, skip_special_tokens, clean_up_tokenization_spaces) for row in sequences]

    @staticmethod
    def clean_up_tokenization(text):
        """Removes the spaces that tokenization put before punctuation and English contractions.

        Args:
            text: str.

        Returns:
            str.
        """
        for spaced, joined in (
            (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
            (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
        ):  # fmt: skip
            text = text.replace(spaced, joined)
        return text

    def decode_stream(self, skip_special_tokens=False):
        """An incremental decoder for generation: feed ids as they come, get the new text.

        Args:
            skip_special_tokens: as in ``decode``.

        Returns:
            An ``IncrementalDecoder``.
        """
        return IncrementalDecoder(self, skip_special_tokens=skip_special_tokens)

    # === Batches ===

    def _truncate(self, ids, pair_ids, max_length):
        if pair_ids is None:
            return ids[:max_length], None
        excess = len(ids) + len(pair_ids) - max_length
        if excess <= 0:
            return ids, pair_ids
        difference = abs(len(ids) - len(pair_ids))
        from_longer = min(excess, difference)
        rest = excess - from_longer
        if len(ids) > len(pair_ids):
            cut_first, cut_second = from_longer + rest // 2, rest - rest // 2
        else:
            cut_first, cut_second = rest // 2, from_longer + rest - rest // 2
        if cut_first > len(ids) or cut_second > len(pair_ids):
            raise ValueError(f"cannot truncate a pair of {len(ids)} + {len(pair_ids)} tokens to {max_length}")
        return ids[: len(ids) - cut_first], pair_ids[: len(pair_ids) - cut_second]

    def __call__(
        self,
        text,
        text_pair=None,
        padding=False,
        truncation=False,
        max_length=None,
        padding_side="right",
        return_tensors=None,
        return_attention_mask=True,
    ):
        """Encodes a text or a batch of texts (optionally paired) into ``input_ids`` and ``attention_mask``.

        Args:
            text: a str or a list of str.
            text_pair: None, or a str / list of str of the same length as ``text``.
            padding: False (none), True or "longest" (to the longest in the batch), "max_length".
            truncation: cut each example to ``max_length`` (longest sequence first for pairs).
            max_length: length for truncation and for padding="max_length" (default ``model_max_length``).
            padding_side: "right" or "left".
            return_tensors: None (lists), "np" (int32 arrays) or "tf" (int32 tensors).
            return_attention_mask: include ``attention_mask`` (1 on tokens, 0 on padding).

        Returns:
            dict with ``input_ids`` (and ``attention_mask``): flat lists for a single str without
            ``return_tensors``; otherwise batched, so one str with ``return_tensors`` gives (1, seq).
        """
        texts, batched = _check_texts(text, "text")
        pairs = None
        if text_pair is not None:
            pairs, pair_batched = _check_texts(text_pair, "text_pair")
            if pair_batched != batched or len(pairs) != len(texts):
                raise ValueError(
                    f"text_pair must match text: got {len(pairs)} pair(s) for {len(texts)} text(s)"
                )
        if padding not in (False, True, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"padding must be False, True, 'longest' or 'max_length'; got {padding!r}")
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left'; got {padding_side!r}")
        if return_tensors not in (None, "np", "tf"):
            raise ValueError(f"return_tensors must be None, 'np' or 'tf'; got {return_tensors!r}")
        limit = self.model_max_length if max_length is None else int(max_length)
        rows = []
        for index, item in enumerate(texts):
            ids = self._tokenize_with_ids(item)[1]
            pair_ids = self._tokenize_with_ids(pairs[index])[1] if pairs is not None else None
            if truncation:
                ids, pair_ids = self._truncate(ids, pair_ids, limit)
            rows.append(ids + (pair_ids or []))
        masks = [[1] * len(row) for row in rows]
        if padding in (True, "longest", "max_length"):
            target = limit if padding == "max_length" else max((len(row) for row in rows), default=0)
            needs_padding = any(len(row) < target for row in rows)
            if needs_padding and self.pad_token is None:
                raise ValueError(
                    "padding needs a pad token: for a model as released, reuse a token it knows, e.g. "
                    "tokenizer.add_special_tokens({'pad_token': '<unk>'}) (padding is masked, never read); a new "
                    "token ('<pad>', or tokenizer.add_paper_special_tokens()) needs model.resize_token_embeddings"
                )
            for row, mask in zip(rows, masks):
                extra = target - len(row)
                if extra > 0:
                    if padding_side == "right":
                        row.extend([self.pad_token_id] * extra)
                        mask.extend([0] * extra)
                    else:
                        row[:0] = [self.pad_token_id] * extra
                        mask[:0] = [0] * extra
        output = {"input_ids": rows}
        if return_attention_mask:
            output["attention_mask"] = masks
        if return_tensors is not None:
            lengths = {len(row) for row in rows}
            if len(lengths) > 1:
                raise ValueError(
                    f"return_tensors={return_tensors!r} needs equal lengths, got lengths {sorted(lengths)}; "
                    "pass padding=True"
                )
            output = {key: _as_tensor(value, return_tensors) for key, value in output.items()}
        if not batched and return_tensors is None:
            # As the reference: one text gives lists, but tensors always keep the batch axis (1, seq).
            output = {key: value[0] for key, value in output.items()}
        return output

    def encode_multiple_choice(
        self, context, endings, max_length=None, return_tensors=None, context_truncation_side="left"
    ):
        """Encodes choices for the double-heads model in the paper's layout
        ``_start_ context _delimiter_ ending _classify_``.

        Needs the paper's tokens (``add_paper_special_tokens()``). Rows are padded on the right to the
        longest choice with the pad token (id 0 when there is none: padding is masked).

        Args:
            context: a str, or a list of str for a batch.
            endings: a list of str (one per choice), or a list of such lists for a batch.
            max_length: the longest allowed row; when a row is longer, the context is shortened (never
                an ending); an ending that cannot fit with the three markers is an error.
            return_tensors: None (lists), "np" or "tf".
            context_truncation_side: "left" keeps the end of the context (next to the ending), "right"
                keeps its start (as the original release's code did).

        Returns:
            dict with ``input_ids`` [choices, seq] (or [batch, choices, seq]), ``mc_token_ids`` (position of
            ``_classify_``, [choices] or [batch, choices]) and ``attention_mask``.
        """
        missing = [name for name in PAPER_SPECIAL_TOKENS if self._special.get(name) is None]
        if missing:
            raise ValueError(
                f"encode_multiple_choice needs the paper's tokens; {', '.join(missing)} not set. "
                "Call tokenizer.add_paper_special_tokens() (and resize the model's embedding to len(tokenizer))"
            )
        if context_truncation_side not in ("left", "right"):
            raise ValueError(f"context_truncation_side must be 'left' or 'right'; got {context_truncation_side!r}")
        contexts, batched = _check_texts(context, "context")
        if batched:
            if not isinstance(endings, (list, tuple)) or len(endings) != len(contexts):
                raise ValueError(f"endings must hold one list of endings per context ({len(contexts)})")
            endings_per_context = [_check_texts(item, "endings[i]")[0] for item in endings]
        else:
            endings_per_context = [_check_texts(endings, "endings")[0]]
        start, delimiter, classify = (self._token_to_id[self._special[name]] for name in PAPER_SPECIAL_TOKENS)
        pad_id = self.pad_token_id if self.pad_token is not None else 0
        examples = []
        for context_text, example_endings in zip(contexts, endings_per_context):
            context_ids = self._tokenize_with_ids(context_text)[1]
            rows = []
            for ending in example_endings:
                ending_ids = self._tokenize_with_ids(ending)[1]
                room = None if max_length is None else max_length - 3 - len(ending_ids)
                if room is not None and room < 0:
                    raise ValueError(
                        f"an ending of {len(ending_ids)} tokens does not fit in max_length={max_length} "
                        "with the three markers; endings are never truncated"
                    )
                kept = context_ids
                if room is not None and len(context_ids) > room:
                    cut = len(context_ids) - room
                    kept = context_ids[cut:] if context_truncation_side == "left" else context_ids[:room]
                rows.append([start, *kept, delimiter, *ending_ids, classify])
            examples.append(rows)
        width = max((len(row) for rows in examples for row in rows), default=0)
        output = {
            "input_ids": [[row + [pad_id] * (width - len(row)) for row in rows] for rows in examples],
            "mc_token_ids": [[len(row) - 1 for row in rows] for rows in examples],
            "attention_mask": [[[1] * len(row) + [0] * (width - len(row)) for row in rows] for rows in examples],
        }
        if return_tensors is not None:
            output = {key: _as_tensor(value, return_tensors) for key, value in output.items()}
        if not batched:
            output = {key: value[0] for key, value in output.items()}
        return output


def _as_tensor(value, kind):
    import numpy as np

    array = np.asarray(value, dtype=np.int32)
    if kind == "tf":
        import tensorflow as tf

        return tf.constant(array)
    return array


class IncrementalDecoder:
    """Decodes ids one step at a time for streaming generation.

    ``step(ids)`` returns the text that the new ids add, so that the concatenation of every ``step``'s
    result and of ``flush()`` equals ``tokenizer.decode(all_ids)``. Text is held back while it may still
    change (a word is only complete once its ``</w>`` token arrives).

    Args:
        tokenizer: an ``OpenAIGPTTokenizer``.
        skip_special_tokens: as in ``decode``.

    Example:
        >>> stream = tokenizer.decode_stream()
        >>> "".join(stream.step(i) for i in ids) + stream.flush() == tokenizer.decode(ids)
        True
    """

    def __init__(self, tokenizer, skip_special_tokens=False):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self._ids = []
        self._emitted = ""

    def step(self, ids):
        """Adds an id or a sequence of ids.

        Args:
            ids: int or sequence of int.

        Returns:
            The newly completed text (possibly "").
        """
        self._ids.extend(_to_id_list(ids))
        text = self.tokenizer.decode(self._ids, skip_special_tokens=self.skip_special_tokens)
        # The last word may still grow (or a "</w>" may still appear across tokens): hold it back.
        stable = text[: text.rfind(" ") + 1]
        if stable.startswith(self._emitted) and len(stable) > len(self._emitted):
            new, self._emitted = stable[len(self._emitted) :], stable
            return new
        return ""

    def flush(self):
        """Returns the rest of the text, once no more ids will come."""
        text = self.tokenizer.decode(self._ids, skip_special_tokens=self.skip_special_tokens)
        rest = text[len(self._emitted) :] if text.startswith(self._emitted) else ""
        self._emitted = text
        return rest
