"""The original OpenAI GPT tokenizer in pure Python: the reference's ``OpenAIGPTTokenizer``, faster.

One tokenizer serves every model class, the data pipelines, generation and the CLI::

    tokenizer = OpenAIGPTTokenizer.from_pretrained("openai-community/openai-gpt")  # or a directory
    tokenizer.pad_token = tokenizer.unk_token                # pad with a token the model knows
    batch = tokenizer(["Hello, world!", "Hi"], padding=True, return_tensors="np")
    batch.input_ids, batch.attention_mask

Its output is identical to the reference's (transformers' slow ``OpenAIGPTTokenizer``) in both of its
modes, call for call. The speed comes from caching: a pre-tokenizer splits a text into whitespace-separated
words, and each distinct word is pre-tokenized and BPE-encoded once (see ``encoding.py``).

This class is the façade with the reference's names; the work is done in ``encoding`` (text to ids),
``special_tokens`` and ``added_tokens`` (the never-split tokens), ``model_inputs`` (the reference's
``__call__``/``encode_plus``/``pad`` calls, over ``truncation`` and ``packing``), ``files`` (loading and
saving), ``decoding`` and ``streaming`` (ids back to text).
"""
import logging

from gpt_keras.tokenization import decoding, files, packing
from gpt_keras.tokenization.bpe import BPE, read_merges, read_vocab
from gpt_keras.tokenization.chat import ChatTemplateMixin
from gpt_keras.tokenization.encoding import TextEncoder
from gpt_keras.tokenization.inputs import check_text, check_texts, to_id_list
from gpt_keras.tokenization.model_inputs import ModelInputsMixin
from gpt_keras.tokenization.pre_tokenizers import resolve_pre_tokenizer
from gpt_keras.tokenization.special_tokens import SPECIAL_TOKEN_ATTRIBUTES, SpecialTokens, SpecialTokensMixin
from gpt_keras.tokenization.streaming import IncrementalDecoder
from gpt_keras.tokenization.truncation import check_side

# The name this logger had when the tokenizer was one module, so that logging set-ups keep working.
logger = logging.getLogger("gpt_keras.tokenizer")


def _side_property(name, meaning):
    """A "right"/"left" attribute checked when set (as the reference checks it at construction)."""

    def get(self):
        return self.__dict__["_" + name]

    def set_side(self, side):
        check_side(side, name)
        self.__dict__["_" + name] = side

    return property(get, set_side, doc=f'{meaning}: "right" or "left".')


