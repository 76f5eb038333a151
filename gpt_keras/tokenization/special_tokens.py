"""Special and added tokens: the registry of never-split tokens and their ids, and the reference's
special-token API (``add_special_tokens``, ``bos_token``/``bos_token_id``, ...) over it.

A token already in the vocabulary keeps its id when it becomes never-split; a new one gets the next id
after every id in use, so the paper's markers land at 40478-40480 on the released vocabulary.
"""
from gpt_keras.tokenization.inputs import check_texts

SPECIAL_TOKEN_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# The paper's input markers (appended after the vocabulary in this order by the original code) and a pad.
PAPER_SPECIAL_TOKENS = {"bos_token": "_start_", "sep_token": "_delimiter_", "cls_token": "_classify_"}


class SpecialTokens:
    """The never-split tokens of a tokenizer: special ones (named or additional) and added ones.

    Args:
        vocab: the base vocabulary (token -> id); read, never changed.
        added_tokens: ``{id: token}`` or ``{id: {"content": token, "special": bool}}`` of tokens to
            register with these ids (as ``tokenizer_config.json`` saves them), or None.

    Attributes:
        ids: token -> id of every never-split token (special or added).
        beyond_vocab: id -> token for the ids after the vocabulary.
        named: attribute name ("bos_token", ...) -> token.
        additional: the additional special tokens, in the order they were added.
        non_special: tokens added with ``add_tokens``: never split, but not special.
    """

    def __init__(self, vocab, added_tokens=None):
        self._vocab = vocab
        self.ids = {}
        self.beyond_vocab = {}
        self.named = {}
        self.additional = []
        self.non_special = set()
        for index, entry in sorted((int(k), v) for k, v in (added_tokens or {}).items()):
            if isinstance(entry, dict):
                token, special = entry["content"], entry.get("special", True)
            else:
                token, special = entry, True
            self.register(token, special=special, index=index)

    def next_id(self):
        """The id a new token gets: one past every id of the vocabulary and of the added tokens."""
        return max(max(self._vocab.values(), default=-1), max(self.beyond_vocab, default=-1)) + 1

    def register(self, token, special, index=None):
        """Makes ``token`` never-split; gives it ``index``, its vocabulary id or the next free id.

        Returns:
            True when the token is new to the vocabulary (it takes an id after it).
        """
        if not isinstance(token, str) or not token:
            raise TypeError(f"a special or added token must be a non-empty str; got {token!r}")
        if token in self.ids:
            return False
        if index is None:
            index = self._vocab.get(token, self.next_id())
        self.ids[token] = index
        new = token not in self._vocab
        if new:
            self.beyond_vocab[index] = token
        if not special:
            self.non_special.add(token)
        return new

    def set_named(self, name, token):
        """Makes ``token`` the special token ``name`` ("bos_token", ...)."""
        self.register(token, special=True)
        self.non_special.discard(token)
        self.named[name] = token

    def add_special(self, special_tokens):
        """``add_special_tokens``'s work; returns the number of tokens appended after the vocabulary."""
        if not isinstance(special_tokens, dict):
            raise TypeError(f"special_tokens must be a dict; got {type(special_tokens).__name__}")
        count_before = len(self.beyond_vocab)
        for name, value in special_tokens.items():
            if name == "additional_special_tokens":
                for token in [value] if isinstance(value, str) else list(value):
                    self.register(token, special=True)
                    self.non_special.discard(token)
                    if token not in self.additional:
                        self.additional.append(token)
            elif name in SPECIAL_TOKEN_ATTRIBUTES:
                self.set_named(name, value)
            else:
                raise ValueError(
                    f"add_special_tokens: unknown key {name!r}; expected one of "
                    f"{', '.join(SPECIAL_TOKEN_ATTRIBUTES)} or additional_special_tokens"
                )
        return len(self.beyond_vocab) - count_before

    def add_plain(self, tokens):
        """``add_tokens``'s work for non-special tokens; returns the number appended after the vocabulary."""
        count_before = len(self.beyond_vocab)
        for token in tokens:
            # As in the reference, a non-special added token is lower-cased like the text it must match.
            self.register(token.lower(), special=False)
        return len(self.beyond_vocab) - count_before

    @property
    def all_special(self):
        """The special tokens (bos, eos, unk, sep, pad, cls, mask, then the additional ones), without repeats."""
        named = [self.named[name] for name in SPECIAL_TOKEN_ATTRIBUTES if name in self.named]
        return list(dict.fromkeys([*named, *self.additional]))

    def paper_marker_ids(self):
        """The ids of ``_start_``, ``_delimiter_`` and ``_classify_`` (the bos, sep and cls tokens).

        Raises:
            ValueError: when one of them is not set, saying how to add them.
        """
        missing = [name for name in PAPER_SPECIAL_TOKENS if self.named.get(name) is None]
        if missing:
            raise ValueError(
                f"encode_multiple_choice needs the paper's tokens; {', '.join(missing)} not set. "
                "Call tokenizer.add_paper_special_tokens() (and resize the model's embedding to len(tokenizer))"
            )
        return [self.ids[self.named[name]] for name in PAPER_SPECIAL_TOKENS]

    def protected(self):
        """The tokens that the reference's lower-casing leaves as they are: special and non-special added."""
        return [*self.all_special, *(token for token in self.ids if token in self.non_special)]

    def set_apart(self):
        """The tokens that ``decode`` sets off by spaces: non-special added, and additional special
        tokens with ids after the vocabulary."""
        beyond = {token for token in self.additional if self.ids[token] >= len(self._vocab)}
        return self.non_special | beyond

    def to_config(self):
        """The ``tokenizer_config.json`` entries: ``added_tokens_decoder``, the named and additional tokens."""
        special = set(self.all_special)
        config = {
            "added_tokens_decoder": {
                str(index): {
                    "content": token,
                    "special": token in special,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "single_word": False,
                }
                for token, index in sorted(self.ids.items(), key=lambda item: item[1])
            },
            **self.named,
        }
        if self.additional:
            config["additional_special_tokens"] = list(self.additional)
        return config


