"""OpenAIGPTTokenizer: identical to the reference on the shared fixtures, fast paths equal to the slow
pipeline they replace, properties over arbitrary text, bad input, special tokens, files, batches."""
import json
import os
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_keras.tokenization.pre_tokenizers import fix_text, text_standardize
from gpt_keras.tokenizer import OpenAIGPTTokenizer

MODES = ("spacy_ftfy", "basic")
PAPER_TOKENS = ("_start_", "_delimiter_", "_classify_")
HYPOTHESIS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Characters that exercise every branch: cased Greek (final sigma), accents, CJK, controls, odd whitespace,
# ftfy's targets (mojibake, entities, curly quotes, ligatures), spaCy's special cases and punctuation runs.
TRICKY = st.sampled_from(
    list("aZ Σσς.,;:!?'\"-_()[]{}*/\\|+~&<>@#=`\n\r\t\x00\x0b\x1c\x85\xa0\u2028\u3000—–―…´éÅﬁＦ①😀\u200d\u0301中İ𬺰𬺯")
    + ["Mr.", "don't", "(-_-)", ":)", "(:", ":-)", ":>", ":P", "^_^", "'s>", "<unk>", "&amp;", "&lt;", "â€™", "Ã©", " \n ", "e.g.", "'s", "n't"]
)
TEXTS = st.one_of(st.text(max_size=40), st.lists(TRICKY, max_size=14).map("".join))


@pytest.fixture(scope="session")
def cases(shared_dir):
    with open(shared_dir / "fixtures" / "tokenizer" / "cases.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="session")
def tokenizers(vocab_dir):
    return {
        mode: OpenAIGPTTokenizer(vocab_dir / "vocab.json", vocab_dir / "merges.txt", pre_tokenizer=mode) for mode in MODES
    }


def fresh(vocab_dir, mode="basic", **kwargs):
    return OpenAIGPTTokenizer(vocab_dir / "vocab.json", vocab_dir / "merges.txt", pre_tokenizer=mode, **kwargs)


# === Identical to the reference (shared fixtures) ===


@pytest.mark.parametrize("mode", MODES)
def test_fixture_tokens_and_ids_are_the_references(tokenizers, cases, mode):
    tokenizer = tokenizers[mode]
    wrong = [
        case["text"]
        for case in cases
        if tokenizer.tokenize(case["text"]) != case[mode]["tokens"] or tokenizer.encode(case["text"]) != case[mode]["ids"]
    ]
    assert not wrong, f"{len(wrong)} of {len(cases)} texts differ, e.g. {wrong[:3]!r}"


def test_fixture_decoded_text_is_the_references(tokenizers, cases):
    tokenizer = tokenizers["spacy_ftfy"]
    for case in cases:
        expected = case["decoded"]
        assert tokenizer.convert_tokens_to_string(case["spacy_ftfy"]["tokens"]) == expected
        if 0 not in case["spacy_ftfy"]["ids"]:  # ids of unknown symbols decode as "<unk>"
            assert tokenizer.decode(case["spacy_ftfy"]["ids"]) == expected


@pytest.mark.parametrize("mode", MODES)
def test_fixture_batch_encoding_matches_one_by_one(tokenizers, cases, mode):
    texts = [case["text"] for case in cases[:60]]
    batch = tokenizers[mode](texts)
    assert batch["input_ids"] == [case[mode]["ids"] for case in cases[:60]]
    assert batch["attention_mask"] == [[1] * len(case[mode]["ids"]) for case in cases[:60]]


def test_cold_and_tiny_caches_give_the_same_ids(vocab_dir, cases):
    texts = [case["text"] for case in cases]
    tokenizer = fresh(vocab_dir, "spacy_ftfy", max_cache_size=7)
    assert [tokenizer.encode(text) for text in texts] == [case["spacy_ftfy"]["ids"] for case in cases]
    assert len(tokenizer._text_encoder.word_cache) <= 7 + max(len(text.split()) for text in texts)


# === Fast paths equal the plain pipeline they replace ===


@HYPOTHESIS
@given(text=st.lists(st.one_of(TEXTS, st.sampled_from(["<b>", "&amp;", "&lt;x&gt;", "\n", "ok\n"])), max_size=6).map("".join))
def test_fix_text_equals_ftfy(text):
    import ftfy

    assert fix_text(text) == ftfy.fix_text(text)


def _without_unk(text):
    while "<unk>" in text:
        text = text.replace("<unk>", "")
    return text


@pytest.fixture(scope="session")
def spacy_english():
    from spacy.lang.en import English

    return English().tokenizer


@HYPOTHESIS
@given(text=TEXTS)
def test_spacy_ftfy_mode_equals_whole_text_pipeline(tokenizers, spacy_english, text):
    """The word cache gives what ftfy + text_standardize + spaCy on the whole (lower-cased) text give."""
    import ftfy

    tokenizer = tokenizers["spacy_ftfy"]
    text = _without_unk(text)
    lowered = text.replace("Σ", "σ").lower()  # the reference lower-cases character by character
    doc = spacy_english(text_standardize(ftfy.fix_text(lowered)))
    expected = [symbol for token in doc for symbol in tokenizer._bpe.encode_word(token.text.lower())]
    assert tokenizer.tokenize(text) == expected


# Texts where spaCy's special-case matcher matches across a space and shadows a match inside a word, so
# that tokenizing word by word would differ from tokenizing the whole text (found by random search).
CROSSING_TEXTS = ["^ ) :>^_^", "( :>o _ 8", "' 's>. \\", "' ''s^_^)", "^_^ ( :P:P", "[ :>DDs", "em:o ) ."]


@pytest.mark.parametrize("text", CROSSING_TEXTS)
def test_special_cases_matching_across_words_are_handled(tokenizers, spacy_english, text):
    tokenizer = tokenizers["spacy_ftfy"]
    doc = spacy_english(text_standardize(text.lower()))
    word_by_word = [t.text for word in text_standardize(text.lower()).split() for t in spacy_english(word)]
    assert [t.text for t in doc] != word_by_word  # the case this test is about
    expected = [symbol for token in doc for symbol in tokenizer._bpe.encode_word(token.text.lower())]
    assert tokenizer.tokenize(text) == expected


# BERT's "Chinese character" blocks (gaps between them, e.g. U+2CEB0, are not split off).
CJK_BLOCKS = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]  # fmt: skip


