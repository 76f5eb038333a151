"""Byte-pair encoding of one word, and the formats of the vocabulary and merges files.

The merge loop is the original GPT's: a word is its characters with ``</w>`` glued to the last one; the
adjacent pair with the lowest merge rank is merged everywhere (left to right, non-overlapping) until no
pair of the word is in the merges table.
"""
import json
import os

from gpt_keras._fs import atomic_write_text

END_OF_WORD = "</w>"
MERGES_HEADER = "#version: 0.2"


class BPE:
    """Applies a merges table to single words.

    Args:
        merges: the merge pairs ``(first, second)`` in rank order (rank 0 is merged first).

    Example:
        >>> BPE([("l", "o"), ("lo", "w</w>")]).encode_word("low")
        ['low</w>']
    """

    def __init__(self, merges):
        self.merges = [tuple(pair) for pair in merges]
        # A repeated pair keeps its last rank, as in the reference's dict(zip(merges, range(...))).
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}

    def encode_word(self, word):
        """Splits one (already normalized) word into BPE symbols.

        Args:
            word: a non-empty string without the end-of-word marker.

        Returns:
            The list of symbols; the last one ends with ``</w>``.
        """
        if len(word) < 2:
            return (word + END_OF_WORD).split(" ")
        symbols = list(word[:-1])
        symbols.append(word[-1] + END_OF_WORD)
        ranks = self.ranks
        while len(symbols) > 1:
            best_rank = None
            best = None
            for pair in zip(symbols, symbols[1:]):
                rank = ranks.get(pair)
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank = rank
                    best = pair
            if best is None:
                break
            symbols = merge_pair(symbols, *best)
        joined = " ".join(symbols)
        # The reference joins symbols with spaces and splits them again, so a symbol that holds a space
        # falls apart; the whitespace token "\n " (spaCy's newline token) is special-cased to "\n</w>".
        if joined == "\n  </w>":
            return ["\n" + END_OF_WORD]
        return joined.split(" ")


def merge_pair(symbols, first, second):
    """Merges every occurrence of the adjacent pair ``(first, second)``, left to right, without overlaps.

    Args:
        symbols: list of str.
        first, second: the pair.

    Returns:
        A new list of symbols.
    """
    merged = []
    i = 0
    n = len(symbols)
    while i < n:
        if i < n - 1 and symbols[i] == first and symbols[i + 1] == second:
            merged.append(first + second)
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


def read_vocab(path):
    """Reads a ``vocab.json`` (or the release's ``encoder_bpe_40000.json``): a JSON object token -> id.

    Args:
        path: the file.

    Returns:
        dict mapping token (str) to id (int); ids are distinct and non-negative.

    Raises:
        FileNotFoundError, ValueError: naming the file and what is wrong with it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"vocabulary file not found: {path} (expected a JSON object token -> id)")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if not text.strip():
        raise ValueError(f"vocabulary file {path} is empty; expected a JSON object token -> id")
    try:
        vocab = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"vocabulary file {path} is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}); expected a JSON object token -> id"
        ) from None
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError(
            f"vocabulary file {path} holds a {type(vocab).__name__}{' (empty)' if not vocab else ''}; "
            "expected a non-empty JSON object token -> id"
        )
    seen = {}
    for token, index in vocab.items():
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"vocabulary file {path}: token {token!r} has id {index!r}; expected an int >= 0")
        if index in seen:
            raise ValueError(f"vocabulary file {path}: tokens {seen[index]!r} and {token!r} share id {index}")
        seen[index] = token
    return vocab


def read_merges(path, vocab=None):
    """Reads a ``merges.txt`` (or the release's ``vocab_40000.bpe``): an optional ``#version`` line, then one
    merge ``first second`` per line, in rank order.

    Args:
        path: the file.
        vocab: if given, every symbol of every merge, and their concatenation, must be in it.

    Returns:
        list of ``(first, second)`` pairs.

    Raises:
        FileNotFoundError, ValueError: naming the file, the line and what was expected.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"merges file not found: {path} (expected '#version: 0.2' then 'a b' lines)")
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    start = 1 if lines and lines[0].startswith("#version") else 0
    if len(lines) <= start:
        raise ValueError(f"merges file {path} is empty; expected '#version: 0.2' then one 'a b' merge per line")
    merges = []
    for number in range(start, len(lines)):
        parts = lines[number].split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(
                f"merges file {path}, line {number + 1}: {lines[number]!r} is not a merge; "
                "expected two symbols separated by one space"
            )
        if vocab is not None:
            for symbol in (parts[0], parts[1], parts[0] + parts[1]):
                if symbol not in vocab:
                    raise ValueError(
                        f"merges file {path}, line {number + 1}: symbol {symbol!r} of merge {lines[number]!r} "
                        "is not in the vocabulary"
                    )
        merges.append((parts[0], parts[1]))
    return merges


def vocab_text(vocab):
    """``vocab`` (token -> id) as the text of a ``vocab.json``, in the reference's format."""
    return json.dumps(vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def merges_text(merges):
    """The merges, in rank order under a ``#version: 0.2`` line, as the text of a ``merges.txt``."""
    return "".join([MERGES_HEADER + "\n", *(f"{first} {second}\n" for first, second in merges)])


def write_vocab(path, vocab):
    """Writes ``vocab`` (token -> id) as JSON, in the reference's format, atomically."""
    atomic_write_text(path, vocab_text(vocab))


def write_merges(path, merges):
    """Writes the merges in rank order under a ``#version: 0.2`` line, atomically."""
    atomic_write_text(path, merges_text(merges))