def _named_token_properties(name):
    """The ``name`` and ``name_id`` properties (e.g. ``bos_token``, ``bos_token_id``) of a tokenizer."""
    label = name.replace("_", " ")

    def token(self):
        return self._specials.named.get(name)

    def token_id(self):
        named = self._specials.named.get(name)
        return None if named is None else self._specials.ids[named]

    return property(token, doc=f"The {label} (None if unset)."), property(token_id, doc=f"The id of the {label} (None if unset).")


class SpecialTokensMixin:
    """The reference's special-token API for a tokenizer that keeps a ``SpecialTokens`` in ``_specials``
    and rebuilds its lookups in ``_clear_caches()`` after each change (as transformers' mixin of the
    same name does for its tokenizers)."""

    def add_special_tokens(self, special_tokens):
        """Adds special tokens (never split; skipped by ``decode(skip_special_tokens=True)``).

        Args:
            special_tokens: dict from "bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                "cls_token", "mask_token" to a token, and/or "additional_special_tokens" to a list of tokens.

        Returns:
            The number of tokens appended after the vocabulary.
        """
        try:
            return self._specials.add_special(special_tokens)
        finally:
            self._clear_caches()

    def add_tokens(self, tokens, special_tokens=False):
        """Adds tokens that are never split, with ids after the vocabulary.

        Args:
            tokens: a token or a list of tokens.
            special_tokens: register them as additional special tokens instead.

        Returns:
            The number of tokens appended after the vocabulary.
        """
        tokens, _ = check_texts(tokens, "tokens")
        if special_tokens:
            return self.add_special_tokens({"additional_special_tokens": tokens})
        try:
            return self._specials.add_plain(tokens)
        finally:
            self._clear_caches()

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
        return self._specials.all_special

    @property
    def all_special_ids(self):
        """The ids of ``all_special_tokens``."""
        return [self._specials.ids[token] for token in self._specials.all_special]

    @property
    def additional_special_tokens(self):
        """The special tokens added under "additional_special_tokens"."""
        return list(self._specials.additional)

    bos_token, bos_token_id = _named_token_properties("bos_token")
    eos_token, eos_token_id = _named_token_properties("eos_token")
    unk_token, unk_token_id = _named_token_properties("unk_token")
    sep_token, sep_token_id = _named_token_properties("sep_token")
    pad_token, pad_token_id = _named_token_properties("pad_token")
    cls_token, cls_token_id = _named_token_properties("cls_token")
    mask_token, mask_token_id = _named_token_properties("mask_token")
