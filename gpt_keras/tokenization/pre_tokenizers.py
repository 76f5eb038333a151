"""The two pre-tokenizers of the reference OpenAIGPTTokenizer, split so that their results can be cached.

A pre-tokenizer turns text into *words* (the cache keys) with ``split(text)``, and a word into the strings
that BPE encodes with ``expand(words)``. Only ``split`` runs on every text; ``expand`` runs once per new
word. Both together give exactly what the reference's pipeline gives on the whole text:

- ``SpacyFtfyPreTokenizer``: ``ftfy.fix_text``, the original ``text_standardize``, spaCy's English
  tokenizer, lower-casing (the paper's preprocessing).
- ``BasicPreTokenizer``: the BERT-style BasicTokenizer (the reference's fallback without ftfy/spaCy).
"""
import re
import sys
import unicodedata

# The reference's text_standardize pads these runs with spaces (one run of one character each).
_PUNCT_RUN = re.compile(r"""(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|\/+|\*+|\[+|\]+|}+|{+|\|+|_+)""")
_DASHES_AND_CO = (("—", "-"), ("–", "-"), ("―", "-"), ("…", "..."), ("´", "'"))
_STANDARDIZE_COLLAPSE_NEWLINES = re.compile(r"\s*\n\s*")
_STANDARDIZE_COLLAPSE_SPACES = re.compile(r"[^\S\n]+")

# Lines that ftfy.fix_text provably leaves alone: printable ASCII and tabs, without "&" (HTML entities).
# Every ftfy fixer needs a non-ASCII character, a control character, "\r" or "&" to change anything.
_FTFY_SAFE_LINE = re.compile(r"[\t\x20-\x25\x27-\x7e]*\n?")
_FTFY_SAFE_TEXT = re.compile(r"[\t\n\x20-\x25\x27-\x7e]*")

# Newline gaps become this spaCy token (see SpacyFtfyPreTokenizer.split).
NEWLINE_WORD = "\n "


def lower_each_character(text):
    """The reference's lower-casing: ``str.lower`` one character at a time, so a capital sigma always
    becomes "σ" (``str.lower`` of a whole word would give the final "ς").

    Args:
        text: a string.

    Returns:
        The lower-cased string.
    """
    if "Σ" in text:
        text = text.replace("Σ", "σ")
    return text.lower()


def text_standardize(text):
    """The original GPT's ``text_standardize``: unify dashes/ellipsis/acute, pad punctuation runs with
    spaces, turn newline runs into `` \\n `` and other whitespace runs into one space, strip.

    Args:
        text: a string.

    Returns:
        The standardized string.
    """
    for old, new in _DASHES_AND_CO:
        text = text.replace(old, new)
    text = _PUNCT_RUN.sub(r" \1 ", text)
    text = _STANDARDIZE_COLLAPSE_NEWLINES.sub(" \n ", text)
    text = _STANDARDIZE_COLLAPSE_SPACES.sub(" ", text)
    return text.strip()


def fix_text(text):
    """``ftfy.fix_text(text)``, skipping the lines that it provably leaves unchanged.

    ftfy fixes a text line by line (each line with its ``"\\n"``) and switches HTML unescaping off for the
    rest of the text after the first line holding ``"<"``. Runs of lines that need ftfy are handed to it
    with that switch in the state the full call would have reached, so the result is identical.

    Args:
        text: a string.

    Returns:
        The fixed string.
    """
    if _FTFY_SAFE_TEXT.fullmatch(text) is not None:
        return text
    import ftfy

    lines = text.split("\n")
    segments = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        segments.append(lines[-1])
    out = []
    pending = []
    html_off = False

    def flush():
        nonlocal html_off
        if pending:
            group = "".join(pending)
            out.append(ftfy.fix_text(group, unescape_html=False if html_off else "auto"))
            html_off = html_off or "<" in group
            pending.clear()

    for segment in segments:
        if _FTFY_SAFE_LINE.fullmatch(segment) is not None:
            flush()
            out.append(segment)
            html_off = html_off or "<" in segment
        else:
            pending.append(segment)
    flush()
    return "".join(out)


