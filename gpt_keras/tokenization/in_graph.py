"""``OpenAIGPTTokenizerLayer``: the basic-mode ``OpenAIGPTTokenizer`` as a Keras layer of core TensorFlow
ops (``tf.strings``, ``tf.lookup`` tables, ``tf.while_loop``): no tensorflow-text, no ``tf.py_function``,
so a SavedModel that holds it runs in any ``tensorflow_model_server`` and any ``tf.saved_model.load``.

It gives the ids of ``OpenAIGPTTokenizer(pre_tokenizer="basic")`` for every text::

    layer = OpenAIGPTTokenizerLayer(OpenAIGPTTokenizer.from_pretrained("openai-gpt/", pre_tokenizer="basic"))
    layer.tokenize(tf.constant(["Hello, world!"]))      # <tf.RaggedTensor [[3570, 240, 1276, 267]]>
    dataset.map(layer, num_parallel_calls=tf.data.AUTOTUNE)   # {"input_ids", "attention_mask"}

The work is done in ``in_graph_words`` (texts to words, with ``unicode_tables``), ``in_graph_bpe`` (words
to ids), ``in_graph_packing`` (truncation, padding, multiple choice) and ``in_graph_decoding`` (ids to text).
"""
import os

import keras
import tensorflow as tf

from gpt_keras.tokenization import in_graph_packing as packing
from gpt_keras.tokenization.in_graph_bpe import GraphBPE
from gpt_keras.tokenization.in_graph_decoding import GraphDecoder
from gpt_keras.tokenization.in_graph_words import WordSplitter, check_utf8, odd_positions
from gpt_keras.tokenization.special_tokens import PAPER_SPECIAL_TOKENS


class TokenizerData:
    """What the layer is built from: an ``OpenAIGPTTokenizer``'s ``encoding_tables()`` (JSON-serializable).

    Args:
        vocabulary: token -> id of the base vocabulary.
        merges: the merges in rank order, as "first second" strings.
        never_split: ``[token, id]`` of the added tokens (special or not), in the tokenizer's order.
        protected: the tokens that lower-casing leaves as they are, in the tokenizer's order.
        special_tokens: the special tokens (``all_special_tokens``).
        set_apart: the tokens that ``decode`` sets off by spaces.
        named_tokens: ``{"unk_token": "<unk>", ...}`` of the named special tokens that are set.
        clean_up_tokenization_spaces: ``decode``'s default for removing spaces before punctuation.
    """

    FIELDS = (
        "vocabulary", "merges", "never_split", "protected", "special_tokens", "set_apart", "named_tokens",
        "clean_up_tokenization_spaces",
    )  # fmt: skip

    def __init__(
        self, vocabulary, merges, never_split, protected, special_tokens, set_apart, named_tokens,
        clean_up_tokenization_spaces=False,
    ):  # fmt: skip
        self.vocabulary, self.merges, self.never_split = dict(vocabulary), list(merges), [list(t) for t in never_split]
        self.protected, self.special_tokens, self.set_apart = list(protected), list(special_tokens), list(set_apart)
        self.named_tokens = dict(named_tokens)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.token_to_id = {**self.vocabulary, **dict(self.never_split)}
        # As the tokenizer: symbols outside the vocabulary (and unknown named tokens) take the unk token's
        # id in the base vocabulary.
        self.unk_id = self.vocabulary.get(self.named_tokens.get("unk_token"))
        if self.unk_id is None:
            raise ValueError(
                "the in-graph tokenizer needs an unk token in the vocabulary (for symbols outside it); "
                f"got unk_token={self.named_tokens.get('unk_token')!r}"
            )

    @classmethod
    def of(cls, tokenizer):
        """The data of ``tokenizer``: an ``OpenAIGPTTokenizer`` in basic mode, a tokenizer directory (loaded
        in basic mode), a ``TokenizerData``, or its ``to_config()`` dict.

        Raises:
            ValueError: for a tokenizer whose ids the layer would not reproduce: not in basic mode,
                ``split_special_tokens=True``, or an added token with ``lstrip``, ``rstrip`` or ``single_word``.
        """
        if isinstance(tokenizer, cls):
            return tokenizer
        if isinstance(tokenizer, dict):
            return cls(**tokenizer)
        if isinstance(tokenizer, (str, os.PathLike)):
            from gpt_keras.tokenization.tokenizer import OpenAIGPTTokenizer

            tokenizer = OpenAIGPTTokenizer.from_pretrained(tokenizer, pre_tokenizer="basic")
        _check_reproducible(tokenizer)
        return cls(**tokenizer.encoding_tables())

    def to_config(self):
        """The fields as a dict (the layer's ``get_config()["tokenizer"]``)."""
        return {name: getattr(self, name) for name in self.FIELDS}

    def named_id(self, name):
        """The id of the named special token ``name`` ("eos_token", ...), or None when it is not set (the
        unk id for a token named but not in the vocabulary, as ``convert_tokens_to_ids`` gives it)."""
        token = self.named_tokens.get(name)
        return None if token is None else self.token_to_id.get(token, self.unk_id)

    def special_ids(self):
        """The ids ``decode(skip_special_tokens=True)`` drops (``all_special_ids``)."""
        return sorted({self.token_to_id.get(token, self.unk_id) for token in self.special_tokens})

    def id_to_token(self):
        """Every id's token, as ``convert_ids_to_tokens`` maps it (added tokens over the vocabulary's)."""
        tokens = {index: token for token, index in self.vocabulary.items()}
        tokens.update({index: token for token, index in self.never_split})
        return tokens

    def __len__(self):
        """The number of ids, added tokens included (``len(tokenizer)``)."""
        return max(self.token_to_id.values()) + 1