# Longer than ~250 lines because it is the reference's public surface: some 30 methods and properties
# beside those of SpecialTokensMixin, ModelInputsMixin and ChatTemplateMixin, each a docstring over a few lines that call
# encoding, special_tokens, files and decoding. Splitting it further would split one known API.
class OpenAIGPTTokenizer(ModelInputsMixin, SpecialTokensMixin, ChatTemplateMixin):
    """The original GPT's BPE tokenizer (40,478 symbols for the released model).

    Args:
        vocab_file: ``vocab.json`` (or the release's ``encoder_bpe_40000.json``): token -> id.
        merges_file: ``merges.txt`` (or the release's ``vocab_40000.bpe``): merges in rank order.
        pre_tokenizer: "spacy_ftfy" (ftfy, text_standardize, spaCy's English tokenizer: the paper's
            preprocessing), "basic" (BERT's BasicTokenizer, no extra packages) or "auto" (spacy_ftfy when
            ftfy and spaCy are installed, else basic, as the reference chooses; the choice is logged).
        unk_token: the token for symbols outside the vocabulary.
        bos_token, eos_token, sep_token, pad_token, cls_token, mask_token: optional special tokens (str or
            ``AddedToken``); each is added (never split) as in the reference.
        additional_special_tokens: more special tokens.
        added_tokens_decoder: ``{id: AddedToken or saved dict}`` of added tokens (as ``tokenizer_config.json``
            saves them); restores their ids and flags. ``added_tokens`` is the older name of the same.
        model_max_length: the length ``truncation=True`` cuts to when no ``max_length`` is given.
        padding_side, truncation_side: "right" or "left", the default side of padding and truncation.
        clean_up_tokenization_spaces: ``decode``'s default for removing spaces before punctuation.
        split_special_tokens: tokenize special tokens as plain text by default.
        do_lower_case: accepted as the reference accepts it; GPT always lower-cases (False changes
            nothing, as in the reference, and logs a warning saying so).
        max_cache_size: how many distinct words the word cache holds before it is emptied.
        name_or_path: where the tokenizer was loaded from (set by ``from_pretrained``).
        verbose: log each added token (INFO), as the reference's flag does.
        chat_template: a Jinja chat template, ``{name: template}``, or the saved list of
            ``{"name", "template"}`` (see ``apply_chat_template``); GPT has none of its own.

    Example:
        >>> tokenizer = OpenAIGPTTokenizer("vocab.json", "merges.txt", pre_tokenizer="basic")
        >>> tokenizer.tokenize("Hello, world!")
        ['hello</w>', ',</w>', 'world</w>', '!</w>']
    """

    vocab_files_names = {"vocab_file": files.VOCAB_FILES[0], "merges_file": files.VOCAB_FILES[1]}
    is_fast = False

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
        added_tokens_decoder=None,
        added_tokens=None,
        model_max_length=512,
        padding_side="right",
        truncation_side="right",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        do_lower_case=True,
        max_cache_size=100_000,
        name_or_path="",
        verbose=False,
        chat_template=None,
    ):
        self.init_kwargs = {key: value for key, value in locals().items() if key not in ("self", "__class__")}
        self.init_inputs = ()
        if not do_lower_case:
            logger.warning("do_lower_case=False changes nothing: the GPT vocabulary is lower-case, so every text is "
                           "lower-cased (as the reference does whatever the flag)")
        self.encoder = read_vocab(vocab_file)
        self.decoder = {index: token for token, index in self.encoder.items()}
        self._bpe = BPE(read_merges(merges_file, self.encoder))
        self._pre_tokenizer = resolve_pre_tokenizer(pre_tokenizer, logger)
        self._text_encoder = TextEncoder(self._bpe, self._pre_tokenizer, max_cache_size)
        self.model_max_length = int(model_max_length)
        self.padding_side, self.truncation_side = padding_side, truncation_side
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.split_special_tokens = split_special_tokens
        self.name_or_path = str(name_or_path)
        self.verbose = bool(verbose)
        if isinstance(chat_template, (list, tuple)):
            chat_template = {entry["name"]: entry["template"] for entry in chat_template}
        self.chat_template = chat_template
        self.deprecation_warnings = {}
        self._specials = SpecialTokens(self.encoder, added_tokens_decoder or added_tokens)
        named = {"unk_token": unk_token, "bos_token": bos_token, "eos_token": eos_token, "sep_token": sep_token}
        named.update(pad_token=pad_token, cls_token=cls_token, mask_token=mask_token)
        for name in SPECIAL_TOKEN_ATTRIBUTES:
            setattr(self, name, named[name])
        if additional_special_tokens:
            self.additional_special_tokens = list(additional_special_tokens)
        # As the reference: every special token given here is added (kept whole, with an id).
        self._specials.add(self.all_special_tokens_extended, special_tokens=True)
        self._specials.verbose = self.verbose
        self._clear_caches()

    def _clear_caches(self):
        """Takes in a change of the added or special tokens: new lookups, empty word caches."""
        if "_text_encoder" not in self.__dict__:
            return
        added = self._specials.added
        self._token_to_id = {**self.encoder, **added.encoder}
        unk = self._specials.named["unk_token"]
        self._unk_id = None if unk is None else self.encoder.get(str(unk))
        tokens = {content: added.decoder[index] for content, index in added.encoder.items()}
        self._text_encoder.reset(self._token_to_id, self._unk_id, tokens, self._specials.protected())

    padding_side = _side_property("padding_side", "The side padding goes on when a call does not say")
    truncation_side = _side_property("truncation_side", "The side truncation removes tokens from")

    @property
    def do_lower_case(self):
        """True: GPT lower-cases every text (except special tokens)."""
        return True

    def preload(self):
        """Loads what the pre-tokenizer needs (spaCy's English tokenizer) now rather than on first use.

        Returns:
            self.
        """
        if self.pre_tokenizer == "spacy_ftfy":
            self._pre_tokenizer.spacy_tokenizer  # noqa: B018  (the property loads spaCy)
        return self

    def __repr__(self):
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, pre_tokenizer={self.pre_tokenizer!r}, "
            f"padding_side={self.padding_side!r}, truncation_side={self.truncation_side!r}, "
            f"special_tokens={self.special_tokens_map})"
        )

    # === Loading and saving ===

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads a tokenizer from a directory or a Hugging Face Hub id.

        Reads this package's and the reference's layout (``vocab.json``, ``merges.txt``, optional
        ``tokenizer_config.json`` and ``special_tokens_map.json``) and the original release's
        (``encoder_bpe_40000.json``, ``vocab_40000.bpe``).

        Args:
            pretrained_model_name_or_path: a directory, or a Hub id such as "openai-community/openai-gpt"
                (found in the local Hugging Face cache, else downloaded when ``huggingface_hub`` is
                installed; see ``gpt_keras.hub``).
            **kwargs: ``cache_dir``, ``revision``, ``local_files_only``, ``force_download``, ``token``,
                ``subfolder``: where and what to look up for a Hub id, as in the reference (and as the
                models take them: ``use_auth_token`` is the deprecated ``token``, ``resume_download`` is
                ignored, ``proxies`` is refused; see ``gpt_keras.hub.pop_lookup_options``). The others
                override the constructor arguments (``pre_tokenizer``, ``padding_side``,
                ``truncation_side``, ``model_max_length``, special tokens, ...).

        Returns:
            An ``OpenAIGPTTokenizer``.

        Example:
            >>> tokenizer = OpenAIGPTTokenizer.from_pretrained("openai-community/openai-gpt", padding_side="left")
        """
        from gpt_keras.hub import pop_lookup_options, resolve_pretrained

        lookup = pop_lookup_options(kwargs)
        for key in kwargs:
            if callable(getattr(cls, key, None)):
                raise AttributeError(f"{key} conflicts with the method {key} in {cls.__name__}")
        directory = resolve_pretrained(pretrained_model_name_or_path, kind="tokenizer", **lookup)
        vocab_path, merges_path, arguments = files.read_directory(directory)
        arguments.setdefault("name_or_path", str(pretrained_model_name_or_path))
        return cls(vocab_path, merges_path, **{**arguments, **kwargs})

    def save_vocabulary(self, save_directory, filename_prefix=None):
        """Writes ``vocab.json`` and ``merges.txt`` (prefixed with ``filename_prefix-`` if given) into an
        existing ``save_directory``; returns the two paths."""
        return files.save_vocabulary(save_directory, self.encoder, self._bpe.merges, filename_prefix)

    def save_pretrained(self, save_directory, legacy_format=None, filename_prefix=None, push_to_hub=False, save_jinja_files=True):
        """Writes ``tokenizer_config.json`` (mode, sides, special and added tokens, in a layout the reference
        reads too), ``special_tokens_map.json``, the chat template (``chat_template.jinja``, the others in
        ``additional_chat_templates/``), ``vocab.json`` and ``merges.txt`` into ``save_directory`` (created
        if needed). The old files are replaced only once all are written whole.

        Args:
            save_directory: the directory.
            legacy_format: None or True (the slow tokenizer's files); False (``tokenizer.json``) is refused.
            filename_prefix: prefix of every file name (``prefix-vocab.json``, ...).
            push_to_hub: not supported (upload the directory with ``huggingface_hub``).
            save_jinja_files: False puts the chat templates in ``tokenizer_config.json`` instead.

        Returns:
            tuple of the written paths.
        """
        if legacy_format is False:
            raise ValueError("legacy_format=False writes the fast tokenizers' tokenizer.json; this python tokenizer "
                             "saves vocab.json + merges.txt + tokenizer_config.json (legacy_format=None or True)")
        if push_to_hub:
            raise ValueError("push_to_hub is not supported: save here, then upload the directory with "
                             "huggingface_hub.upload_folder(repo_id=..., folder_path=save_directory)")
        config = {"tokenizer_class": "OpenAIGPTTokenizer", "pre_tokenizer": self.pre_tokenizer}
        config.update(model_max_length=self.model_max_length, padding_side=self.padding_side)
        config.update(truncation_side=self.truncation_side, clean_up_tokenization_spaces=self.clean_up_tokenization_spaces)
        config.update(split_special_tokens=self.split_special_tokens, **self._specials.to_config())
        return files.save_pretrained(
            save_directory, self.encoder, self._bpe.merges, config, self._specials.to_map_file(), filename_prefix,
            chat_template=self.chat_template, save_jinja_files=save_jinja_files,
        )  # fmt: skip

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
        return max(self._specials.added.next_id(), len(self.encoder))

    def get_vocab(self):
        """Returns the full token -> id mapping, added tokens included."""
        return dict(self._token_to_id)

    def encoding_tables(self):
        """The vocabulary, merges and added tokens as plain data (JSON-serializable): what an encoder outside
        Python (the in-graph ``OpenAIGPTTokenizerLayer``) needs to give this tokenizer's ids and text.

        Returns:
            dict: ``vocabulary`` (token -> id of the base vocabulary), ``merges`` ("first second" strings in
            rank order), ``clean_up_tokenization_spaces`` (``decode``'s default), and ``never_split``,
            ``protected``, ``special_tokens``, ``set_apart``, ``named_tokens`` (see ``SpecialTokens.tables``).
            The added tokens' ``lstrip``/``rstrip``/``single_word`` flags are in ``added_tokens_decoder``.
        """
        merges = [f"{first} {second}" for first, second in self._bpe.merges]
        tables = {"vocabulary": dict(self.encoder), "merges": merges, **self._specials.tables()}
        return {**tables, "clean_up_tokenization_spaces": bool(self.clean_up_tokenization_spaces)}

    # === Tokenizing ===

    def tokenize(self, text, split_special_tokens=None, is_split_into_words=False, add_special_tokens=True):
        """Splits ``text`` (a str) into BPE tokens (word-final ones end with ``</w>``); added tokens are kept
        whole unless ``split_special_tokens`` (default: the tokenizer's). ``is_split_into_words`` and
        ``add_special_tokens`` change nothing for GPT (accepted as the reference takes them). Returns a list
        of str."""
        check_text(text, "text")
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        return self._text_encoder.encode(text, split)[0]

    def _text_ids(self, text, split_special_tokens=None):
        check_text(text, "text")
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        return self._text_encoder.encode(text, split)[1]

    def convert_tokens_to_ids(self, tokens):
        """Maps a token (str) to an id, or a list of tokens to a list of ids; unknown tokens to the unk id.
        None gives None."""
        if tokens is None:
            return None
        if isinstance(tokens, str):
            return self._token_to_id.get(tokens, self._unk_id)
        tokens, _ = check_texts(list(tokens), "tokens")
        return [self._token_to_id.get(token, self._unk_id) for token in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Maps an id to a token, or a sequence of ids (numpy arrays and tensors too) to a list of tokens;
        ids outside the vocabulary to the unk token. ``skip_special_tokens`` drops the special tokens' ids
        from a sequence."""
        added, unk = self._specials.added.decoder, self.unk_token
        if isinstance(ids, int) and not isinstance(ids, bool):
            return added[ids].content if ids in added else self.decoder.get(ids, unk)
        special_ids = set(self.all_special_ids) if skip_special_tokens else ()
        return [
            added[index].content if index in added else self.decoder.get(index, unk)
            for index in to_id_list(ids, "ids")
            if index not in special_ids
        ]

    def convert_tokens_to_string(self, tokens):
        """Joins BPE tokens (a list of str) into text: ``</w>`` becomes a space, ends are stripped."""
        return decoding.tokens_to_string(tokens)

    # === Decoding ===

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, spaces_between_special_tokens=True):
        """Text of ``token_ids`` (an int or a sequence of int, numpy arrays and tensors too), as the
        reference decodes it: word-final ``</w>`` become spaces; special tokens are kept (or skipped) in
        place; added tokens stand alone, set off by spaces (``spaces_between_special_tokens``); ids outside
        the vocabulary decode as the unk token. ``clean_up_tokenization_spaces`` (default: the tokenizer's)
        removes spaces before punctuation and contractions.
        """
        tokens = self.convert_ids_to_tokens(to_id_list(token_ids), skip_special_tokens=skip_special_tokens)
        if skip_special_tokens:
            special = set(self.all_special_tokens)
            tokens = [token for token in tokens if token not in special]
        text = decoding.tokens_to_text(tokens, self._specials.set_apart(), " " if spaces_between_special_tokens else "")
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return decoding.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None, spaces_between_special_tokens=True):
        """``decode`` of each row of ``sequences`` (a list of id lists, a 2-D array or tensor); a list of str."""
        if hasattr(sequences, "numpy"):
            sequences = sequences.numpy()
        if getattr(sequences, "ndim", 2) != 2:
            raise ValueError(f"sequences must be 2-D (one row of ids per text), got shape {sequences.shape}")
        return [
            self.decode(row, skip_special_tokens, clean_up_tokenization_spaces, spaces_between_special_tokens)
            for row in sequences
        ]

    clean_up_tokenization = staticmethod(decoding.clean_up_tokenization)

    def decode_stream(self, skip_special_tokens=False):
        """An ``IncrementalDecoder`` for generation: feed ids as they come, get the new text."""
        return IncrementalDecoder(self, skip_special_tokens=skip_special_tokens)

    # === The paper's multiple-choice layout ===

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
        encode = self._text_ids
        examples = []
        for text, choices in zip(contexts, endings):
            context_ids = encode(text)
            examples.append([
                packing.multiple_choice_row(context_ids, encode(ending), markers, max_length, context_truncation_side)
                for ending in choices
            ])  # fmt: skip
        output = packing.multiple_choice_batch(examples, self.pad_token_id or 0, return_tensors)
        return output if batched else {key: value[0] for key, value in output.items()}