def _basic_tokenizer_oracle(text):
    """BERT's BasicTokenizer (lower-casing), written out character by character."""
    out = []
    for char in text:
        cp, category = ord(char), unicodedata.category(char)
        if cp in (0, 0xFFFD) or (category.startswith("C") and char not in "\t\n\r"):
            continue
        if char in " \t\n\r" or category == "Zs":
            out.append(" ")
        elif any(low <= cp <= high for low, high in CJK_BLOCKS):
            out.append(f" {char} ")
        else:
            out.append(char)
    words = []
    for word in unicodedata.normalize("NFC", "".join(out)).split():
        word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        current = ""
        for char in word:
            if (33 <= ord(char) <= 47 or 58 <= ord(char) <= 64 or 91 <= ord(char) <= 96 or 123 <= ord(char) <= 126) or (
                unicodedata.category(char).startswith("P")
            ):
                words.extend([current, char] if current else [char])
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return " ".join(words).split()


@HYPOTHESIS
@given(text=TEXTS)
def test_basic_mode_equals_character_by_character_basic_tokenizer(tokenizers, text):
    tokenizer = tokenizers["basic"]
    text = _without_unk(text)
    lowered = text.replace("Σ", "σ").lower()
    expected = [s for word in _basic_tokenizer_oracle(lowered) for s in tokenizer._bpe.encode_word(word)]
    assert tokenizer.tokenize(text) == expected


# === Properties over arbitrary text ===


@pytest.mark.parametrize("mode", MODES)
@HYPOTHESIS
@given(text=st.text(max_size=60))
def test_any_str_encodes_in_range_and_decodes(tokenizers, mode, text):
    tokenizer = tokenizers[mode]
    ids = tokenizer.encode(text)
    assert all(0 <= index < len(tokenizer) for index in ids)
    assert isinstance(tokenizer.decode(ids), str)
    assert tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text)) == ids


@HYPOTHESIS
@given(ids=st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=30))
def test_decode_never_fails_on_any_ids(tokenizers, ids):
    tokenizer = tokenizers["basic"]
    text = tokenizer.decode(ids)
    assert isinstance(text, str)
    known = [i for i in ids if 0 <= i < tokenizer.vocab_size]
    assert tokenizer.decode(known) == tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(known))


@pytest.fixture(scope="module")
def paper_tokenizers(vocab_dir):
    tokenizers = {mode: fresh(vocab_dir, mode) for mode in MODES}
    for tokenizer in tokenizers.values():
        tokenizer.add_paper_special_tokens()
    return tokenizers


