"""Texts to words in TensorFlow ops: the in-graph twin of ``TextEncoder`` + ``BasicPreTokenizer``.

The steps are the Python tokenizer's, in its order, on a whole batch at once:

1. UTF-8 check (the Python tokenizer takes ``str``; bytes that are not UTF-8 are refused, by index);
2. lower-casing, except where a special or added token stands (an RE2 pass marks those spans, when
   lower-casing would change one of them);
3. the split at never-split tokens (an RE2 pass on the lower-cased text), which become ids;
4. the pre-tokenizer on each remaining piece through ``unicode_tables`` (clean-up, CJK spacing,
   lower-casing, NFD, accent stripping, punctuation split), giving its words as strings.

The token passes insert the byte 0xFF, which valid UTF-8 never holds, around each match, so that one
``tf.strings.split`` cuts a text into (piece, token, piece, ...), as ``re.split`` with a group does.
Step 4 is three RE2 passes and a whitespace split for a piece whose characters the tables map to
themselves, a space or nothing (English prose); the others take the code point by code point path.
"""
import functools

import tensorflow as tf

from gpt_keras.tokenization import unicode_tables as kinds
from gpt_keras.tokenization.in_graph_packing import row_starts, shifted

_MARKER = b"\xff"


def literal_alternation(tokens):
    """An RE2 pattern matching any of ``tokens`` (literally, the first listed winning at a position, as
    Python's ``re`` alternation does); None for no tokens."""
    if not tokens:
        return None
    return "(" + "|".join("".join(f"\\x{{{ord(char):x}}}" for char in token) for token in tokens) + ")"


def check_utf8(texts, input_name):
    """``texts`` once every element is valid UTF-8; else InvalidArgumentError naming the first bad one."""
    # Only the texts that are not plain ASCII need the (slower) check by transcoding.
    ascii = tf.strings.regex_full_match(texts, "[\\x00-\\x7f]*")
    others = tf.where(~ascii)[:, 0]
    subset = tf.gather(texts, others)
    bad = tf.where(tf.strings.unicode_transcode(subset, "UTF-8", "UTF-8", errors="replace") != subset)[:, 0]
    message = tf.strings.format(f"{input_name}[{{}}] is not valid UTF-8 text", tf.reduce_min(tf.gather(others, bad)))
    with tf.control_dependencies([tf.debugging.Assert(tf.size(bad) == 0, [message])]):
        return tf.identity(texts)


def split_at_tokens(texts, pattern):
    """Cuts each text at the matches of ``pattern``: [batch, pieces] strings, matches at odd positions."""
    if pattern is None:
        return tf.RaggedTensor.from_tensor(texts[:, None])
    return tf.strings.split(tf.strings.regex_replace(texts, pattern, _MARKER + b"\\1" + _MARKER), sep=_MARKER)


def odd_positions(pieces):
    """[pieces] bool: which flat pieces of ``split_at_tokens`` are token matches."""
    starts = tf.gather(pieces.row_starts(), pieces.value_rowids())
    return (tf.range(tf.size(pieces.flat_values, out_type=tf.int64)) - starts) % 2 == 1


