"""The original OpenAI GPT tokenizer in pure Python: the reference's ``OpenAIGPTTokenizer``, faster.

One tokenizer serves every model class, the data pipelines, generation and the CLI::

    tokenizer = OpenAIGPTTokenizer.from_pretrained("openai-gpt-vocab/")
    tokenizer.add_paper_special_tokens()          # _start_, _delimiter_, _classify_, <pad>
    batch = tokenizer(["Hello, world!", "Hi"], padding=True, return_tensors="np")

Its output is identical to the reference's (transformers' slow ``OpenAIGPTTokenizer``) in both of its
modes. The speed comes from caching: a pre-tokenizer splits a text into whitespace-separated words, and
each distinct word is pre-tokenized and BPE-encoded once (see ``encoding.py`` and ``pre_tokenizers.py``).

This class is the façade with the reference's names; the work is done in ``encoding`` (text to ids),
``special_tokens`` (the never-split tokens), ``packing`` (padding, truncation, multiple choice),
``files`` (loading and saving) and ``streaming`` (incremental decoding).
"""
import logging

from gpt_keras.tokenization import decoding, files, packing
from gpt_keras.tokenization.bpe import BPE, read_merges, read_vocab
from gpt_keras.tokenization.encoding import TextEncoder
from gpt_keras.tokenization.inputs import check_text, check_texts, to_id_list
from gpt_keras.tokenization.pre_tokenizers import resolve_pre_tokenizer
from gpt_keras.tokenization.special_tokens import SpecialTokens, SpecialTokensMixin
from gpt_keras.tokenization.streaming import IncrementalDecoder

# The name this logger had when the tokenizer was one module, so that logging set-ups keep working.
logger = logging.getLogger("gpt_keras.tokenizer")