@pytest.mark.parametrize("mode", MODES)
@HYPOTHESIS
@given(parts=st.lists(st.one_of(TEXTS, st.sampled_from([*PAPER_TOKENS, "<pad>", "<unk>"])), max_size=8))
def test_special_tokens_are_never_split(paper_tokenizers, mode, parts):
    tokenizer = paper_tokenizers[mode]
    text = "".join(parts)
    tokens = tokenizer.tokenize(text)
    for special in (*PAPER_TOKENS, "<pad>"):
        # A special token matches its exact (case-sensitive) text wherever it stands.
        assert tokens.count(special) == text.count(special)


# === Bad input ===


@pytest.mark.parametrize("bad", [None, b"bytes", 3, 2.5, ["ok", 7]])
def test_non_str_input_is_a_type_error(tokenizers, bad):
    tokenizer = tokenizers["basic"]
    with pytest.raises(TypeError, match="str"):
        tokenizer(bad)
    if not isinstance(bad, list):
        for call in (tokenizer.tokenize, tokenizer.encode):
            with pytest.raises(TypeError, match="must be a str"):
                call(bad)


def test_decode_of_non_ids_is_a_type_error(tokenizers):
    with pytest.raises(TypeError, match="int"):
        tokenizers["basic"].decode("hello")


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def small_files(tmp_path):
    vocab = {"<unk>": 0, "a": 1, "b": 2, "a</w>": 3, "b</w>": 4, "ab</w>": 5}
    return _write(tmp_path / "vocab.json", json.dumps(vocab)), _write(tmp_path / "merges.txt", "#version: 0.2\na b</w>\n")


def test_small_vocabulary_merges_and_unknowns(small_files):
    tokenizer = OpenAIGPTTokenizer(*small_files, pre_tokenizer="basic")
    assert tokenizer.tokenize("ab ba c") == ["ab</w>", "b", "a</w>", "c</w>"]
    assert tokenizer.encode("ab ba c") == [5, 2, 3, 0]


@pytest.mark.parametrize(
    "vocab_text, message",
    [("", "vocab.json is empty"), ("{oops", "not valid JSON \\(line 1"), ("[1, 2]", "holds a list"), ('{"a": "x"}', "expected an int")],
)
def test_malformed_vocabulary_names_the_file(small_files, vocab_text, message):
    vocab_path, merges_path = small_files
    _write(vocab_path, vocab_text)
    with pytest.raises(ValueError, match=message):
        OpenAIGPTTokenizer(vocab_path, merges_path, pre_tokenizer="basic")


@pytest.mark.parametrize(
    "merges_text, message",
    [
        ("", "merges.txt is empty"),
        ("#version: 0.2\n", "merges.txt is empty"),
        ("#version: 0.2\na b</w>\nab\n", "merges.txt, line 3: 'ab' is not a merge"),
        ("#version: 0.2\na  b</w>\n", "line 2"),
        ("#version: 0.2\na c</w>\n", "line 2: symbol 'c</w>' .* not in the vocabulary"),
        ("#version: 0.2\nb a</w>\n", "symbol 'ba</w>' .* not in the vocabulary"),
    ],
)
def test_malformed_merges_name_the_file_and_line(small_files, merges_text, message):
    vocab_path, merges_path = small_files
    _write(merges_path, merges_text)
    with pytest.raises(ValueError, match=message):
        OpenAIGPTTokenizer(vocab_path, merges_path, pre_tokenizer="basic")


def test_missing_files_are_named(tmp_path, small_files):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        OpenAIGPTTokenizer(tmp_path / "nope.json", small_files[1])
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        OpenAIGPTTokenizer(small_files[0], tmp_path / "nope.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no vocabulary in .*empty: expected vocab.json"):
        OpenAIGPTTokenizer.from_pretrained(tmp_path / "empty")


def test_bad_pre_tokenizer_name(small_files):
    with pytest.raises(ValueError, match="'auto', 'spacy_ftfy' or 'basic'"):
        OpenAIGPTTokenizer(*small_files, pre_tokenizer="nltk")


# === Special tokens, files ===