def _check_reproducible(tokenizer):
    """Raises ValueError when the layer's core TF ops would not give ``tokenizer``'s ids (see ``of``)."""
    if getattr(tokenizer, "pre_tokenizer", None) != "basic":
        raise ValueError(
            "OpenAIGPTTokenizerLayer implements the basic pre-tokenizer (BERT's BasicTokenizer, no spaCy or "
            f"ftfy); got a tokenizer with pre_tokenizer={getattr(tokenizer, 'pre_tokenizer', None)!r}. Load it "
            "with OpenAIGPTTokenizer.from_pretrained(directory, pre_tokenizer='basic')"
        )
    if tokenizer.split_special_tokens:
        raise ValueError(
            "OpenAIGPTTokenizerLayer keeps added tokens whole; this tokenizer has split_special_tokens=True. "
            "Set tokenizer.split_special_tokens = False before making the layer"
        )
    for token in tokenizer.added_tokens_decoder.values():
        # The whitespace these flags eat around a match depends on the pieces next to it: not done here.
        for flag in ("lstrip", "rstrip", "single_word"):
            if getattr(token, flag):
                raise ValueError(
                    f"OpenAIGPTTokenizerLayer cannot reproduce the added token {token.content!r} with {flag}=True "
                    "(it would give other ids than the tokenizer); add it without that flag"
                )