class SpacyFtfyPreTokenizer:
    """ftfy + text_standardize + spaCy's English tokenizer + lower-casing, as in the paper's code.

    ``split`` gives the whitespace-separated words of the ftfy-fixed text, with ``NEWLINE_WORD`` where a
    gap holds a newline (the token spaCy makes of `` \\n `` after standardization). Standardization never
    crosses whitespace, and spaCy tokenizes each whitespace-separated span on its own, except for one
    thing: after splitting, its special-case matcher looks for the token sequences of its rules (e.g.
    ``( - _ - )``) over the whole text, also across spaces. Such a match changes nothing by itself (no
    rule holds a space), but it can shadow a genuine match that overlaps it. So each word is tokenized
    as the reference sees it (its standardized pieces joined by spaces), and ``crosses_special_case``
    tells the caller when two neighbouring words could form such a match; the caller then tokenizes the
    text in one piece, as the reference does.
    """

    name = "spacy_ftfy"

    def __init__(self):
        self._tokenizer = None

    def _load(self):
        try:
            import ftfy  # noqa: F401  (fail here, not halfway through a text)
            from spacy.lang.en import English
            from spacy.tokenizer import Tokenizer
        except ImportError as error:
            raise ImportError(
                f"pre_tokenizer='spacy_ftfy' needs spaCy and ftfy ({error}); install them or use "
                "pre_tokenizer='basic'"
            ) from error
        tokenizer = English().tokenizer
        # The matcher matches each rule as the tokens its text gives without special cases; collect the
        # adjacent token pairs of the multi-token ones, indexed by the characters that end/start them.
        bare = Tokenizer(
            tokenizer.vocab,
            rules={},
            prefix_search=tokenizer.prefix_search,
            suffix_search=tokenizer.suffix_search,
            infix_finditer=tokenizer.infix_finditer,
            token_match=tokenizer.token_match,
            url_match=tokenizer.url_match,
        )
        pairs = set()
        for rule in tokenizer.rules:
            pieces = [token.text for token in bare(rule)]
            pairs.update(zip(pieces, pieces[1:]))
        self._pairs = pairs
        self._lefts_by_last_char = {}
        self._rights_by_first_char = {}
        for left, right in pairs:
            self._lefts_by_last_char.setdefault(left[-1], set()).add(left)
            self._rights_by_first_char.setdefault(right[0], set()).add(right)
        self._tokenizer = tokenizer

    @property
    def spacy_tokenizer(self):
        """spaCy's English tokenizer (loaded on first use)."""
        if self._tokenizer is None:
            self._load()
        return self._tokenizer

    def split(self, text):
        """Fixes ``text`` with ftfy and splits it into cacheable words (see the class docstring)."""
        text = fix_text(text)
        if "\n" not in text:
            return text.split()
        words = []
        for line in text.split("\n"):
            line_words = line.split()
            if line_words:
                if words:
                    words.append(NEWLINE_WORD)
                words.extend(line_words)
        return words

    def expand(self, words):
        """Pre-tokenizes new words.

        Args:
            words: words from ``split``.

        Returns:
            one ``(strings, ends, starts)`` per word: the lower-cased spaCy tokens; the left halves of
            matcher pairs that the word ends with and the right halves that it starts with (None if none).
        """
        standardized = [None if word == NEWLINE_WORD else self._standardize_word(word) for word in words]
        tokens_per_text = self._tokenize_texts([text for text in standardized if text])
        results = []
        for text in standardized:
            if text is None:
                results.append(([NEWLINE_WORD], None, None))
                continue
            if not text:
                results.append(([], None, None))
                continue
            ends = {left for left in self._lefts_by_last_char.get(text[-1], ()) if text.endswith(left)}
            starts = {right for right in self._rights_by_first_char.get(text[0], ()) if text.startswith(right)}
            results.append(([token.lower() for token in next(tokens_per_text)], ends or None, starts or None))
        return results

    def _tokenize_texts(self, texts):
        """spaCy's tokens of each standardized word, as if each word were tokenized alone (an iterator)."""
        tokenizer = self.spacy_tokenizer
        # One spaCy call for all the words: a newline between two words is a whitespace token, which no
        # special case can match across. Tokens cover a word's characters exactly, which splits them up.
        tokens = [token.text for token in tokenizer("\n".join(texts))] if texts else []
        tokens_per_text = []
        position = 0
        for text in texts:
            remaining = len(text) - text.count(" ")
            start = position
            while remaining > 0 and position < len(tokens):
                remaining -= len(tokens[position])
                position += 1
            tokens_per_text.append(tokens[start:position])
            if remaining != 0 or (position < len(tokens) and tokens[position] != "\n"):
                break  # not aligned as expected: tokenize word by word instead
            position += 1
        else:
            return iter(tokens_per_text)
        return iter([[token.text for token in tokenizer(text)] for text in texts])

    @staticmethod
    def _standardize_word(word):
        """text_standardize of one whitespace-free word."""
        if not word.isascii():
            for old, new in _DASHES_AND_CO:
                word = word.replace(old, new)
        return " ".join(_PUNCT_RUN.sub(r" \1 ", word).split())

    def crosses_special_case(self, ends, starts):
        """Whether spaCy's special-case matcher could match across the space between two words.

        Args:
            ends: ``ends`` of the left word, as returned by ``expand``.
            starts: ``starts`` of the right word.

        Returns:
            bool.
        """
        pairs = self._pairs
        return any((left, right) in pairs for left in ends for right in starts)

    def whole_text(self, text):
        """The reference's path on a whole text: ftfy, text_standardize, spaCy, lower-case.

        Args:
            text: a string.

        Returns:
            list of lower-cased token strings.
        """
        doc = self.spacy_tokenizer(text_standardize(fix_text(text)))
        return [token.text.lower() for token in doc]