def test_paper_special_tokens_follow_the_vocabulary(vocab_dir):
    tokenizer = fresh(vocab_dir)
    vocab_size = tokenizer.vocab_size
    rows = tokenizer.add_paper_special_tokens()
    assert rows == len(tokenizer) == vocab_size + 4
    assert tokenizer.convert_tokens_to_ids([*PAPER_TOKENS, "<pad>"]) == list(range(vocab_size, vocab_size + 4))
    assert (tokenizer.bos_token, tokenizer.sep_token, tokenizer.cls_token, tokenizer.pad_token) == (*PAPER_TOKENS, "<pad>")
    assert tokenizer.add_paper_special_tokens() == rows  # idempotent
    # "hello</w>" is in the vocabulary already: it becomes never-split but keeps its id.
    assert tokenizer.add_tokens(["Brandnewword", "hello</w>"]) == 1
    assert len(tokenizer) == rows + 1 and tokenizer.vocab_size == vocab_size
    assert tokenizer.convert_tokens_to_ids("hello</w>") == tokenizer.encoder["hello</w>"]
    assert tokenizer.tokenize("a brandnewword b") == ["a</w>", "brandnewword", "b</w>"]


def test_skip_special_tokens_drops_exactly_the_special_ids(paper_tokenizers):
    tokenizer = paper_tokenizers["spacy_ftfy"]
    ids = tokenizer.encode("_start_ Hello, world _delimiter_ again _classify_<pad>")
    special = set(tokenizer.all_special_ids)
    assert special & set(ids)
    plain = [i for i in ids if i not in special]
    assert tokenizer.decode(ids, skip_special_tokens=True) == tokenizer.decode(plain)


