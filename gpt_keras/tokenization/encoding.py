"""Text to BPE tokens and ids, as the reference tokenizes it, with each distinct word encoded once.

The reference lower-cases the text (except where a never-split token stands), splits it at its
never-split tokens, pre-tokenizes each piece and BPE-encodes every resulting string. Here a
pre-tokenizer first splits a piece into whitespace-separated words; each new word is expanded and
encoded once and kept in a cache (see ``pre_tokenizers.py`` for why that is exact).
"""
import re

from gpt_keras.tokenization.pre_tokenizers import lower_each_character


def _alternation(tokens):
    return re.compile("(" + "|".join(map(re.escape, tokens)) + ")") if tokens else None


class TextEncoder:
    """Encodes texts into BPE tokens and ids, caching the tokens and ids of every word seen.

    Args:
        bpe: a ``BPE`` (the merges table).
        pre_tokenizer: a resolved pre-tokenizer (``resolve_pre_tokenizer``).
        max_cache_size: how many distinct words (and BPE strings) a cache holds before it is emptied.

    ``reset`` must be called with the vocabulary before the first ``encode``, and again whenever the
    never-split tokens change (the cached ids depend on them).
    """

    def __init__(self, bpe, pre_tokenizer, max_cache_size):
        self.bpe = bpe
        self.pre_tokenizer = pre_tokenizer
        self.max_cache_size = int(max_cache_size)
        self.reset({}, None, {}, [])

    def reset(self, token_to_id, unk_id, added_tokens, protected):
        """Takes a new vocabulary and empties the caches.

        Args:
            token_to_id: every token's id, added tokens included.
            unk_id: the id of symbols outside the vocabulary (None when there is no unk token).
            added_tokens: content -> ``AddedToken`` of the tokens kept whole wherever they stand.
            protected: the tokens that lower-casing leaves as they are.
        """
        self.word_cache = {}
        self.bpe_cache = {}
        self._token_to_id, self._unk_id, self._added = token_to_id, unk_id, added_tokens
        self._never_split_pattern = _alternation(sorted(added_tokens, key=len, reverse=True))
        # The reference lower-cases one character at a time, except where a special (or non-special
        # added) token stands; this regex alternation is the reference's.
        self._protected_pattern = _alternation(protected)

    def encode(self, text, split_special_tokens=False):
        """The BPE tokens and ids of ``text``; added tokens are kept whole (unless ``split_special_tokens``).

        Returns:
            ``(tokens, ids)``: two lists of the same length.
        """
        tokens, ids = [], []
        text = self._lowercase(text)
        if split_special_tokens or self._never_split_pattern is None:
            pieces = [text]
        else:
            pieces = self._strip_around_added(self._never_split_pattern.split(text))
        for piece in pieces:
            if piece in self._added and not split_special_tokens:
                tokens.append(piece)
                ids.append(self._token_to_id[piece])
            elif piece:
                self._encode_piece(piece, tokens, ids)
        return tokens, ids

    def _strip_around_added(self, pieces):
        """Applies the added tokens' ``lstrip``/``rstrip``/``single_word`` to the text around them, as the
        reference does after splitting (odd positions hold added tokens)."""
        for position in range(1, len(pieces), 2):
            token = self._added[pieces[position]]
            left, right = pieces[position - 1], pieces[position + 1]
            if token.rstrip and right:
                pieces[position + 1] = right.lstrip()
            if token.lstrip and left:
                pieces[position - 1] = left.rstrip()
            if token.single_word and left and left[-1] != " ":
                pieces[position - 1] += pieces[position]
                pieces[position] = ""
            elif token.single_word and right and right[0] != " ":
                pieces[position + 1] = pieces[position] + pieces[position + 1]
                pieces[position] = ""
        return pieces

    def _lowercase(self, text):
        if self._protected_pattern is None:
            return lower_each_character(text)
        parts = self._protected_pattern.split(text)
        parts[0::2] = [lower_each_character(part) for part in parts[0::2]]
        return "".join(parts)

    def _bpe_word(self, string):
        symbols = self.bpe_cache.get(string)
        if symbols is None:
            symbols = self.bpe.encode_word(string) if string else []
            if len(self.bpe_cache) >= self.max_cache_size:
                self.bpe_cache.clear()
            self.bpe_cache[string] = symbols
        return symbols

    def _encode_piece(self, text, tokens, ids):
        """Appends the BPE tokens and ids of ``text`` (which holds no never-split token)."""
        pre_tokenizer = self.pre_tokenizer
        words = pre_tokenizer.split(text)
        cache = self.word_cache
        entries = [cache.get(word) for word in words]
        token_to_id, unk_id = self._token_to_id, self._unk_id
        if None in entries:
            new_words = list(dict.fromkeys(word for word, entry in zip(words, entries) if entry is None))
            new_entries = {}
            for word, (strings, ends, starts) in zip(new_words, pre_tokenizer.expand(new_words)):
                word_tokens = [symbol for string in strings for symbol in self._bpe_word(string)]
                word_ids = tuple([token_to_id.get(token, unk_id) for token in word_tokens])
                new_entries[word] = (tuple(word_tokens), word_ids, ends, starts)
            if len(cache) + len(new_entries) > self.max_cache_size:
                cache.clear()
            cache.update(new_entries)
            entries = [entry or new_entries[word] for word, entry in zip(words, entries)]
        if pre_tokenizer.name == "spacy_ftfy" and self._crosses_special_case(entries):
            for string in pre_tokenizer.whole_text(text):
                for symbol in self._bpe_word(string):
                    tokens.append(symbol)
                    ids.append(token_to_id.get(symbol, unk_id))
            return
        for entry in entries:
            tokens.extend(entry[0])
            ids.extend(entry[1])

    def _crosses_special_case(self, entries):
        """Whether spaCy's special-case matcher could match across two neighbouring words."""
        crosses = self.pre_tokenizer.crosses_special_case
        previous_ends = None
        for _, _, ends, starts in entries:
            if previous_ends is not None and starts is not None and crosses(previous_ends, starts):
                return True
            previous_ends = ends
        return False
