"""Token ids back to text in TensorFlow ops, as ``OpenAIGPTTokenizer.decode`` writes it (``decoding``).

Runs of BPE tokens are joined, ``</w>`` becomes a space and the ends are stripped of whitespace (Python's
whitespace, listed: RE2's ``\\s`` is ASCII only); tokens added with ``add_tokens`` (and additional special
tokens after the vocabulary) stand alone; the pieces are joined by single spaces; the clean-up of spaces
before punctuation, when asked, is ``clean_up_tokenization``'s replacements in its order.
"""
import tensorflow as tf

from gpt_keras.tokenization.bpe import END_OF_WORD
from gpt_keras.tokenization.decoding import CLEAN_UP_REPLACEMENTS
from gpt_keras.tokenization.in_graph_packing import row_starts, shifted
from gpt_keras.tokenization.in_graph_words import literal_alternation
from gpt_keras.tokenization.unicode_tables import character_tables


class GraphDecoder(tf.Module):
    """The id -> token tables of a tokenizer, and ``decode`` over them.

    Args:
        id_to_token: every id's token, as ``convert_ids_to_tokens`` maps it.
        unk_token: the token of the other ids ("" when the tokenizer has none).
        special_ids: the ids ``skip_special_tokens`` drops.
        special_tokens: the tokens ``skip_special_tokens`` drops (after the ids, as ``decode`` does).
        set_apart: the tokens that stand alone.
    """

    def __init__(self, id_to_token, unk_token, special_ids, special_tokens, set_apart):
        super().__init__(name="graph_decoder")
        ids = tf.constant(list(id_to_token), tf.int64)
        self._tokens = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(ids, tf.constant(list(id_to_token.values()))), unk_token or ""
        )
        self._special = _flags(tf.constant(list(special_ids) or [-1], tf.int64))
        self._special_tokens = _flags(tf.constant(list(special_tokens) or [""]))
        self._set_apart = _flags(tf.constant(list(set_apart) or [""]))
        whitespace = "".join(f"\\x{{{code:x}}}" for code in character_tables().whitespace)
        self._strip = f"^[{whitespace}]+|[{whitespace}]+$"

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        """The texts of ``ids`` ([batch, None] ints, ragged): a [batch] string tensor."""
        values = tf.cast(ids.flat_values, tf.int64)
        rows = ids.value_rowids()
        if skip_special_tokens:
            kept = self._special.lookup(values) == 0
            values, rows = values[kept], rows[kept]
        tokens = self._tokens.lookup(values)
        if skip_special_tokens:
            kept = self._special_tokens.lookup(tokens) == 0
            tokens, rows = tokens[kept], rows[kept]
        apart = self._set_apart.lookup(tokens) > 0
        starts = apart | shifted(apart, False) | row_starts(rows)
        run = tf.cumsum(tf.cast(starts, tf.int64)) - 1
        count = tf.reduce_sum(tf.cast(starts, tf.int64))
        texts = tf.strings.unsorted_segment_join(tokens, run, count)
        run_apart, run_rows = apart[starts], rows[starts]
        joined = tf.strings.regex_replace(tf.strings.regex_replace(texts, END_OF_WORD, " "), self._strip, "")
        texts = tf.where(run_apart, texts, joined)
        # As `tokens_to_text`: an empty run is dropped, except the last of a text when it holds tokens.
        last = run_rows != tf.concat([run_rows, [-1]], 0)[1:]
        kept = run_apart | (texts != "") | last
        per_text = tf.RaggedTensor.from_value_rowids(texts[kept], run_rows[kept], ids.nrows(), validate=False)
        texts = tf.strings.reduce_join(per_text, axis=1, separator=" ")
        if clean_up_tokenization_spaces:
            for spaced, joined in CLEAN_UP_REPLACEMENTS:
                texts = tf.strings.regex_replace(texts, literal_alternation([spaced]), joined)
        return texts


def _flags(keys):
    """A static hash table that gives 1 for ``keys`` and 0 for anything else."""
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, tf.ones_like(keys, tf.int64)), 0)