@keras.saving.register_keras_serializable(package="gpt_keras")
class OpenAIGPTTokenizerLayer(keras.layers.Layer):
    """``OpenAIGPTTokenizer(pre_tokenizer="basic")`` in TensorFlow ops: identical ids, in graphs, in
    ``tf.data`` and in SavedModels.

    Calling the layer on a [batch] string tensor gives the model's inputs ``{"input_ids",
    "attention_mask"}`` (int32 [batch, seq]), padded to ``sequence_length`` (rows cut to it) or to the
    longest row. ``tokenize`` gives ragged ids, ``detokenize`` text, ``encode_multiple_choice`` the
    paper's layout.

    Args:
        tokenizer: an ``OpenAIGPTTokenizer`` in basic mode, a tokenizer directory (read in basic mode), or
            the ``tokenizer`` entry of ``get_config()``.
        sequence_length: the width of the layer's output; None pads to the longest row.
        padding_side: "right" or "left" (as the tokenizer's ``padding_side``).
        truncation_side: "right" keeps each row's first ``sequence_length`` ids, "left" its last ones.
        pad_token_id: the id of padding (masked); default the tokenizer's pad token, else 0.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ...).
    """

    def __init__(
        self, tokenizer, sequence_length=None, padding_side="right", truncation_side="right", pad_token_id=None, **kwargs
    ):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self._data = TokenizerData.of(tokenizer)
        data = self._data
        if sequence_length is not None and (int(sequence_length) != sequence_length or sequence_length < 1):
            raise ValueError(f"sequence_length must be None or an integer >= 1; got {sequence_length!r}")
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        self.padding_side = packing.check_side(padding_side, "padding_side")
        self.truncation_side = packing.check_side(truncation_side, "truncation_side")
        self.pad_token_id = data.named_id("pad_token") if pad_token_id is None else int(pad_token_id)
        self.pad_token_id = self.pad_token_id or 0
        never_split = sorted((token for token, _ in data.never_split), key=len, reverse=True)
        self._splitter = WordSplitter(data.protected, never_split)
        merges = [tuple(merge.split(" ")) for merge in data.merges]
        self._bpe = GraphBPE(data.token_to_id, merges, data.named_id("unk_token"))
        self._token_ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant([token for token, _ in data.never_split] or [""]),
                tf.constant([index for _, index in data.never_split] or [-1], tf.int64),
            ),
            -1,
        )
        self._decoder = GraphDecoder(
            data.id_to_token(), data.named_tokens["unk_token"], data.special_ids(), data.special_tokens, data.set_apart
        )
        self.built = True

    @property
    def vocabulary_size(self):
        """The number of ids, added tokens included (the rows the model's token embedding needs)."""
        return len(self._data)

    def token_id(self, name):
        """The id of the named special token ``name`` ("eos_token", "bos_token", ...), or None."""
        return self._data.named_id(name)

    def call(self, texts):
        """{"input_ids", "attention_mask"}: int32 [batch, seq] of [batch] string ``texts``."""
        ids = self.tokenize(texts)
        if self.sequence_length is not None:
            ids = packing.truncate(ids, self.sequence_length, self.truncation_side)
        input_ids, attention_mask = packing.pad(ids, self.pad_token_id, self.sequence_length, self.padding_side)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def tokenize(self, texts, input_name="texts"):
        """The ids of each text, as ``OpenAIGPTTokenizer.encode`` gives them.

        Args:
            texts: [batch] strings (a tensor, or a list of str).
            input_name: what an error calls ``texts`` (e.g. the name of a signature's input).

        Returns:
            int32 ``tf.RaggedTensor`` [batch, None].

        Raises:
            InvalidArgumentError: when run on an element that is not UTF-8 (naming it by index).
        """
        pieces, tokens = self._pieces(texts, input_name)
        words = self._splitter.words(tokens[1])  # [pieces, words]
        piece_ids = words.with_flat_values(self._bpe.encode(words.flat_values)).merge_dims(1, 2)
        return tf.cast(self._per_text(pieces, piece_ids, self._token_ids.lookup(tokens[0])), tf.int32)

    def pre_tokenize(self, texts, input_name="texts"):
        """The strings BPE encodes, and the never-split tokens, of each text: [batch, None] strings."""
        pieces, tokens = self._pieces(texts, input_name)
        return self._per_text(pieces, self._splitter.words(tokens[1]), tokens[0])

    def _pieces(self, texts, input_name):
        """The texts cut at never-split tokens, and per piece (its token or "", its text or "")."""
        texts = tf.convert_to_tensor(texts, tf.string)
        if texts.shape.rank != 1:
            raise ValueError(f"{input_name} must be a [batch] string tensor; got shape {texts.shape}")
        pieces = self._splitter.pieces(check_utf8(texts, input_name))
        flat, odd = pieces.flat_values, odd_positions(pieces)
        return pieces, (tf.where(odd, flat, ""), tf.where(odd, "", flat))

    @staticmethod
    def _per_text(pieces, piece_values, tokens):
        """Each text's values: per piece in order, its words' values or its never-split token."""
        odd = odd_positions(pieces)
        token_rows = tf.RaggedTensor.from_row_lengths(tokens[odd], tf.cast(odd, tf.int64), validate=False)
        per_piece = tf.concat([piece_values, tf.cast(token_rows, piece_values.dtype)], axis=1)
        return tf.RaggedTensor.from_row_splits(per_piece, pieces.row_splits, validate=False).merge_dims(1, 2)

    def detokenize(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """The text of each row of ``ids``, as ``OpenAIGPTTokenizer.decode`` writes it.

        Args:
            ids: [batch, None] ids: a ragged tensor, or a dense one (every entry is decoded).
            skip_special_tokens: drop the special tokens.
            clean_up_tokenization_spaces: remove spaces before punctuation and contractions; default the
                tokenizer's.

        Returns:
            [batch] strings.
        """
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids))
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self._data.clean_up_tokenization_spaces
        return self._decoder.decode(ids, skip_special_tokens, clean_up_tokenization_spaces)

    def encode_multiple_choice(self, contexts, endings, max_length=None, context_truncation_side="left"):
        """The paper's layout ``_start_ context _delimiter_ ending _classify_`` for each choice, as
        ``OpenAIGPTTokenizer.encode_multiple_choice`` makes it (right-padded to the longest row).

        Args:
            contexts: [batch] strings.
            endings: [batch, choices] strings.
            max_length: the longest row; longer rows lose context tokens (never ending tokens).
            context_truncation_side: "left" keeps the end of the context, "right" its start.

        Returns:
            dict with int32 ``input_ids``, ``attention_mask`` [batch, choices, seq] and ``mc_token_ids``
            [batch, choices].

        Raises:
            ValueError: the tokenizer lacks the paper's tokens (``add_paper_special_tokens()``).
        """
        added = dict(self._data.never_split)
        markers = [added.get(self._data.named_tokens.get(name)) for name in PAPER_SPECIAL_TOKENS]
        if None in markers:
            raise ValueError(
                "encode_multiple_choice needs the paper's tokens (_start_, _delimiter_, _classify_): call "
                "tokenizer.add_paper_special_tokens() before making the layer"
            )
        packing.check_side(context_truncation_side, "context_truncation_side")
        endings = tf.convert_to_tensor(endings, tf.string)
        ending_ids = self.tokenize(tf.reshape(endings, [-1]), "endings")
        ending_ids = tf.RaggedTensor.from_uniform_row_length(ending_ids, tf.shape(endings, out_type=tf.int64)[1])
        context_ids = self.tokenize(contexts, "contexts")
        return packing.multiple_choice(
            context_ids, ending_ids, markers, self.pad_token_id, max_length, context_truncation_side
        )

    def compute_output_spec(self, texts):
        spec = keras.KerasTensor((texts.shape[0], self.sequence_length), dtype="int32")
        return {"input_ids": spec, "attention_mask": keras.KerasTensor(spec.shape, dtype="int32")}

    def get_config(self):
        config = super().get_config()
        config.update(
            tokenizer=self._data.to_config(),
            sequence_length=self.sequence_length,
            padding_side=self.padding_side,
            truncation_side=self.truncation_side,
            pad_token_id=self.pad_token_id,
        )
        return config
