"""Tokens added after (or marked within) the vocabulary: ``AddedToken`` and the table of them.

An added token is never split by BPE. Its flags say how the text around it is read, as in the reference
(``tokenizers.AddedToken``): ``lstrip``/``rstrip`` eat the whitespace on its left/right, ``single_word``
matches it only as a whole word, ``normalized`` (for a non-special token) lower-cases it like the text.
"""

_FLAGS = ("single_word", "lstrip", "rstrip", "normalized", "special")


class AddedToken:
    """A token that is never split, with the flags that say how it matches the text around it.

    Args:
        content: the token's text.
        single_word: match only where it is not glued to other characters of a word.
        lstrip, rstrip: remove the whitespace on its left / right when it matches.
        normalized: lower-case it (and the text it must match) when it is not special; default
            ``not special``.
        special: a special token (skipped by ``decode(skip_special_tokens=True)``).

    Example:
        >>> tokenizer.add_tokens([AddedToken("<note>", lstrip=True)])
        1
    """

    def __init__(self, content, single_word=False, lstrip=False, rstrip=False, normalized=None, special=False):
        if not isinstance(content, str):
            raise TypeError(f"AddedToken content must be a str; got {type(content).__name__}")
        self.content = content
        self.single_word, self.lstrip, self.rstrip = bool(single_word), bool(lstrip), bool(rstrip)
        self.special = bool(special)
        self.normalized = (not self.special) if normalized is None else bool(normalized)

    def __getstate__(self):
        return {"content": self.content, **{flag: getattr(self, flag) for flag in _FLAGS}}

    def __setstate__(self, state):
        for key, value in state.items():
            if key != "content" and key not in _FLAGS:
                raise ValueError(f"AddedToken has no field {key!r}; expected content or one of {', '.join(_FLAGS)}")
            setattr(self, key, value)

    def __eq__(self, other):
        return isinstance(other, AddedToken) and self.__getstate__() == other.__getstate__()

    def __hash__(self):
        return hash(self.content)

    def __str__(self):
        return self.content

    def __repr__(self):
        flags = ", ".join(f"{flag}={getattr(self, flag)}" for flag in ("rstrip", "lstrip", "single_word", "normalized", "special"))
        return f'AddedToken("{self.content}", {flags})'


def as_added_token(value, special):
    """``value`` (a str, an ``AddedToken`` or a saved ``{"content": ..., ...}`` dict) as an ``AddedToken``."""
    if isinstance(value, AddedToken):
        return value
    if isinstance(value, dict):
        fields = {key: item for key, item in value.items() if key != "__type"}
        fields.setdefault("special", special)
        return AddedToken(**fields)
    return AddedToken(value, normalized=not special, special=special)


class AddedVocabulary:
    """The added tokens of a tokenizer: ids to ``AddedToken`` and back, beside a base vocabulary.

    A token already in the vocabulary keeps its id; a new one gets the next id after every id in use, so
    the paper's markers land at 40478-40480 on the released vocabulary.

    Args:
        vocab: the base vocabulary (token -> id); read, never changed.
        added_tokens: ``{id: AddedToken or saved dict or str}`` to restore (``tokenizer_config.json``'s
            ``added_tokens_decoder``), or None.
    """

    def __init__(self, vocab, added_tokens=None):
        self._vocab = vocab
        self.decoder = {}  # id -> AddedToken
        self.encoder = {}  # content -> id
        for index, entry in sorted((int(key), value) for key, value in (added_tokens or {}).items()):
            self.put(as_added_token(entry, special=True), index)

    def put(self, token, index):
        """Registers ``token`` (an ``AddedToken``) under ``index``."""
        self.decoder[index] = token
        self.encoder[token.content] = index

    def next_id(self):
        """The id a new token gets: one past every id of the vocabulary and of the added tokens."""
        return max(max(self._vocab.values(), default=-1), max(self.decoder, default=-1)) + 1

    def beyond_vocab(self):
        """``{id: content}`` of the added tokens whose ids come after the base vocabulary."""
        return {index: token.content for index, token in self.decoder.items() if token.content not in self._vocab}
