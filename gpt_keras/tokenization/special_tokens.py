"""Special tokens: the named ones (``bos_token`` ... ``mask_token``, ``additional_special_tokens``) and the
reference's API over them and over the added tokens (``add_special_tokens``, ``add_tokens``,
``special_tokens_map``, ``bos_token_id``, ...).

As in the reference, a special token given to the constructor or to ``add_special_tokens`` is added
(never split, and given an id after the vocabulary when it is new); one assigned as an attribute
(``tokenizer.pad_token = tokenizer.unk_token``) only names a token: nothing is added, and its id is
the one the vocabulary gives it (the unk id for an unknown token).
"""
import logging

from gpt_keras.tokenization.added_tokens import AddedToken, AddedVocabulary
from gpt_keras.tokenization.inputs import to_id_list

logger = logging.getLogger("gpt_keras.tokenizer")

SPECIAL_TOKEN_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
ADDITIONAL = "additional_special_tokens"
# The paper's input markers (appended after the vocabulary in this order by the original code) and a pad.
PAPER_SPECIAL_TOKENS = {"bos_token": "_start_", "sep_token": "_delimiter_", "cls_token": "_classify_"}


class SpecialTokens:
    """The named special tokens and the added tokens of one tokenizer.

    Args:
        vocab: the base vocabulary (token -> id); read, never changed.
        added_tokens: ``{id: AddedToken or saved dict}`` to restore, or None.

    Attributes:
        added: the ``AddedVocabulary`` (every never-split token and its id).
        named: attribute name ("bos_token", ...) -> token (str or ``AddedToken``) or None.
        additional: the additional special tokens, in order.
    """

    def __init__(self, vocab, added_tokens=None):
        self._vocab = vocab
        self.added = AddedVocabulary(vocab, added_tokens)
        self.named = dict.fromkeys(SPECIAL_TOKEN_ATTRIBUTES)
        self.additional = []
        self.verbose = False

    def map_extended(self):
        """``special_tokens_map_extended``: the set names and their tokens (``AddedToken`` kept as they are)."""
        items = {name: token for name, token in self.named.items() if token}
        if self.additional:
            items[ADDITIONAL] = list(self.additional)
        return items

    def all_special_extended(self):
        """Every special token once, named ones first (bos, eos, unk, sep, pad, cls, mask), then additional."""
        tokens = [token for token in self.named.values() if token] + list(self.additional or [])
        seen, unique = set(), []
        for token in tokens:
            if str(token) not in seen:
                seen.add(str(token))
                unique.append(token)
        return unique

    def all_special(self):
        return [str(token) for token in self.all_special_extended()]

    def add(self, tokens, special_tokens=False):
        """Adds tokens as the reference's ``_add_tokens`` does; returns how many got ids after the vocabulary.

        A str already added is skipped; a new str is special when it is a special token's name or
        ``special_tokens`` is set; a non-special normalized token is lower-cased like the text it must
        match (GPT lower-cases every text). A new special token that no name holds joins the additional ones.
        """
        all_special = set(self.all_special())
        count = 0
        for token in tokens:
            if not isinstance(token, (str, AddedToken)):
                raise TypeError(f"Token {token!r} is not a str or an AddedToken but a {type(token).__name__}")
            if str(token) == "":
                continue
            if isinstance(token, str):
                if token in self.added.encoder:
                    continue
                special = token in all_special or special_tokens
                token = AddedToken(token, normalized=not special, special=special)
            elif special_tokens:
                token.special = True
            if not token.special and token.normalized:
                token.content = token.content.lower()
            index = self.added.encoder.get(token.content, self._vocab.get(token.content))
            if index is None:
                index = self.added.next_id()
                count += 1
            if token.special and token.content not in all_special:
                self.additional = [*(self.additional or []), token]
                all_special.add(token.content)
            self.added.put(token, index)
            if self.verbose:
                logger.info("Adding %s to the vocabulary", token)
        return count

    def add_special(self, special_tokens, replace_additional_special_tokens=True):
        """``add_special_tokens``'s work; returns how many tokens got ids after the vocabulary."""
        if not isinstance(special_tokens, dict):
            raise TypeError(f"special_tokens must be a dict; got {type(special_tokens).__name__}")
        to_add = []
        for name, value in special_tokens.items():
            if name == ADDITIONAL:
                to_add += self._set_additional(value, replace_additional_special_tokens)
            elif name in SPECIAL_TOKEN_ATTRIBUTES:
                if not isinstance(value, (str, AddedToken)):
                    raise ValueError(f"Token {value!r} for key {name} should be a str or an AddedToken instance")
                token = AddedToken(value, normalized=False, special=True) if isinstance(value, str) else value
                self.named[name] = token
                if token not in to_add:
                    to_add.append(token)
            else:
                raise ValueError(
                    f"add_special_tokens: unknown key {name!r}; expected one of "
                    f"{', '.join(SPECIAL_TOKEN_ATTRIBUTES)} or {ADDITIONAL}"
                )
        return self.add(to_add, special_tokens=True)

    def _set_additional(self, tokens, replace):
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, (str, AddedToken)) for t in tokens):
            raise ValueError(f"{ADDITIONAL} must be a list of str or AddedToken; got {tokens!r}")
        current = {str(token) for token in self.additional}
        new = []
        for token in tokens:
            token = AddedToken(token, normalized=False, special=True) if isinstance(token, str) else token
            if replace or str(token) not in current:
                new.append(token)
        if replace and new:
            self.additional = list(new)
        else:
            self.additional = [*self.additional, *new]
        return new

    def protected(self):
        """The tokens that lower-casing leaves as they are: the special ones and the normalized non-special added."""
        plain = [token.content for token in self.added.decoder.values() if not token.special and token.normalized]
        return [*self.all_special(), *plain]

    def set_apart(self):
        """The tokens that ``decode`` sets off on their own: added tokens that are not special, and
        additional special tokens with ids after the vocabulary (as the reference's "legacy" added tokens)."""
        all_special = set(self.all_special())
        size = len(self._vocab)
        beyond = {str(t) for t in self.additional if self.added.encoder.get(str(t), self._vocab.get(str(t), -1)) >= size}
        return (set(self.added.encoder) - all_special) | beyond

    def tables(self):
        """These tokens as plain data (str, int, lists and dicts): what an encoder outside Python needs to
        split, lower-case and decode as ``encoding`` and ``decoding`` do.

        Returns:
            dict: ``never_split`` ([token, id] of every added token, kept whole wherever it stands),
            ``protected`` (the tokens lower-casing leaves alone, in matching order), ``special_tokens``
            (``all_special``), ``set_apart`` (the tokens ``decode`` sets off by spaces, sorted) and
            ``named_tokens`` (``{"unk_token": "<unk>", ...}`` of the named tokens that are set, as str).
        """
        return {
            "never_split": [[token, index] for token, index in self.added.encoder.items()],
            "protected": self.protected(),
            "special_tokens": self.all_special(),
            "set_apart": sorted(self.set_apart()),
            "named_tokens": {name: str(token) for name, token in self.named.items() if token is not None},
        }

    def paper_marker_ids(self):
        """The ids of ``_start_``, ``_delimiter_`` and ``_classify_`` (the bos, sep and cls tokens).

        Raises:
            ValueError: when one of them is not an added token, saying how to add them.
        """
        tokens = [self.named.get(name) for name in PAPER_SPECIAL_TOKENS]
        missing = [name for name, token in zip(PAPER_SPECIAL_TOKENS, tokens) if str(token) not in self.added.encoder]
        if missing:
            raise ValueError(
                f"encode_multiple_choice needs the paper's tokens; {', '.join(missing)} not set. "
                "Call tokenizer.add_paper_special_tokens() (and resize the model's embedding to len(tokenizer))"
            )
        return [self.added.encoder[str(token)] for token in tokens]

    def to_config(self):
        """The ``tokenizer_config.json`` entries: ``added_tokens_decoder``, the named and additional tokens."""
        decoder = sorted(self.added.decoder.items())
        config = {"added_tokens_decoder": {str(index): token.__getstate__() for index, token in decoder}}
        config.update({name: str(token) for name, token in self.named.items() if token})
        if self.additional:
            config[ADDITIONAL] = [str(token) for token in self.additional]
        return config

    def to_map_file(self):
        """The content of ``special_tokens_map.json``, in the reference's layout."""

        def saved(token):
            if isinstance(token, AddedToken):
                return {key: value for key, value in token.__getstate__().items() if key != "special"}
            return token

        return {name: [saved(t) for t in value] if name == ADDITIONAL else saved(value) for name, value in self.map_extended().items()}


