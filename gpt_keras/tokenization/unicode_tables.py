"""The basic pre-tokenizer's Unicode steps as tables over code points, for the in-graph tokenizer.

Core TensorFlow has no Unicode normalization, and its case mapping (ICU's, in ``tf.strings.lower``)
differs from Python's ``str.lower`` (see ``README.md``, "Text in, text out"). So the in-graph tokenizer
uses no Unicode property of TensorFlow's: every step of ``BasicPreTokenizer`` is read off Python's own
``unicodedata`` here, once per process, into tables over code points.

Why per-code-point tables are exact: lower-casing, the clean-up (control characters, whitespace, CJK
spacing) and canonical decomposition each map one character to a string, and Python's NFC before the
word split changes nothing that follows it: NFD(NFC(x)) is NFD(x), and lower-casing commutes with
canonical equivalence for every character (checked over all code points and 200,000 random mixes of
bases, combining marks, Hangul jamo and cased letters against ``BasicPreTokenizer``). The one step that
looks at neighbours is NFD's canonical reordering of combining marks; the 25 characters that it moves
and that survive accent stripping (non-Mn marks, e.g. U+1D165) are ``MARK``s, sorted in the graph.

No TensorFlow here: numpy arrays and dicts that ``in_graph`` turns into tensors and lookup tables.
"""
import functools
import unicodedata

import numpy as np

from gpt_keras.tokenization.pre_tokenizers import BasicPreTokenizer, _is_punctuation

CODE_POINTS = 0x110000

# What one code point of the lower-cased text becomes. Words are runs of LETTERs and MARKs; an ISOLATED
# character (punctuation, a CJK ideograph) is a word on its own; SPACE separates words.
DELETE = 0  # removed (control characters, accents stripped with NFD, unassigned code points)
SPACE = 1
LETTER = 2
ISOLATED = 3
MARK = 4  # kept and has a canonical combining class: NFD may move it among its neighbours
GONE_STARTER = 5  # removed, but, as a starter (class 0), it bounds the marks that NFD reorders
EXPAND = 6  # becomes several characters, or another one: see ``CharacterTables.expansions``

# Unassigned, private-use and surrogate code points: the clean-up deletes every "C*" character.
_DELETED_CATEGORIES = frozenset(("Cn", "Co", "Cs"))


class CharacterTables:
    """The per-code-point tables of the basic pre-tokenizer after the text is lower-cased.

    Attributes:
        kinds: uint8 [0x110000], one of the kinds above for every code point.
        expansions: {code point: ((code point, kind, combining class), ...)} for the ``EXPAND`` ones.
        mark_classes: {code point: combining class} of the ``MARK``s.
        lower: {code point: code point} where the reference's lower-casing maps one character to another.
        lower_strings: {code point: str} where it maps one character to several (U+0130 → "i̇").
        whitespace: the code points Python's ``str.strip`` and ``str.split`` treat as whitespace.
    """

    def __init__(self):
        self.kinds = np.zeros(CODE_POINTS, np.uint8)
        self.expansions, self.mark_classes, self.lower, self.lower_strings = {}, {}, {}, {}
        self.whitespace = []
        clean = BasicPreTokenizer()._table  # the pre-tokenizer's own clean-up table (str.translate)
        category = unicodedata.category
        for code in range(CODE_POINTS):
            char = chr(code)
            if category(char) in _DELETED_CATEGORIES:
                continue  # kinds[code] stays DELETE
            if char.isspace():
                self.whitespace.append(code)
            self._add_lower(code, char)
            self._add_kind(code, char.translate(clean))

    def _add_lower(self, code, char):
        # The reference lower-cases one character at a time: a capital sigma is always "σ".
        lowered = "σ" if char == "Σ" else char.lower()
        if len(lowered) > 1:
            self.lower_strings[code] = lowered
        elif lowered != char:
            self.lower[code] = ord(lowered)

    def _add_kind(self, code, cleaned):
        # Per word, the pre-tokenizer lower-cases, decomposes (NFD) and drops the Mn marks.
        out = [_described(part) for piece in cleaned for low in piece.lower() for part in _nfd(low)]
        out = [entry for entry in out if entry is not None]
        char = chr(code)
        if not out:
            kind = DELETE
        elif len(out) == 1 and (out[0][0] == code or out[0][1] == SPACE):
            kind = out[0][1]
        elif cleaned == f" {char} " and [entry[:2] for entry in out[1:-1]] == [(code, LETTER)]:
            kind = ISOLATED  # a CJK ideograph: set apart by spaces, otherwise unchanged
        else:
            kind = EXPAND
            self.expansions[code] = tuple(out)
        if kind == MARK:
            self.mark_classes[code] = out[0][2]
        self.kinds[code] = kind


def code_point_ranges(kinds, chosen):
    """The runs ``[(first, last), ...]`` of code points whose kind is in ``chosen`` (surrogates left out:
    valid UTF-8 never holds them)."""
    flags = np.isin(kinds, list(chosen))
    flags[0xD800:0xE000] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return [(int(first), int(last) - 1) for first, last in zip(edges[0::2], edges[1::2])]


def _nfd(char):
    return char if char.isascii() else unicodedata.normalize("NFD", char)


def _described(char):
    """``(code point, kind, combining class)`` of one character of a decomposed word; None when the
    accent stripping removes it without a trace (an Mn mark that is not a starter)."""
    combining = unicodedata.combining(char)
    if char.isspace():
        return ord(char), SPACE, 0
    if unicodedata.category(char) == "Mn":
        return (ord(char), GONE_STARTER, 0) if combining == 0 else None
    if _is_punctuation(char):
        return ord(char), ISOLATED, combining
    return ord(char), (MARK if combining else LETTER), combining


@functools.lru_cache(maxsize=1)
def character_tables():
    """The ``CharacterTables`` of this Python's ``unicodedata`` (built once per process, ~1 s)."""
    return CharacterTables()
