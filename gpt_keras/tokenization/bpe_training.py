"""Learning a BPE vocabulary (``vocab.json`` + ``merges.txt``) from your own texts.

The words are those the tokenizer itself will see (same lower-casing and pre-tokenizer), so a trained
tokenizer segments its training texts exactly as the learned merges say::

    tokenizer = train_tokenizer(open("corpus.txt"), vocab_size=8000, output_dir="my-tokenizer")
    tokenizer.encode("Domain-specific words stay whole.")

Merges are learned as in Sennrich et al. (2016) and the GPT release: repeatedly merge the most frequent
adjacent symbol pair (ties: the pair that sorts first), counted over word frequencies.
"""
import heapq
import os
from collections import Counter, defaultdict

from gpt_keras.tokenization.bpe import END_OF_WORD, merge_pair, write_merges, write_vocab
from gpt_keras.tokenization.pre_tokenizers import NEWLINE_WORD, lower_each_character, resolve_pre_tokenizer
from gpt_keras.tokenization.tokenizer import OpenAIGPTTokenizer


_PRE_TOKENIZERS = {}


def _get_pre_tokenizer(name):
    """One pre-tokenizer per mode (spaCy takes a moment to load)."""
    pre = resolve_pre_tokenizer(name)
    return _PRE_TOKENIZERS.setdefault(pre.name, pre)


def pre_tokenize(text, pre_tokenizer="basic"):
    """The words (the strings BPE encodes) of one text, in order, as the tokenizer sees them.

    Args:
        text: a str.
        pre_tokenizer: "basic", "spacy_ftfy" or "auto".

    Returns:
        list of str (spaCy's newline token is ``"\\n "``).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    pre = _get_pre_tokenizer(pre_tokenizer)
    words = pre.split(lower_each_character(text))
    return [string for strings, _, _ in pre.expand(words) for string in strings]


def count_words(texts, pre_tokenizer="basic"):
    """Counts the pre-tokenized words (the strings BPE encodes) of ``texts``.

    Args:
        texts: an iterable of str.
        pre_tokenizer: "basic", "spacy_ftfy" or "auto", as for the tokenizer.

    Returns:
        ``(counts, mode)``: a ``Counter`` word -> frequency and the resolved pre-tokenizer name.
    """
    pre = _get_pre_tokenizer(pre_tokenizer)
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of str, not a single str (wrap it in a list)")
    raw = Counter()
    for number, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{number}] must be a str; got {type(text).__name__}")
        raw.update(pre.split(lower_each_character(text)))
    counts = Counter()
    words = list(raw)
    for word, (strings, _, _) in zip(words, pre.expand(words)):
        for string in strings:
            counts[string] += raw[word]
    return counts, pre.name


def learn_bpe(word_counts, vocab_size, min_frequency=2, unk_token="<unk>"):
    """Learns merges from word frequencies.

    The vocabulary is ``unk_token`` (id 0), then every character seen, in both its word-inner and
    word-final (``c</w>``) form, sorted, then one symbol per merge.

    Args:
        word_counts: mapping word -> frequency (words as the pre-tokenizer gives them).
        vocab_size: the size of the vocabulary to build (fewer if the pairs run out).
        min_frequency: a pair seen fewer times than this is never merged.
        unk_token: the unknown token.

    Returns:
        ``(vocab, merges)``: dict token -> id and the list of ``(first, second)`` merges in rank order.

    Raises:
        ValueError: when ``vocab_size`` cannot even hold the characters.
    """
    words, frequencies = [], []
    alphabet = set()
    newline = False
    for word, frequency in word_counts.items():
        if word == NEWLINE_WORD:
            newline = True
            continue
        if not word or any(c.isspace() for c in word):
            continue
        alphabet.update(word)
        words.append([*word[:-1], word[-1] + END_OF_WORD])
        frequencies.append(frequency)
    base = sorted({*alphabet, *(c + END_OF_WORD for c in alphabet)} | ({"\n" + END_OF_WORD} if newline else set()))
    vocab = {unk_token: 0}
    for symbol in base:
        vocab.setdefault(symbol, len(vocab))
    if vocab_size < len(vocab):
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the {len(vocab)} symbols the characters of the corpus need"
        )
    pair_counts = defaultdict(int)
    where = defaultdict(set)
    for index, (symbols, frequency) in enumerate(zip(words, frequencies)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += frequency
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    while heap and len(vocab) < vocab_size:
        negative_count, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -negative_count:  # stale entry: its count has changed since it was pushed
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        if count < min_frequency:
            break
        first, second = pair
        merges.append(pair)
        vocab.setdefault(first + second, len(vocab))
        changed = set()
        for index in where.pop(pair):
            symbols = words[index]
            merged = merge_pair(symbols, first, second)
            if len(merged) == len(symbols):
                continue
            frequency = frequencies[index]
            for old in zip(symbols, symbols[1:]):
                pair_counts[old] -= frequency
                changed.add(old)
            for new in zip(merged, merged[1:]):
                pair_counts[new] += frequency
                where[new].add(index)
                changed.add(new)
            words[index] = merged
        pair_counts.pop(pair, None)
        for other in changed:
            if other != pair and pair_counts.get(other, 0) > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
    return vocab, merges


def train_tokenizer(texts, vocab_size, output_dir, pre_tokenizer="basic", min_frequency=2, unk_token="<unk>"):
    """Learns a vocabulary from ``texts``, writes ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json``
    into ``output_dir`` and returns the tokenizer.

    Args:
        texts: an iterable of str (e.g. an open text file: one text per line).
        vocab_size: the vocabulary size to aim for (fewer if the corpus runs out of frequent pairs).
        output_dir: where to write the files (created if needed).
        pre_tokenizer: "basic", "spacy_ftfy" or "auto"; the tokenizer will use the same.
        min_frequency: the smallest pair count that is still merged.
        unk_token: the unknown token (id 0).

    Returns:
        An ``OpenAIGPTTokenizer`` reading the written files.

    Example:
        >>> tokenizer = train_tokenizer(["low lower lowest"] * 10, vocab_size=40, output_dir="/tmp/tok")
        >>> tokenizer.tokenize("lower")
        ['lower</w>']
    """
    counts, mode = count_words(texts, pre_tokenizer)
    vocab, merges = learn_bpe(counts, vocab_size, min_frequency=min_frequency, unk_token=unk_token)
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    write_vocab(os.path.join(output_dir, "vocab.json"), vocab)
    write_merges(os.path.join(output_dir, "merges.txt"), merges)
    # From the new files alone: a tokenizer_config.json already in output_dir (added tokens of an older
    # vocabulary) must not carry over; saving replaces it.
    tokenizer = OpenAIGPTTokenizer(
        os.path.join(output_dir, "vocab.json"), os.path.join(output_dir, "merges.txt"), pre_tokenizer=mode, unk_token=unk_token
    )
    tokenizer.save_pretrained(output_dir)
    return tokenizer
