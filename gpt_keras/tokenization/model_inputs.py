"""Texts to model inputs with the reference's calls: ``__call__``, ``encode``, ``encode_plus``,
``batch_encode_plus``, ``prepare_for_model``, ``pad`` and the special-token layout hooks.

Each call does what the reference's python tokenizer does, in the same order: the ids of each text (or
pair), truncation (``truncation.py``), special tokens (GPT adds none, so ``add_special_tokens`` changes
nothing but the token type ids), padding (``packing.pad_example``), then a ``BatchEncoding``.
"""
from gpt_keras.tokenization import packing, truncation
from gpt_keras.tokenization.batch_encoding import BatchEncoding, check_tensor_type
from gpt_keras.tokenization.inputs import TextInputError, to_id_list

# The keyword arguments that every encoding call takes besides its texts.
_OPTIONS = (
    "add_special_tokens", "padding", "truncation", "max_length", "stride", "is_split_into_words",
    "pad_to_multiple_of", "padding_side", "return_tensors", "return_token_type_ids", "return_attention_mask",
    "return_overflowing_tokens", "return_special_tokens_mask", "return_offsets_mapping", "return_length",
    "verbose", "split_special_tokens",
)  # fmt: skip
_DEFAULTS = dict(
    add_special_tokens=True, padding=False, truncation=None, max_length=None, stride=0, is_split_into_words=False,
    pad_to_multiple_of=None, padding_side=None, return_tensors=None, return_token_type_ids=None,
    return_attention_mask=None, return_overflowing_tokens=False, return_special_tokens_mask=False,
    return_offsets_mapping=False, return_length=False, verbose=True, split_special_tokens=None,
)  # fmt: skip


def _options(kwargs, call):
    unknown = sorted(set(kwargs) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"{call}() got unexpected keyword argument(s) {unknown}; it takes {list(_OPTIONS)}")
    options = {**_DEFAULTS, **kwargs}
    if options["return_offsets_mapping"]:
        raise NotImplementedError(
            "return_offsets_mapping needs character offsets, which only the reference's Rust-backed fast "
            "tokenizers give; this tokenizer is the python one"
        )
    check_tensor_type(options["return_tensors"])
    return options


def _is_text_input(value):
    if isinstance(value, str):
        return True
    if not isinstance(value, (list, tuple)):
        return False
    if not value or isinstance(value[0], str):
        return True
    return isinstance(value[0], (list, tuple)) and (not value[0] or isinstance(value[0][0], str))


