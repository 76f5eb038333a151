"""BPE training: exact merges on a hand-worked corpus, round trips and speed on a larger one."""
import json
import time

import pytest

from gpt_keras.bpe_training import count_words, learn_bpe, pre_tokenize, train_tokenizer
from gpt_keras.tokenizer import OpenAIGPTTokenizer

# Sennrich et al.'s example: low x5, lower x2, newest x6, widest x3.
TINY_CORPUS = ["low " * 5 + "lower " * 2, "newest " * 6, "widest " * 3]
# Worked by hand: counts (e,s)=9 and (s,t</w>)=9 tie and the pair that sorts first wins; then (es,t</w>)=9,
# (l,o)=7, three pairs at 6 of which (e,w) sorts first, (ew,est</w>)=6, (n,ewest</w>)=6, (lo,w</w>)=5,
# (d,est</w>)=3, (i,dest</w>)=3, (w,idest</w>)=3, (e,r</w>)=2, (lo,w)=2, (low,er</w>)=2; nothing is left.
TINY_MERGES = [
    ("e", "s"), ("es", "t</w>"), ("l", "o"), ("e", "w"), ("ew", "est</w>"), ("n", "ewest</w>"), ("lo", "w</w>"),
    ("d", "est</w>"), ("i", "dest</w>"), ("w", "idest</w>"), ("e", "r</w>"), ("lo", "w"), ("low", "er</w>"),
]  # fmt: skip
TINY_ALPHABET = sorted("lowernstid")


@pytest.mark.parametrize("pre_tokenizer", ["basic", "spacy_ftfy"])
def test_tiny_corpus_learns_exactly_the_hand_worked_merges(pre_tokenizer):
    counts, mode = count_words(TINY_CORPUS, pre_tokenizer)
    assert mode == pre_tokenizer
    assert counts == {"low": 5, "lower": 2, "newest": 6, "widest": 3}
    vocab, merges = learn_bpe(counts, vocab_size=1000)
    assert merges == TINY_MERGES
    base = sorted([*TINY_ALPHABET, *(c + "</w>" for c in TINY_ALPHABET)])
    assert list(vocab) == ["<unk>", *base, *("".join(pair) for pair in TINY_MERGES)]
    assert list(vocab.values()) == list(range(len(vocab)))


def test_vocab_size_and_min_frequency_stop_training():
    counts, _ = count_words(TINY_CORPUS)
    vocab, merges = learn_bpe(counts, vocab_size=1 + 20 + 3)
    assert merges == TINY_MERGES[:3] and len(vocab) == 24
    _, merges = learn_bpe(counts, vocab_size=1000, min_frequency=4)
    assert merges == TINY_MERGES[:7]  # the next pair is seen 3 times
    with pytest.raises(ValueError, match="vocab_size=5 is smaller than the 21 symbols"):
        learn_bpe(counts, vocab_size=5)


def test_trained_files_load_and_segment_as_learned(tmp_path):
    tokenizer = train_tokenizer(TINY_CORPUS, vocab_size=1000, output_dir=tmp_path)
    # lowest: l o w e s t</w> -> (e,s) (es,t</w>) (l,o) then (lo,w); newer: n e w e r</w> -> (e,w) (e,r</w>).
    assert tokenizer.tokenize("Lowest newer") == ["low", "est</w>", "n", "ew", "er</w>"]
    assert tokenizer.encode("widest x") == [tokenizer.encoder["widest</w>"], 0]
    merges_lines = (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges_lines == ["#version: 0.2", *(f"{a} {b}" for a, b in TINY_MERGES)]
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["low</w>"] == 21 + 6
    reloaded = OpenAIGPTTokenizer.from_pretrained(tmp_path)
    assert reloaded.pre_tokenizer == "basic" and reloaded.get_vocab() == tokenizer.get_vocab()


def test_training_into_an_old_tokenizer_directory_drops_its_added_tokens(tmp_path):
    old = train_tokenizer(TINY_CORPUS * 3, vocab_size=1000, output_dir=tmp_path)
    old.add_paper_special_tokens()
    old.save_pretrained(tmp_path)
    new = train_tokenizer(TINY_CORPUS, vocab_size=1000, output_dir=tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert len(new) == len(vocab) and new.get_vocab() == vocab
    assert len(OpenAIGPTTokenizer.from_pretrained(tmp_path)) == len(vocab)


def _corpus():
    from pydoc_data.topics import topics

    return [paragraph for name in sorted(topics) for paragraph in topics[name].split("\n\n") if paragraph.strip()]


@pytest.mark.parametrize("pre_tokenizer", ["basic", "spacy_ftfy"])
def test_larger_corpus_round_trips_through_encode_decode(tmp_path, pre_tokenizer):
    texts = _corpus()
    start = time.perf_counter()
    tokenizer = train_tokenizer(texts, vocab_size=3000, output_dir=tmp_path, pre_tokenizer=pre_tokenizer)
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"training on {sum(map(len, texts)) / 1e6:.1f} MB took {elapsed:.1f} s"
    assert len(tokenizer) == 3000
    counts, _ = count_words(texts, pre_tokenizer)
    for text in texts[::25]:
        ids = tokenizer.encode(text)
        assert 0 not in ids  # every character of the corpus is in the vocabulary
        # Up to the pre-tokenizer's normalization, decoding gives the words separated by spaces.
        words = ["\n" if word == "\n " else word for word in pre_tokenize(text, pre_tokenizer)]
        assert tokenizer.decode(ids) == " ".join(words)
        assert len(ids) < sum(len(word) for word in words) or not words  # merges do shorten the text
    frequent = [word for word, count in counts.most_common(50) if word.isalpha()]
    assert all(len(tokenizer.tokenize(word)) == 1 for word in frequent)


def test_bad_training_input():
    with pytest.raises(TypeError, match="not a single str"):
        count_words("just one string")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str; got int"):
        count_words(["fine", 3])