def _is_chinese_char(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class _CleanTable(dict):
    """``str.translate`` table of BasicTokenizer's clean-up and CJK split, filled one code point at a time."""

    def __missing__(self, cp):
        char = chr(cp)
        category = unicodedata.category(char)
        if cp == 0 or cp == 0xFFFD or (category.startswith("C") and char not in "\t\n\r"):
            value = None
        elif char in " \t\n\r" or category == "Zs":
            value = " "
        elif _is_chinese_char(cp):
            value = f" {char} "
        else:
            value = char
        self[cp] = value
        return value


def _is_punctuation(char):
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


class BasicPreTokenizer:
    """The BERT-style BasicTokenizer with lower-casing: remove control characters, map whitespace to
    spaces, put spaces around CJK ideographs, NFC, split on whitespace; then per word lower-case, strip
    accents (NFD without combining marks) and split off every punctuation character.

    Every step before the whitespace split works character by character or (NFC) never across a space,
    so each whitespace-separated word can be expanded, and cached, on its own.
    """

    name = "basic"

    _ASCII_DELETE = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])

    def __init__(self):
        self._table = _CleanTable(self._ASCII_DELETE)
        for cp in range(128):
            self._table[cp]  # noqa: B018  (fills the ASCII part of the table once)
        self._punctuation = {}

    def split(self, text):
        """Cleans ``text`` (control characters, whitespace, CJK, NFC) and splits it on whitespace."""
        text = text.translate(self._table)
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        return text.split()

    def expand(self, words):
        """Pre-tokenizes new words (see ``SpacyFtfyPreTokenizer.expand``; nothing here crosses words)."""
        return [(self._expand_word(word), None, None) for word in words]

    def _expand_word(self, word):
        word = word.lower()
        if not word.isascii():
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        pieces = []
        start_new = True
        punctuation = self._punctuation
        for char in word:
            is_punct = punctuation.get(char)
            if is_punct is None:
                is_punct = punctuation[char] = _is_punctuation(char)
            if is_punct:
                pieces.append(char)
                start_new = True
            elif start_new:
                pieces.append(char)
                start_new = False
            else:
                pieces[-1] += char
        return " ".join(pieces).split()


def resolve_pre_tokenizer(name, logger=None):
    """Creates the pre-tokenizer called ``name``.

    Args:
        name: "spacy_ftfy", "basic" or "auto" (spacy_ftfy when ftfy and spaCy are installed, else basic).
        logger: where "auto" logs its choice.

    Returns:
        A ``SpacyFtfyPreTokenizer`` or ``BasicPreTokenizer``.

    Raises:
        ValueError: for another name. ImportError: "spacy_ftfy" without ftfy or spaCy.
    """
    import importlib.util

    if name == "auto":
        available = all(
            module in sys.modules or importlib.util.find_spec(module) is not None for module in ("ftfy", "spacy")
        )
        name = "spacy_ftfy" if available else "basic"
        if logger is not None:
            logger.info(
                "pre_tokenizer='auto' chose %r (%s)",
                name,
                "ftfy and spaCy are installed" if available else "ftfy or spaCy is not installed",
            )
    if name == "spacy_ftfy":
        missing = [m for m in ("ftfy", "spacy") if m not in sys.modules and importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                f"pre_tokenizer='spacy_ftfy' needs {' and '.join(missing)}; install it or use pre_tokenizer='basic'"
            )
        return SpacyFtfyPreTokenizer()
    if name == "basic":
        return BasicPreTokenizer()
    raise ValueError(f"pre_tokenizer must be 'auto', 'spacy_ftfy' or 'basic'; got {name!r}")
