"""Byte-pair encoding of a batch of words in TensorFlow ops: ``BPE.encode_word`` on every word at once.

A symbol is its token id (one past the largest id for a character outside the vocabulary, which no
merge holds). One step of a ``tf.while_loop`` finds, in every word still merging, its adjacent pair of
lowest merge rank (one table lookup of all pairs of the batch) and merges every occurrence of that
pair, left to right without overlaps, as ``bpe.merge_pair`` does; a word without a ranked pair leaves
the loop, so each step works on the words that still merge only.

The Python tokenizer caches each word it has seen; a graph cannot keep such a cache, so the words that
BPE makes one token (32,581 of the released vocabulary's 40,478 tokens: most of the words of English
prose) are one lookup in a table computed at construction, and only the others enter the loop.
"""
import tensorflow as tf

from gpt_keras.tokenization.bpe import BPE, END_OF_WORD

# A pair's table value packs its rank (high 32 bits) and the id of the merged symbol (low 32 bits).
_NO_PAIR = 2**63 - 1
_NO_RANK = _NO_PAIR >> 32


def whole_words(token_to_id, merges):
    """{word: id} of the words that BPE encodes into one token ``word</w>`` (checked with ``BPE``)."""
    bpe = BPE(merges)
    words = {}
    for token, index in token_to_id.items():
        word = token[: -len(END_OF_WORD)]
        if token.endswith(END_OF_WORD) and word and bpe.encode_word(word) == [token]:
            words[word] = index
    return words