class WordSplitter(tf.Module):
    """The tables of ``unicode_tables`` as tensors, and the steps above over them.

    Args:
        protected: the tokens lower-casing leaves alone, in the Python tokenizer's order.
        never_split: the never-split tokens, longest first (the Python tokenizer's alternation order).
    """

    def __init__(self, protected, never_split):
        super().__init__(name="word_splitter")
        tables = kinds.character_tables()
        # Lower-casing the whole text equals lower-casing around the protected tokens when it leaves them
        # as they are (as it does GPT's): then one regex pass finds the never-split tokens.
        lowered = [token for token in protected if _lower_each(token, tables) != token]
        self._protected = literal_alternation(protected) if lowered else None
        self._never_split = literal_alternation(never_split)
        self._kinds = tf.constant(tables.kinds)
        self._lower = _int_table(tables.lower, -1)
        self._lower_strings = sorted(tables.lower_strings.items())
        self._mark_classes = _int_table(tables.mark_classes, 0)
        ranges = functools.partial(kinds.code_point_ranges, tables.kinds)
        self._complex = "(?s).*" + _class(ranges((kinds.EXPAND, kinds.MARK))) + ".*"
        self._deleted = _class(ranges((kinds.DELETE, kinds.GONE_STARTER)))
        self._spaces = _class([(first, last) for first, last in ranges((kinds.SPACE,)) if first > 0x7F])
        self._isolated = _class(ranges((kinds.ISOLATED,)))
        changed = sorted(code for code in [*tables.lower, *tables.lower_strings] if code > 0x7F)
        self._changed_by_lower = "(?s).*" + _class([(code, code) for code in changed]) + ".*"
        # The expansions, flat: entry i is values[splits[i]:splits[i + 1]].
        codes = sorted(tables.expansions)
        self._expansion_index = _int_table({code: i for i, code in enumerate(codes)}, 0)
        entries = [tables.expansions[code] for code in codes]
        self._expansion_lengths = tf.constant([len(entry) for entry in entries], tf.int64)
        self._expansion_starts = tf.cumsum(self._expansion_lengths, exclusive=True)
        self._expansion_codes = tf.constant([e[0] for entry in entries for e in entry], tf.int32)
        self._expansion_kinds = tf.constant([e[1] for entry in entries for e in entry], tf.uint8)

    def pieces(self, texts):
        """Steps 2 and 3 on valid UTF-8 ``texts`` [batch]: [batch, pieces] strings of the lower-cased text,
        never-split tokens at odd positions."""
        if self._protected is not None:
            protected = split_at_tokens(texts, self._protected)
            flat = protected.flat_values
            lowered = tf.where(odd_positions(protected), flat, self._lower_case(flat))
            texts = tf.strings.reduce_join(protected.with_flat_values(lowered), axis=1)
        else:
            texts = self._lower_case(texts)
        return split_at_tokens(texts, self._never_split)

    def _lower_case(self, strings):
        """The reference's lower-casing: bytes A-Z at once, then the other characters by table."""
        strings = tf.strings.lower(strings)
        changed = tf.where(tf.strings.regex_full_match(strings, self._changed_by_lower))[:, 0]
        subset = tf.gather(strings, changed)
        for code, lowered in self._lower_strings:
            subset = tf.strings.regex_replace(subset, f"\\x{{{code:x}}}", lowered)
        codes = tf.strings.unicode_decode(subset, "UTF-8")
        values = tf.cast(codes.flat_values, tf.int64)
        mapped = self._lower.lookup(values)
        codes = codes.with_flat_values(tf.cast(tf.where(mapped >= 0, mapped, values), tf.int32))
        encoded = tf.strings.unicode_encode(codes, "UTF-8")
        return tf.tensor_scatter_nd_update(strings, changed[:, None], encoded)

    def words(self, pieces):
        """Step 4 on lower-cased pieces [pieces]: their words, [pieces, words] strings.

        Pieces without a character that decomposes or reorders take three regex passes and one split;
        the others go code point by code point (``_code_point_words``).
        """
        simple = ~tf.strings.regex_full_match(pieces, self._complex)
        return tf.cond(
            tf.reduce_all(simple),
            lambda: self._simple_words(pieces),
            lambda: _merge_rows(simple, self._simple_words, self._code_point_words, pieces),
        )

    def _simple_words(self, pieces):
        """The words of pieces whose characters are each deleted, a space, a letter or set apart."""
        pieces = tf.strings.regex_replace(pieces, self._deleted, "")
        pieces = tf.strings.regex_replace(pieces, self._spaces, " ")
        return tf.strings.split(tf.strings.regex_replace(pieces, self._isolated, " \\0 "))

    def _code_point_words(self, pieces):
        """The words of any pieces, from the tables: expanded, marks reordered as NFD orders them."""
        codes = tf.strings.unicode_decode(pieces, "UTF-8")
        values, rows = codes.flat_values, codes.value_rowids()
        values, kind, rows = self._expand(values, tf.gather(self._kinds, values), rows)
        first = row_starts(rows)
        values, kind = tf.cond(
            tf.reduce_any(kind == kinds.MARK), lambda: self._reorder_marks(values, kind, first), lambda: (values, kind)
        )
        kept = kind != kinds.GONE_STARTER
        values, kind, rows = values[kept], kind[kept], rows[kept]
        wordy = (kind == kinds.LETTER) | (kind == kinds.MARK)
        after_wordy = shifted(wordy, False) & ~row_starts(rows)
        starts = (kind == kinds.ISOLATED) | (wordy & ~after_wordy)
        word_index = tf.cumsum(tf.cast(starts, tf.int64)) - 1
        in_word = kind != kinds.SPACE
        count = tf.reduce_sum(tf.cast(starts, tf.int64))
        words = tf.RaggedTensor.from_value_rowids(values[in_word], word_index[in_word], count, validate=False)
        strings = tf.strings.unicode_encode(words, "UTF-8")
        return tf.RaggedTensor.from_value_rowids(strings, rows[starts], codes.nrows(), validate=False)

    def _expand(self, values, kind, rows):
        """Replaces each character by what the tables make of it (nothing, itself or its expansion)."""
        expands = kind == kinds.EXPAND
        index = tf.where(expands, self._expansion_index.lookup(tf.cast(values, tf.int64)), 0)
        lengths = tf.where(expands, tf.gather(self._expansion_lengths, index), tf.cast(kind != kinds.DELETE, tf.int64))
        source = tf.repeat(tf.range(tf.size(values, out_type=tf.int64)), lengths)
        offset = tf.range(tf.size(source, out_type=tf.int64)) - tf.gather(tf.cumsum(lengths, exclusive=True), source)
        entry = tf.gather(self._expansion_starts, tf.gather(index, source)) + offset
        from_table = tf.gather(expands, source)
        values = tf.where(from_table, tf.gather(self._expansion_codes, entry), tf.gather(values, source))
        kind = tf.where(from_table, tf.gather(self._expansion_kinds, entry), tf.gather(kind, source))
        return values, kind, tf.gather(rows, source)

    def _reorder_marks(self, values, kind, first):
        """NFD's canonical ordering: the marks after each starter, stably sorted by combining class."""
        combining = tf.where(kind == kinds.MARK, self._mark_classes.lookup(tf.cast(values, tf.int64)), 0)
        segment = tf.cumsum(tf.cast((combining == 0) | first, tf.int64))
        order = tf.argsort(segment * 256 + combining, stable=True)
        return tf.gather(values, order), tf.gather(kind, order)


def _lower_each(text, tables):
    """``text`` lower-cased by the tables, as the reference lower-cases it (one character at a time)."""
    return "".join(tables.lower_strings.get(ord(char)) or chr(tables.lower.get(ord(char), ord(char))) for char in text)


def _merge_rows(chosen, first_fn, second_fn, values):
    """``first_fn`` of the ``chosen`` rows of ``values`` and ``second_fn`` of the others, back in order."""
    first_rows, second_rows = tf.where(chosen)[:, 0], tf.where(~chosen)[:, 0]
    results = tf.concat([first_fn(tf.gather(values, first_rows)), second_fn(tf.gather(values, second_rows))], 0)
    return tf.gather(results, tf.math.invert_permutation(tf.concat([first_rows, second_rows], 0)))


def _class(ranges):
    """An RE2 character class of code point ranges."""
    return "[" + "".join(f"\\x{{{first:x}}}-\\x{{{last:x}}}" for first, last in ranges) + "]"


def _int_table(mapping, default):
    """A static int64 -> int64 hash table of ``mapping`` (a dict of ints)."""
    keys = tf.constant(list(mapping) or [-1], tf.int64)
    values = tf.constant(list(mapping.values()) or [default], tf.int64)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default)