# Longer than ~250 lines because it is the reference's public surface: some 30 methods and properties
# (the special-token ones come from SpecialTokensMixin), each a docstring over a few lines that call
# encoding, special_tokens, packing, files and decoding. Splitting it further would split one known API.
class OpenAIGPTTokenizer(SpecialTokensMixin):
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
        self._text_encoder = TextEncoder(self._bpe, self._pre_tokenizer, max_cache_size)
        self.model_max_length = int(model_max_length)
        self._specials = SpecialTokens(self.encoder, added_tokens)
        named = {"unk_token": unk_token, "bos_token": bos_token, "eos_token": eos_token, "sep_token": sep_token}
        named.update(pad_token=pad_token, cls_token=cls_token, mask_token=mask_token)
        for name, token in named.items():
            if token is not None or name == "unk_token":
                self._specials.set_named(name, token)
        self._clear_caches()
        if additional_special_tokens:
            self.add_special_tokens({"additional_special_tokens": list(additional_special_tokens)})

    def _clear_caches(self):
        """Takes in a change of the never-split tokens: new lookups, empty word caches."""
        self._token_to_id = {**self.encoder, **self._specials.ids}
        self._unk_id = self._token_to_id.get(self._specials.named.get("unk_token"))
        self._text_encoder.reset(self._token_to_id, self._unk_id, self._specials.ids, self._specials.protected())

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
        """Loads a tokenizer directory: this package's and the reference's layout (``vocab.json``,
        ``merges.txt``, optional ``tokenizer_config.json``) or the original release's
        (``encoder_bpe_40000.json``, ``vocab_40000.bpe``).

        Args:
            directory: the directory.
            **kwargs: override the constructor arguments (e.g. ``pre_tokenizer``).

        Returns:
            An ``OpenAIGPTTokenizer``.
        """
        vocab_path, merges_path, arguments = files.read_directory(directory)
        return cls(vocab_path, merges_path, **{**arguments, **kwargs})

    def save_vocabulary(self, directory, filename_prefix=None):
        """Writes ``vocab.json`` and ``merges.txt`` (prefixed with ``filename_prefix-`` if given) into an
        existing ``directory``; returns the two paths."""
        return files.save_vocabulary(directory, self.encoder, self._bpe.merges, filename_prefix)

    def save_pretrained(self, directory):
        """Writes ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` (mode, special and added
        tokens, in a layout the reference can read too) into ``directory`` (created if needed). The old
        files are replaced only once all three are written whole.

        Returns:
            tuple of the written paths.
        """
        config = {"tokenizer_class": "OpenAIGPTTokenizer", "pre_tokenizer": self.pre_tokenizer}
        config.update(model_max_length=self.model_max_length, **self._specials.to_config())
        return files.save_pretrained(directory, self.encoder, self._bpe.merges, config)

    # === Vocabulary ===

    @property
    def pre_tokenizer(self):
        """The resolved pre-tokenizer mode: "spacy_ftfy" or "basic"."""
        return self._pre_tokenizer.name

    @property
    def max_cache_size(self):
        """How many distinct words the word cache holds before it is emptied."""
        return self._text_encoder.max_cache_size

    @max_cache_size.setter
    def max_cache_size(self, size):
        self._text_encoder.max_cache_size = int(size)

    @property
    def vocab_size(self):
        """Size of the base vocabulary (without tokens added after it)."""
        return len(self.encoder)

    def __len__(self):
        """Number of distinct ids, added tokens included: the rows the model's token embedding needs."""
        return max(self._specials.next_id(), len(self.encoder))

    def get_vocab(self):
        """Returns the full token -> id mapping, added tokens included."""
        return {**self.encoder, **self._specials.ids}

    # === Tokenizing ===

    def tokenize(self, text):
        """Splits ``text`` (a str) into BPE tokens (word-final ones end with ``</w>``); special and added
        tokens are kept whole. Returns a list of str."""
        check_text(text, "text")
        return self._text_encoder.encode(text)[0]

    def convert_tokens_to_ids(self, tokens):
        """Maps a token (str) to an id, or a list of tokens to a list of ids; unknown tokens to the unk id."""
        if isinstance(tokens, str):
            return self._token_to_id.get(tokens, self._unk_id)
        tokens, _ = check_texts(tokens, "tokens")
        return [self._token_to_id.get(token, self._unk_id) for token in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Maps an id to a token, or a sequence of ids (numpy arrays and tensors too) to a list of tokens;
        ids outside the vocabulary to the unk token. ``skip_special_tokens`` drops special tokens' ids."""
        single = isinstance(ids, int) and not isinstance(ids, bool)
        ids = to_id_list(ids, "ids")
        special_ids = set(self.all_special_ids) if skip_special_tokens else ()
        beyond, unk = self._specials.beyond_vocab, self.unk_token
        tokens = [beyond.get(index) or self.decoder.get(index, unk) for index in ids if index not in special_ids]
        return tokens[0] if single and tokens else tokens

    def convert_tokens_to_string(self, tokens):
        """Joins BPE tokens (a list of str) into text: ``</w>`` becomes a space, ends are stripped."""
        return decoding.tokens_to_string(tokens)

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
        check_text(text, "text")
        if text_pair is not None:
            check_text(text_pair, "text_pair")
        return self._encode_row(text, text_pair, truncation, max_length or self.model_max_length)

    def _encode_row(self, text, text_pair, truncation, max_length):
        ids = self._text_encoder.encode(text)[1]
        pair_ids = None if text_pair is None else self._text_encoder.encode(text_pair)[1]
        if truncation:
            ids, pair_ids = packing.truncate_pair(ids, pair_ids, max_length)
        return ids + (pair_ids or [])

    # === Decoding ===

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        """Text of ``token_ids`` (an int or a sequence of int, numpy arrays and tensors too), as the
        reference decodes it: word-final ``</w>`` become spaces; special tokens are kept (or skipped) in
        place; tokens added with ``add_tokens`` are set off by spaces; ids outside the vocabulary decode as
        the unk token. ``clean_up_tokenization_spaces`` removes spaces before punctuation and contractions.
        """
        tokens = self.convert_ids_to_tokens(to_id_list(token_ids), skip_special_tokens=skip_special_tokens)
        text = decoding.tokens_to_text(tokens, self._specials.set_apart())
        return decoding.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        """``decode`` of each row of ``sequences`` (a list of id lists, a 2-D array or tensor); a list of str."""
        if hasattr(sequences, "numpy"):
            sequences = sequences.numpy()
        if getattr(sequences, "ndim", 2) != 2:
            raise ValueError(f"sequences must be 2-D (one row of ids per text), got shape {sequences.shape}")
        return [self.decode(row, skip_special_tokens, clean_up_tokenization_spaces) for row in sequences]

    clean_up_tokenization = staticmethod(decoding.clean_up_tokenization)

    def decode_stream(self, skip_special_tokens=False):
        """An ``IncrementalDecoder`` for generation: feed ids as they come, get the new text."""
        return IncrementalDecoder(self, skip_special_tokens=skip_special_tokens)

    # === Batches ===

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
        texts, batched = check_texts(text, "text")
        pairs = [None] * len(texts)
        if text_pair is not None:
            pairs, pair_batched = check_texts(text_pair, "text_pair")
            if pair_batched != batched or len(pairs) != len(texts):
                raise ValueError(f"text_pair must match text: got {len(pairs)} pair(s) for {len(texts)} text(s)")
        packing.check_batch_options(padding, padding_side, return_tensors)
        limit = self.model_max_length if max_length is None else int(max_length)
        rows = [self._encode_row(item, pair, truncation, limit) for item, pair in zip(texts, pairs)]
        return packing.batch(
            rows, padding, limit, self.pad_token_id, padding_side, return_attention_mask, return_tensors, batched
        )

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
        markers = self._specials.paper_marker_ids()
        contexts, endings, batched = packing.multiple_choice_inputs(context, endings, context_truncation_side)
        encode = self._text_encoder.encode
        examples = []
        for text, choices in zip(contexts, endings):
            context_ids = encode(text)[1]
            examples.append([
                packing.multiple_choice_row(context_ids, encode(ending)[1], markers, max_length, context_truncation_side)
                for ending in choices
            ])  # fmt: skip
        output = packing.multiple_choice_batch(examples, self.pad_token_id or 0, return_tensors)
        return output if batched else {key: value[0] for key, value in output.items()}