# Longer than ~250 lines' worth of docstrings because it is the reference's encoding surface (ten calls);
# the work is in truncation.py, packing.py and batch_encoding.py.
class ModelInputsMixin:
    """The reference's encoding calls, for a tokenizer with ``_text_ids(text, split_special_tokens)``,
    ``convert_tokens_to_ids``, ``pad_token_id``, ``padding_side``, ``truncation_side``, ``model_max_length``
    and ``deprecation_warnings``."""

    model_input_names = ["input_ids", "attention_mask"]
    pad_token_type_id = 0

    # === Special-token layout (GPT adds no special tokens) ===

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        """The ids of one sequence or a pair as the model takes them: GPT adds no special tokens, so the
        ids of the first followed by those of the second."""
        return list(token_ids_0) if token_ids_1 is None else [*token_ids_0, *token_ids_1]

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        """Token type ids: 0 on the first sequence, 1 on the second."""
        return [0] * len(token_ids_0) + ([] if token_ids_1 is None else [1] * len(token_ids_1))

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        """1 where a special token stands, 0 elsewhere.

        Args:
            token_ids_0, token_ids_1: ids of one sequence (and of its pair).
            already_has_special_tokens: the ids are already laid out: mark the special ids among them
                (``token_ids_1`` must then be None). Otherwise the layout adds none: all zeros.
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError(
                    "You should not supply a second sequence if the provided sequence of ids is already "
                    "formatted with special tokens for the model."
                )
            special = set(self.all_special_ids)
            return [1 if index in special else 0 for index in token_ids_0]
        return [0] * (len(token_ids_0) + len(token_ids_1 or []))

    def num_special_tokens_to_add(self, pair=False):
        """How many special tokens the layout adds to one sequence (or a pair): 0 for GPT."""
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))

    @property
    def max_len_single_sentence(self):
        """The longest sequence the model takes, less its special tokens."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self):
        """The longest pair the model takes, less its special tokens."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def truncate_sequences(self, ids, pair_ids=None, num_tokens_to_remove=0, truncation_strategy="longest_first", stride=0):
        """Removes ``num_tokens_to_remove`` tokens on the tokenizer's ``truncation_side``; see
        ``truncation.truncate_sequences``. Returns ``(ids, pair_ids, overflowing_tokens)``."""
        return truncation.truncate_sequences(
            ids, pair_ids, num_tokens_to_remove, truncation_strategy, stride, self.truncation_side
        )

    # === Encoding ===

    def _input_ids(self, text, is_split_into_words, split_special_tokens):
        """The reference's ``get_input_ids``: a str is tokenized, a list of str is split words (with
        ``is_split_into_words``) or tokens, a list of int is ids already."""
        if isinstance(text, str):
            return self._text_ids(text, split_special_tokens)
        if isinstance(text, (list, tuple)) and text and isinstance(text[0], str):
            if is_split_into_words:
                return [index for word in text for index in self._text_ids(word, split_special_tokens)]
            return self.convert_tokens_to_ids(list(text))
        if isinstance(text, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in text):
            return list(text)
        if is_split_into_words:
            expected = "a str or a list/tuple of str (words) when is_split_into_words=True"
        else:
            expected = "a str, a list/tuple of str (tokens) or a list/tuple of int (ids)"
        raise TextInputError(f"text must be {expected}; got {type(text).__name__}: Input {text!r} is not valid.")

    def encode(self, text, text_pair=None, **kwargs):
        """The ids of ``text`` (and ``text_pair``): ``encode_plus(...)["input_ids"]``.

        Args:
            text: a str, a list of tokens (or of words with ``is_split_into_words=True``) or of ids.
            text_pair: the same kinds, or None.
            **kwargs: ``encode_plus``'s options (``add_special_tokens``, ``truncation``, ``max_length``,
                ``padding``, ``return_tensors``, ...).

        Returns:
            list of int (an array or tensor of shape (1, seq) with ``return_tensors``).

        Example:
            >>> tokenizer.encode("Hello world")
            [3570, 1003]
        """
        return self.encode_plus(text, text_pair, **kwargs)["input_ids"]

    def encode_plus(self, text, text_pair=None, **kwargs):
        """Encodes one text (or pair) into a ``BatchEncoding`` of ``input_ids`` and ``attention_mask``.

        Args:
            text, text_pair: as ``encode`` takes them.
            add_special_tokens: lay out special tokens (GPT has none; with ``return_token_type_ids`` the
                pair's second sequence gets type 1).
            padding: False / "do_not_pad", True / "longest" (nothing to pad for one text), "max_length".
            truncation: True / "longest_first", "only_first", "only_second", False / "do_not_truncate".
            max_length: the length to truncate and pad to (``model_max_length`` when a strategy needs
                one); given alone, it truncates "longest_first" with a warning.
            stride: overlap of the overflowing tokens with the kept ones.
            is_split_into_words: ``text`` is a list of words, each tokenized on its own.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            padding_side: "right" or "left" (default: the tokenizer's ``padding_side``).
            return_tensors: None (lists), "np" or "tf" (with a batch axis of one).
            return_token_type_ids, return_attention_mask, return_special_tokens_mask, return_length,
            return_overflowing_tokens: add those fields (``overflowing_tokens`` and
                ``num_truncated_tokens``; not possible for a pair with "longest_first").
            verbose: log the reference's warnings.
            split_special_tokens: tokenize special tokens as plain text (default: the tokenizer's).

        Returns:
            ``BatchEncoding``.
        """
        options = _options(kwargs, "encode_plus")
        ids = self._input_ids(text, options["is_split_into_words"], options["split_special_tokens"])
        pair_ids = None if text_pair is None else self._input_ids(text_pair, options["is_split_into_words"], options["split_special_tokens"])
        del options["is_split_into_words"], options["split_special_tokens"], options["return_offsets_mapping"]
        return self.prepare_for_model(ids, pair_ids, prepend_batch_axis=True, **options)

    def batch_encode_plus(self, batch_text_or_text_pairs, **kwargs):
        """Encodes a batch of texts or of ``(text, text_pair)`` pairs into one ``BatchEncoding``.

        Args:
            batch_text_or_text_pairs: a list of texts, of ``(text, pair)`` tuples, or (with
                ``is_split_into_words``) of word lists or pairs of word lists.
            **kwargs: ``encode_plus``'s options; padding and tensors apply to the whole batch.

        Returns:
            ``BatchEncoding`` of lists with one row per example.
        """
        options = _options(kwargs, "batch_encode_plus")
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TextInputError(
                f"batch_text_or_text_pairs must be a list or tuple; got {type(batch_text_or_text_pairs).__name__}"
            )
        words, split = options.pop("is_split_into_words"), options.pop("split_special_tokens")
        del options["return_offsets_mapping"]
        pad, cut, max_length = truncation.resolve(
            self, options["padding"], options["truncation"], options["max_length"], options["pad_to_multiple_of"], options["verbose"]
        )
        rows = {}
        for example in batch_text_or_text_pairs:
            if not isinstance(example, (list, tuple)) or (words and not isinstance(example[0], (list, tuple))):
                first, second = example, None
            else:
                first, second = example
            ids = self._input_ids(first, words, split)
            pair_ids = None if second is None else self._input_ids(second, words, split)
            single = {**options, "padding": "do_not_pad", "truncation": cut, "max_length": max_length}
            single.update(pad_to_multiple_of=None, padding_side=None, return_attention_mask=False, return_tensors=None)
            for key, value in self.prepare_for_model(ids, pair_ids, **single).items():
                rows.setdefault(key, []).append(value)
        padded = self.pad(
            rows,
            padding=pad,
            max_length=max_length,
            pad_to_multiple_of=options["pad_to_multiple_of"],
            padding_side=options["padding_side"],
            return_attention_mask=options["return_attention_mask"],
            verbose=options["verbose"],
        )
        return BatchEncoding(padded.data, tensor_type=options["return_tensors"])

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None, **kwargs):
        """Encodes a text, a pair, or a batch of either: ``encode_plus`` for one, ``batch_encode_plus``
        for a list (a list of words with ``is_split_into_words=True`` is one text).

        Args:
            text: a str, a list of str (a batch), or with ``is_split_into_words`` a list of words (one text)
                or of word lists (a batch).
            text_pair: the second texts, matching ``text``.
            text_target, text_pair_target: texts whose ids become ``labels`` (alone, the whole output).
            **kwargs: ``encode_plus``'s options.

        Returns:
            ``BatchEncoding``: lists (one row per text for a batch), or arrays / tensors with
            ``return_tensors`` (a batch of one for a single text).

        Example:
            >>> enc = tokenizer(["Hello world", "Hi"], padding=True, return_tensors="np")
            >>> enc.input_ids.shape, enc.attention_mask.tolist()
            ((2, 2), [[1, 1], [1, 0]])
        """
        if text is None and text_target is None:
            raise TextInputError("text must be a str or a list of str: you need to specify either `text` or `text_target`.")
        encodings = None if text is None else self._call_one(text, text_pair, kwargs)
        if text_target is None:
            return encodings
        targets = self._call_one(text_target, text_pair_target, kwargs)
        if encodings is None:
            return targets
        encodings["labels"] = targets["input_ids"]
        return encodings

    def _call_one(self, text, text_pair, kwargs):
        message = (
            "text input must be of type `str` (single example), `list[str]` (batch or single pretokenized "
            "example) or `list[list[str]]` (batch of pretokenized examples)."
        )
        if not _is_text_input(text) or (text_pair is not None and not _is_text_input(text_pair)):
            raise TextInputError(f"{message} Got {type(text).__name__}{'' if text_pair is None else ' / ' + type(text_pair).__name__}")
        if kwargs.get("is_split_into_words"):
            batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            batched = isinstance(text, (list, tuple))
        if not batched:
            return self.encode_plus(text, text_pair, **kwargs)
        if isinstance(text_pair, str):
            raise TextInputError(
                "when tokenizing batches of text, `text_pair` must be a list or tuple with the same length as `text`."
            )
        if text_pair is not None and len(text) != len(text_pair):
            raise ValueError(f"batch length of `text`: {len(text)} does not match batch length of `text_pair`: {len(text_pair)}.")
        return self.batch_encode_plus(list(zip(text, text_pair)) if text_pair is not None else text, **kwargs)

    def prepare_for_model(self, ids, pair_ids=None, prepend_batch_axis=False, **kwargs):
        """Turns ids (and pair ids) into model inputs: truncation, special tokens, padding, extra fields.

        Args:
            ids, pair_ids: lists of int (e.g. from ``encode(..., add_special_tokens=False)``).
            prepend_batch_axis: with ``return_tensors``, add a batch axis of one.
            **kwargs: ``encode_plus``'s options (not ``is_split_into_words``).

        Returns:
            ``BatchEncoding``.
        """
        options = _options(kwargs, "prepare_for_model")
        ids = to_id_list(ids, "ids")
        pair_ids = None if pair_ids is None else to_id_list(pair_ids, "pair_ids")
        pad, cut, max_length = truncation.resolve(
            self, options["padding"], options["truncation"], options["max_length"], options["pad_to_multiple_of"], options["verbose"]
        )
        add_special = options["add_special_tokens"]
        token_types, attention = options["return_token_type_ids"], options["return_attention_mask"]
        if token_types and not add_special:
            raise ValueError(
                "Asking to return token_type_ids while setting add_special_tokens to False results in an "
                "undefined behavior. Please set add_special_tokens to True or set return_token_type_ids to None."
            )
        if options["return_overflowing_tokens"] and cut == "longest_first" and pair_ids is not None:
            raise ValueError(
                "Not possible to return overflowing tokens for pair of sequences with the `longest_first`. Please "
                "select another truncation strategy than `longest_first`, for instance `only_second` or `only_first`."
            )
        token_types = "token_type_ids" in self.model_input_names if token_types is None else token_types
        attention = "attention_mask" in self.model_input_names if attention is None else attention
        total = len(ids) + len(pair_ids or []) + (self.num_special_tokens_to_add(pair_ids is not None) if add_special else 0)
        encoded, overflowing = {}, []
        if cut != "do_not_truncate" and max_length and total > max_length:
            ids, pair_ids, overflowing = self.truncate_sequences(ids, pair_ids, total - max_length, cut, options["stride"])
        if options["return_overflowing_tokens"]:
            encoded["overflowing_tokens"] = overflowing
            encoded["num_truncated_tokens"] = total - (max_length or 0)
        if add_special:
            encoded["input_ids"] = self.build_inputs_with_special_tokens(ids, pair_ids)
            types = self.create_token_type_ids_from_sequences(ids, pair_ids)
        else:
            encoded["input_ids"] = ids + (pair_ids or [])
            types = [0] * len(encoded["input_ids"])
        if token_types:
            encoded["token_type_ids"] = types
        if options["return_special_tokens_mask"]:
            mask = self.get_special_tokens_mask(ids, pair_ids) if add_special else [0] * len(encoded["input_ids"])
            encoded["special_tokens_mask"] = mask
        if max_length is None and len(encoded["input_ids"]) > self.model_max_length and options["verbose"]:
            truncation.warn_once(
                self,
                "sequence-length-is-longer-than-the-specified-maximum",
                "Token indices sequence length is longer than the specified maximum sequence length for this model "
                f"({len(encoded['input_ids'])} > {self.model_max_length}). Running this sequence through the model "
                "will result in indexing errors",
            )
        if pad != "do_not_pad" or attention:
            side = options["padding_side"] or self.padding_side
            packing.pad_example(encoded, max_length, pad, self.pad_token_id, side, options["pad_to_multiple_of"], attention)
        if options["return_length"]:
            encoded["length"] = len(encoded["input_ids"])
        return BatchEncoding(encoded, tensor_type=options["return_tensors"], prepend_batch_axis=prepend_batch_axis)

    # === Padding ===

    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None, padding_side=None,
            return_attention_mask=None, return_tensors=None, verbose=True):  # fmt: skip
        """Pads encodings (one, a batch, or a list of them, e.g. from a data collator) to one length.

        Args:
            encoded_inputs: a ``BatchEncoding`` or dict of fields (one example, or a batch of rows), or a
                list of such dicts; lists, numpy arrays or tensors.
            padding: True / "longest", "max_length" or False / "do_not_pad".
            max_length: the length of "max_length".
            pad_to_multiple_of: round the padded length up to a multiple of this.
            padding_side: "right" or "left" (default: the tokenizer's ``padding_side``).
            return_attention_mask: add ``attention_mask`` (default: yes).
            return_tensors: None, "np" or "tf" (default: the kind the inputs came in).
            verbose: log the reference's warnings.

        Returns:
            ``BatchEncoding``.

        Example:
            >>> tokenizer.pad([{"input_ids": [5, 6, 7]}, {"input_ids": [8]}]).attention_mask
            [[1, 1, 1], [1, 0, 0]]
        """
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and hasattr(encoded_inputs[0], "keys"):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0].keys()}
        main = self.model_input_names[0]
        if main not in encoded_inputs:
            raise ValueError(
                "You should supply an encoding or a list of encodings to this method "
                f"that includes {main}, but you provided {list(encoded_inputs.keys())}"
            )
        encoded_inputs = dict(encoded_inputs)
        if encoded_inputs[main] is None or len(encoded_inputs[main]) == 0:
            if return_attention_mask:
                encoded_inputs["attention_mask"] = []
            return encoded_inputs  # as the reference: nothing to pad, the fields as they came
        return_tensors = _lists_in_place(encoded_inputs, main, return_tensors)
        strategy, _, max_length = truncation.resolve(self, padding=padding, max_length=max_length, verbose=verbose)
        side = padding_side or self.padding_side
        required = encoded_inputs[main]
        if not isinstance(required[0], (list, tuple)):
            example = packing.pad_example(encoded_inputs, max_length, strategy, self.pad_token_id, side, pad_to_multiple_of, return_attention_mask is not False)
            return BatchEncoding(example, tensor_type=return_tensors)
        sizes = {key: len(value) for key, value in encoded_inputs.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"the fields hold different numbers of examples: {sizes}")
        if strategy == "longest":
            strategy, max_length = "max_length", max(len(row) for row in required)
        batch = {}
        for position in range(len(required)):
            example = {key: value[position] for key, value in encoded_inputs.items()}
            packing.pad_example(example, max_length, strategy, self.pad_token_id, side, pad_to_multiple_of, return_attention_mask is not False)
            for key, value in example.items():
                batch.setdefault(key, []).append(value)
        return BatchEncoding(batch, tensor_type=return_tensors)


def _lists_in_place(encoded_inputs, main, return_tensors):
    """Turns numpy arrays or tensors in ``encoded_inputs`` into lists; returns the tensor kind to give back
    (the one they came in, unless ``return_tensors`` says otherwise)."""
    first = encoded_inputs[main][0]
    if isinstance(first, (list, tuple)):
        first = next((row[0] for row in encoded_inputs[main] if len(row)), first)
    if isinstance(first, (int, list, tuple)):
        return return_tensors
    kind = "np" if type(first).__module__ == "numpy" else "tf" if hasattr(first, "numpy") else None
    if kind is None:
        raise TypeError(f"type of {first!r} unknown: {type(first).__name__}; expected lists, numpy arrays or tensors")
    for key, value in encoded_inputs.items():
        value = value.numpy() if hasattr(value, "numpy") else value
        encoded_inputs[key] = value.tolist() if hasattr(value, "tolist") else [getattr(v, "tolist", lambda v=v: v)() for v in value]
    return kind if return_tensors is None else return_tensors