def test_save_and_load_round_trip(paper_tokenizers, tmp_path):
    tokenizer = paper_tokenizers["basic"]
    tokenizer.add_tokens(["zyxwv"])
    paths = tokenizer.save_pretrained(tmp_path / "saved")
    names = ["merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]
    assert sorted(os.path.basename(p) for p in paths) == names
    loaded = OpenAIGPTTokenizer.from_pretrained(tmp_path / "saved")
    text = "_start_ Zyxwv and <pad> _classify_ text"
    assert loaded.pre_tokenizer == "basic"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert len(loaded) == len(tokenizer) and loaded.pad_token_id == tokenizer.pad_token_id
    assert loaded.get_vocab() == tokenizer.get_vocab()
    prefixed = tokenizer.save_vocabulary(tmp_path, filename_prefix="x")
    assert [os.path.basename(p) for p in prefixed] == ["x-vocab.json", "x-merges.txt"]


class _BreaksHalfWay(list):
    """Merges whose iteration fails after a few pairs, as a full disk or a kill half-way through would."""

    def __iter__(self):
        for number, pair in enumerate(list.__iter__(self)):
            if number == 3:
                raise OSError("No space left on device")
            yield pair


def test_a_failed_save_leaves_the_saved_files_as_they_were(paper_tokenizers, small_files, tmp_path):
    directory = tmp_path / "saved"
    paper_tokenizers["basic"].save_pretrained(directory)
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    other = OpenAIGPTTokenizer(*small_files, pre_tokenizer="basic")  # another vocabulary, so vocab.json would change
    other._bpe.merges = _BreaksHalfWay(other._bpe.merges * 5)
    with pytest.raises(OSError, match="No space left"):
        other.save_pretrained(directory)
    # Not a new vocab.json beside the old merges.txt, nor a truncated file, nor a leftover temporary one.
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before
    with pytest.raises(OSError, match="No space left"):
        other.save_vocabulary(directory)
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before


def test_loads_reference_and_original_layouts(vocab_dir, tmp_path, cases):
    reference = tmp_path / "reference"
    reference.mkdir()
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(vocab_dir / name, reference / name)
    config = {
        "added_tokens_decoder": {
            "0": {"content": "<unk>", "special": True, "lstrip": False, "rstrip": False, "normalized": False},
            "40478": {"content": "_start_", "special": True, "lstrip": False, "rstrip": False, "normalized": False},
        },
        "bos_token": "_start_",
        "unk_token": "<unk>",
        "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "OpenAIGPTTokenizer",
    }
    (reference / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = OpenAIGPTTokenizer.from_pretrained(reference, pre_tokenizer="basic")
    assert tokenizer.bos_token_id == 40478 and len(tokenizer) == 40479
    original = tmp_path / "original"
    original.mkdir()
    os.symlink(vocab_dir / "vocab.json", original / "encoder_bpe_40000.json")
    os.symlink(vocab_dir / "merges.txt", original / "vocab_40000.bpe")
    tokenizer = OpenAIGPTTokenizer.from_pretrained(original, pre_tokenizer="basic")
    assert [tokenizer.encode(case["text"]) for case in cases[:50]] == [case["basic"]["ids"] for case in cases[:50]]


def test_auto_mode_resolves_to_an_available_pre_tokenizer(small_files):
    assert OpenAIGPTTokenizer(*small_files).pre_tokenizer == "spacy_ftfy"  # both are installed here


# === Batches, multiple choice, streaming ===


def test_padding_truncation_and_tensors(paper_tokenizers):
    tokenizer = paper_tokenizers["basic"]
    pad = tokenizer.pad_token_id
    texts = ["hello world", "a b c d e"]
    lengths = [len(tokenizer.encode(t)) for t in texts]
    right = tokenizer(texts, padding=True)
    assert [len(row) for row in right["input_ids"]] == [max(lengths)] * 2
    assert right["input_ids"][0] == tokenizer.encode(texts[0]) + [pad] * (max(lengths) - lengths[0])
    assert right["attention_mask"][0] == [1] * lengths[0] + [0] * (max(lengths) - lengths[0])
    left = tokenizer(texts, padding=True, padding_side="left", return_tensors="np")
    # int64, as the reference's (np.asarray of python ints); "tf" tensors are int32, as tf.constant makes them.
    assert left["input_ids"].shape == (2, max(lengths)) and left["input_ids"].dtype == np.int64
    assert left["input_ids"][0].tolist() == [pad] * (max(lengths) - lengths[0]) + tokenizer.encode(texts[0])
    fixed = tokenizer(texts, padding="max_length", truncation=True, max_length=4, return_tensors="tf")
    assert tuple(fixed["input_ids"].shape) == (2, 4)
    assert fixed["input_ids"].numpy()[1].tolist() == tokenizer.encode(texts[1])[:4]
    pair = tokenizer("one two three four five", text_pair="six seven", truncation=True, max_length=5)
    assert pair["input_ids"] == tokenizer.encode("one two three") + tokenizer.encode("six seven")
    single = tokenizer("hello world", return_attention_mask=False)
    assert single == {"input_ids": tokenizer.encode("hello world")}
    with pytest.raises(ValueError, match="padding=True"):
        tokenizer(texts, return_tensors="np")


def test_padding_without_pad_token_says_how_to_add_one(tokenizers):
    with pytest.raises(ValueError, match="pad token"):
        tokenizers["basic"](["a", "a b"], padding=True)


@pytest.mark.parametrize("side", ["left", "right"])
def test_multiple_choice_layout_and_truncation(paper_tokenizers, side):
    tokenizer = paper_tokenizers["basic"]
    start, delimiter, classify = tokenizer.convert_tokens_to_ids(list(PAPER_TOKENS))
    context = "one two three four five six seven"
    endings = ["eight", "nine ten eleven"]
    full = tokenizer.encode_multiple_choice(context, endings, return_tensors="np")
    context_ids = tokenizer.encode(context)
    assert full["input_ids"].shape == (2, len(context_ids) + 3 + 3)
    assert full["input_ids"][1].tolist() == [start, *context_ids, delimiter, *tokenizer.encode(endings[1]), classify]
    assert full["mc_token_ids"].tolist() == [len(context_ids) + 3, len(context_ids) + 5]
    assert full["attention_mask"].sum(axis=1).tolist() == [m + 1 for m in full["mc_token_ids"].tolist()]
    cut = tokenizer.encode_multiple_choice(context, endings, max_length=8, context_truncation_side=side)
    for row, position, ending in zip(cut["input_ids"], cut["mc_token_ids"], endings):
        ending_ids = tokenizer.encode(ending)
        assert len(row) <= 8 and row[position] == classify
        assert row[position - len(ending_ids) : position] == ending_ids  # the ending is whole
        kept = row[1 : position - len(ending_ids) - 1]
        assert kept == (context_ids[len(context_ids) - len(kept) :] if side == "left" else context_ids[: len(kept)])
        assert len(kept) == 8 - 3 - len(ending_ids)
    batch = tokenizer.encode_multiple_choice([context, "short"], [endings, ["x", "y"]], max_length=8, return_tensors="np")
    assert batch["input_ids"].shape[:2] == (2, 2) and batch["mc_token_ids"].shape == (2, 2)
    with pytest.raises(ValueError, match="never truncated"):
        tokenizer.encode_multiple_choice(context, ["a b c d e f"], max_length=5)


def test_multiple_choice_needs_the_paper_tokens(tokenizers):
    with pytest.raises(ValueError, match="add_paper_special_tokens"):
        tokenizers["basic"].encode_multiple_choice("context", ["a", "b"])


def test_incremental_decoding_adds_up_to_decode(tokenizers, cases):
    tokenizer = tokenizers["spacy_ftfy"]
    for case in cases[::20]:
        ids = case["spacy_ftfy"]["ids"]
        stream = tokenizer.decode_stream()
        pieces = [stream.step(index) for index in ids]
        assert "".join(pieces) + stream.flush() == tokenizer.decode(ids)


@pytest.mark.parametrize("kind", ["np", "tf"])
def test_one_text_with_return_tensors_is_a_batch_of_one(tokenizers, kind):
    tokenizer = tokenizers["basic"]
    # As the reference, so that model(**tokenizer(text, return_tensors=...)) works.
    out = tokenizer("the cat sat", return_tensors=kind)
    plain = tokenizer("the cat sat")
    assert tuple(out["input_ids"].shape) == (1, len(plain["input_ids"]))
    np.testing.assert_array_equal(np.asarray(out["input_ids"])[0], plain["input_ids"])
    np.testing.assert_array_equal(np.asarray(out["attention_mask"])[0], plain["attention_mask"])


def test_batch_decode_decodes_each_row(tokenizers):
    tokenizer = tokenizers["basic"]
    texts = ["the cat sat", "hello world !"]
    rows = [tokenizer.encode(text) for text in texts]
    expected = [tokenizer.decode(row) for row in rows]
    assert tokenizer.batch_decode(rows) == expected
    width = max(len(row) for row in rows)
    padded = np.array([row + [0] * (width - len(row)) for row in rows])
    assert tokenizer.batch_decode(padded[:1]) == expected[:1]
    with pytest.raises(ValueError, match="must be 2-D"):
        tokenizer.batch_decode(padded[0])



# === The reference's truncation and padding, where they used to differ silently (issue 16) ===
# Expected values: the reference's, recorded in tests/fixtures/reference_tokenizer.json.


@pytest.fixture(scope="module")
def reference_steps():
    fixture = json.loads((Path(__file__).parent / "fixtures" / "reference_tokenizer.json").read_text(encoding="utf-8"))

    def steps(case, mode="basic"):
        return [step.get("result", step.get("error")) for step in fixture["cases"][mode][case]]

    return steps


PAIR = ["one two three", "four five six"]
LONG = "the quick brown fox jumps over the lazy dog"


@pytest.mark.parametrize("strategy", ["only_first", "only_second", "do_not_truncate", "longest_first"])
def test_each_truncation_strategy_is_the_references(tokenizers, reference_steps, strategy):
    # A pair of 3 + 3 tokens cut to 4: "only_first" keeps 1 + 3, "only_second" 3 + 1, "do_not_truncate" all.
    expected = reference_steps(f"truncation_{strategy}_right")[0]["data"]["input_ids"]
    assert tokenizers["basic"](*PAIR, truncation=strategy, max_length=4)["input_ids"] == expected


def test_an_unknown_truncation_strategy_is_refused(tokenizers):
    for name in ("longest", "only_third"):
        with pytest.raises(ValueError, match="truncation must be"):
            tokenizers["basic"](*PAIR, truncation=name, max_length=4)


def test_padding_side_set_as_an_attribute_is_honoured(vocab_dir, reference_steps):
    tokenizer = fresh(vocab_dir)
    tokenizer.add_special_tokens({"pad_token": "<unk>"})
    tokenizer.padding_side = "left"
    texts = ["Testing batch encode plus", "Testing batch encode plus with different sequence lengths"]
    assert tokenizer(texts, padding=True)["input_ids"] == reference_steps("padding_side_as_attribute_and_keyword")[2]["data"]["input_ids"]


def test_truncation_side_set_as_an_attribute_is_honoured(vocab_dir, reference_steps):
    tokenizer = fresh(vocab_dir)
    tokenizer.truncation_side = "left"
    assert tokenizer.encode(LONG, truncation=True, max_length=3) == reference_steps("truncation_side_as_attribute")[1]


def test_max_length_alone_truncates_with_the_references_warning(vocab_dir, reference_steps, caplog):
    tokenizer = fresh(vocab_dir)
    with caplog.at_level("WARNING", logger="gpt_keras"):
        output = tokenizer(LONG, max_length=3)
    assert output["input_ids"] == reference_steps("max_length_alone_truncates_with_a_warning")[0]["data"]["input_ids"]
    assert any("Truncation was not explicitly activated" in record.getMessage() for record in caplog.records)