def _named_token_properties(name):
    """The ``name`` and ``name_id`` properties (e.g. ``bos_token``, ``bos_token_id``) of a tokenizer, with
    setters: as in the reference, setting one names a token without adding it."""
    label = name.replace("_", " ")

    def get_token(self):
        token = self._specials.named[name]
        return None if token is None else str(token)

    def set_token(self, token):
        if token is not None and not isinstance(token, (str, AddedToken)):
            raise ValueError(f"Cannot set a non-string value as the {name}; got {type(token).__name__}")
        self._specials.named[name] = token
        self._clear_caches()

    def get_id(self):
        token = get_token(self)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set_id(self, index):
        set_token(self, None if index is None else self.convert_ids_to_tokens(index))

    return (
        property(get_token, set_token, doc=f"The {label} (None if unset); assigning one names it, adds nothing."),
        property(get_id, set_id, doc=f"The id of the {label} (None if unset); assigning an id names its token."),
    )


class SpecialTokensMixin:
    """The reference's special-token API for a tokenizer that keeps a ``SpecialTokens`` in ``_specials``
    and rebuilds its lookups in ``_clear_caches()`` after each change (as transformers' mixin of the
    same name does for its tokenizers)."""

    SPECIAL_TOKENS_ATTRIBUTES = [*SPECIAL_TOKEN_ATTRIBUTES, ADDITIONAL]

    def add_special_tokens(self, special_tokens_dict, replace_additional_special_tokens=True):
        """Adds special tokens (never split; skipped by ``decode(skip_special_tokens=True)``) and names them.

        Args:
            special_tokens_dict: dict from "bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                "cls_token", "mask_token" to a token (str or ``AddedToken``), and/or
                "additional_special_tokens" to a list of tokens.
            replace_additional_special_tokens: the given additional tokens replace the current list (the
                old ones stay in the vocabulary); False appends the ones not listed yet.

        Returns:
            The number of tokens appended after the vocabulary.

        Example:
            >>> tokenizer.add_special_tokens({"pad_token": "<pad>"})  # then model.resize_token_embeddings(len(tokenizer))
            1
        """
        if not special_tokens_dict:
            return 0
        try:
            return self._specials.add_special(special_tokens_dict, replace_additional_special_tokens)
        finally:
            self._clear_caches()

    def add_tokens(self, new_tokens, special_tokens=False):
        """Adds tokens that are never split, with ids after the vocabulary when they are new.

        Args:
            new_tokens: a token or a list of tokens (str or ``AddedToken``); a non-special str is
                lower-cased like the text it must match.
            special_tokens: add them as (additional) special tokens.

        Returns:
            The number of tokens appended after the vocabulary.
        """
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        try:
            return self._specials.add(new_tokens, special_tokens=special_tokens)
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
    def special_tokens_map(self):
        """``{name: token}`` of the set special tokens (``additional_special_tokens``: a list), as str."""
        return {
            name: [str(t) for t in token] if name == ADDITIONAL else str(token)
            for name, token in self._specials.map_extended().items()
        }

    @property
    def special_tokens_map_extended(self):
        """``special_tokens_map`` with ``AddedToken`` values kept as they are."""
        return self._specials.map_extended()

    @property
    def all_special_tokens_extended(self):
        """Every special token once (``AddedToken`` values kept as they are)."""
        return self._specials.all_special_extended()

    @property
    def all_special_tokens(self):
        """Every special token once, as str: bos, eos, unk, sep, pad, cls, mask, then the additional ones."""
        return self._specials.all_special()

    @property
    def all_special_ids(self):
        """The ids of ``all_special_tokens``."""
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def additional_special_tokens(self):
        """The additional special tokens, as str (None once set to None)."""
        tokens = self._specials.additional
        return None if tokens is None else [str(token) for token in tokens]

    @additional_special_tokens.setter
    def additional_special_tokens(self, tokens):
        self._specials.additional = None if tokens is None else list(tokens)
        self._clear_caches()

    @property
    def additional_special_tokens_ids(self):
        """The ids of ``additional_special_tokens``."""
        tokens = self.additional_special_tokens
        return None if tokens is None else self.convert_tokens_to_ids(tokens)

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, ids):
        self.additional_special_tokens = None if ids is None else [self.convert_ids_to_tokens(i) for i in to_id_list(ids)]

    @property
    def added_tokens_decoder(self):
        """``{id: AddedToken}`` of the added tokens, by id."""
        return dict(sorted(self._specials.added.decoder.items()))

    @property
    def added_tokens_encoder(self):
        """``{token: id}`` of the added tokens, by id."""
        return {token.content: index for index, token in self.added_tokens_decoder.items()}

    def get_added_vocab(self):
        """``{token: id}`` of the added tokens (those of the vocabulary that were marked too)."""
        return dict(self._specials.added.encoder)

    bos_token, bos_token_id = _named_token_properties("bos_token")
    eos_token, eos_token_id = _named_token_properties("eos_token")
    unk_token, unk_token_id = _named_token_properties("unk_token")
    sep_token, sep_token_id = _named_token_properties("sep_token")
    pad_token, pad_token_id = _named_token_properties("pad_token")
    cls_token, cls_token_id = _named_token_properties("cls_token")
    mask_token, mask_token_id = _named_token_properties("mask_token")