class GraphBPE(tf.Module):
    """The merge loop over token ids.

    Args:
        token_to_id: every token's id (special and added tokens included), as the Python tokenizer maps
            BPE symbols to ids.
        merges: the merge pairs ``(first, second)`` in rank order (a repeated pair keeps its last rank).
        unk_id: the id of a symbol outside the vocabulary.
    """

    def __init__(self, token_to_id, merges, unk_id):
        super().__init__(name="graph_bpe")
        self._unk_id = int(unk_id)
        # Ids run below `_unknown`, the id of symbols outside the vocabulary, which no merge holds.
        self._unknown = max(token_to_id.values()) + 1
        # The first symbols of a word: its characters, the last one with </w> (key: 2 * code point + 1).
        symbols = {}
        for token, index in token_to_id.items():
            if len(token) == 1:
                symbols[2 * ord(token)] = index
            elif len(token) == 1 + len(END_OF_WORD) and token.endswith(END_OF_WORD):
                symbols[2 * ord(token[0]) + 1] = index
        self._symbols = _table(symbols, tf.int64, self._unknown)
        pairs = {}
        for rank, (first, second) in enumerate(merges):
            key = token_to_id[first] * (self._unknown + 1) + token_to_id[second]
            pairs[key] = (rank << 32) | token_to_id[first + second]
        self._pairs = _table(pairs, tf.int64, _NO_PAIR)
        self._whole_words = _table(whole_words(token_to_id, merges), tf.string, -1)

    def encode(self, words):
        """The token ids of ``words`` ([words] strings): [words, tokens] int64."""
        whole = self._whole_words.lookup(words)
        rest = tf.where(whole < 0)[:, 0]
        symbols, rows = self._merge(tf.strings.unicode_decode(tf.gather(words, rest), "UTF-8"))
        # Every word's ids in one flat tensor: a whole word's id, or the loop's symbols at its rows.
        counts = tf.math.unsorted_segment_sum(tf.ones_like(rows), rows, tf.size(rest, out_type=tf.int64))
        lengths = tf.tensor_scatter_nd_update(tf.ones_like(whole), rest[:, None], counts)
        splits = tf.concat([[0], tf.cumsum(lengths)], 0)
        offsets = tf.range(tf.size(rows, out_type=tf.int64)) - tf.gather(tf.cumsum(counts, exclusive=True), rows)
        found = tf.where(whole >= 0)[:, 0]
        positions = tf.concat([tf.gather(splits, found), tf.gather(splits, tf.gather(rest, rows)) + offsets], 0)
        ids = tf.scatter_nd(positions[:, None], tf.concat([tf.gather(whole, found), symbols], 0), splits[-1:])
        ids = tf.where(ids == self._unknown, tf.cast(self._unk_id, tf.int64), ids)
        return tf.RaggedTensor.from_row_splits(ids, splits, validate=False)

    def _merge(self, words):
        """Runs the merges on ``words``; returns (symbols, rows): flat, grouped by row, in order."""
        codes = tf.cast(words.flat_values, tf.int64)
        rows = words.value_rowids()
        last = tf.range(tf.size(codes, out_type=tf.int64)) == tf.gather(words.row_limits() - 1, rows)
        symbols = self._symbols.lookup(2 * codes + tf.cast(last, tf.int64))
        count = words.nrows()
        done = [tf.TensorArray(tf.int64, 1, dynamic_size=True, infer_shape=False).write(0, tf.zeros([0], tf.int64)) for _ in range(2)]

        def step(index, symbols, rows, done_symbols, done_rows):
            symbols, rows, merging = self._merge_once(symbols, rows, count)
            finished = tf.cast(~tf.gather(merging, rows), tf.int32)
            symbols, done = tf.dynamic_partition(symbols, finished, 2)
            rows, done_at = tf.dynamic_partition(rows, finished, 2)
            return index + 1, symbols, rows, done_symbols.write(index, done), done_rows.write(index, done_at)

        _, _, _, done_symbols, done_rows = tf.while_loop(
            lambda index, symbols, *_: tf.size(symbols) > 0,
            step,
            (tf.constant(1), symbols, rows, *done),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None]), tf.TensorShape([None]), None, None),
        )
        symbols, rows = done_symbols.concat(), done_rows.concat()
        # Each word left the loop whole, in order: sorting by row (stably) regroups them.
        order = tf.argsort(rows, stable=True)
        return tf.gather(symbols, order), tf.gather(rows, order)

    def _merge_once(self, symbols, rows, count):
        """One merge step; returns the new (symbols, rows) and, per word, whether it had a pair to merge."""
        pair_rows = rows[:-1]
        keys = symbols[:-1] * (self._unknown + 1) + symbols[1:]
        packed = self._pairs.lookup(tf.where(pair_rows == rows[1:], keys, -1))
        rank = tf.bitwise.right_shift(packed, 32)
        best_rank = tf.math.unsorted_segment_min(rank, pair_rows, count)
        best = (rank == tf.gather(best_rank, pair_rows)) & (rank < _NO_RANK)
        # Only a pair (x, x) can follow itself; then merge_pair's left-to-right order decides.
        chosen = tf.cond(tf.reduce_any(best[1:] & best[:-1]), lambda: best & _every_other(best), lambda: best)
        merged = tf.where(chosen, tf.bitwise.bitwise_and(packed, 0xFFFFFFFF), symbols[:-1])
        kept = tf.concat([[True], ~chosen], 0)
        return tf.concat([merged, symbols[-1:]], 0)[kept], rows[kept], best_rank < _NO_RANK


def _every_other(flags):
    """True at the 1st, 3rd, ... element of each run of consecutive True ``flags``: where a pair (x, x)
    repeats, ``merge_pair`` merges left to right without overlaps."""
    ones = tf.cast(flags, tf.int64)
    before = tf.cumsum(ones, exclusive=True)
    run = tf.cumsum(1 - ones)
    run_start = tf.math.unsorted_segment_min(before, run, tf.size(flags, out_type=tf.int64) + 1)
    return (before - tf.gather(run_start, run)) % 2 == 0


def _table(mapping, key_dtype, default):
    """A static hash table ``mapping`` (keys of ``key_dtype``) -> int64."""
    keys = tf.constant(list(mapping) or ([""] if key_dtype == tf.string else [-1]), key_dtype)
    values = tf.constant(list(mapping.values()) or [default], tf.int64)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default)
