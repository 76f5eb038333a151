"""OpenAIGPTTokenizerLayer: the ids of OpenAIGPTTokenizer(pre_tokenizer="basic") in TensorFlow ops, eagerly,
under tf.function, in tf.data and from a SavedModel loaded where gpt_keras cannot be imported; every code
point against Python's unicodedata; bad input; padding, multiple choice, decoding; Keras save/load."""
import json
import queue
import random
import subprocess
import textwrap
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_keras import TFOpenAIGPTModel
from gpt_keras.export import export_saved_model
from gpt_keras.tokenization import AddedToken, OpenAIGPTTokenizer, OpenAIGPTTokenizerLayer
from gpt_keras.tokenization.bpe_training import pre_tokenize
from helpers import tiny_config
from text_serving import isolated_python

HYPOTHESIS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Any text: every code point but surrogates (not str-encodable), with the tokens the tokenizer keeps whole.
TEXTS = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
        st.text("aAbΣσİé\u0301\u0345 .,!'\t\n\u00a0\u2028中\uf900\U0001d165\u302e", max_size=8),
        st.sampled_from(["<unk>", "<UNK>", "[CLS]", "[cls]", "hello", "HeLLo", "ΑΣ", "\x00", "\ufffd"]),
    ),
    max_size=6,
).map("".join)
BATCHES = st.lists(TEXTS, min_size=1, max_size=6)

# Where tf.strings.lower(encoding="utf-8") (ICU) and the reference's lower-casing (str.lower of each
# character) differ, per code point, with this TensorFlow and Python (Unicode 14.0): ICU drops U+0000 and
# does not know the letters Unicode 14 added. (In context it also writes a word-final capital sigma as
# "ς", where the reference writes "σ".) The layer uses neither: its tables come from unicodedata.
TF_LOWER_DIFFERS = [
    0x0000, 0x2C2F, 0xA7C0, 0xA7D0, 0xA7D6, 0xA7D8,
    *range(0x10570, 0x1057B), *range(0x1057C, 0x1058B), *range(0x1058C, 0x10593), 0x10594, 0x10595,
]  # fmt: skip


def _rows(ragged):
    return ragged.to_list()


@pytest.fixture(scope="module")
def tokenizer(vocab_dir):
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    tokenizer.add_special_tokens({"additional_special_tokens": ["[CLS]"]})
    tokenizer.add_tokens(["HeLLo"])  # stored lower-cased, never split, not special
    return tokenizer


@pytest.fixture(scope="module")
def layer(tokenizer):
    return OpenAIGPTTokenizerLayer(tokenizer)


@pytest.fixture(scope="module")
def plain(vocab_dir):
    """The released vocabulary as it is (only <unk> is never split): the fixture cases' ids."""
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    return tokenizer, OpenAIGPTTokenizerLayer(tokenizer)


@pytest.fixture(scope="module")
def cases(shared_dir):
    with open(shared_dir / "fixtures" / "tokenizer" / "cases.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _through_tf_data(function, texts, batch_size=16):
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(batch_size)
    dataset = dataset.map(function, num_parallel_calls=tf.data.AUTOTUNE)
    return [row for batch in dataset for row in _rows(batch)]


def test_the_fixture_cases_eagerly_under_tf_function_and_in_tf_data(plain, cases):
    _, layer = plain
    texts = [case["text"] for case in cases]
    expected = [case["basic"]["ids"] for case in cases]
    assert _rows(layer.tokenize(texts)) == expected
    traced = tf.function(layer.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    assert _rows(traced(tf.constant(texts))) == expected
    assert _through_tf_data(layer.tokenize, texts) == expected


def test_detokenize_writes_what_decode_writes(tokenizer, layer, cases):
    rows = [tokenizer.encode(case["text"]) for case in cases] + [[0, 5, 40478, 40479, 40480, -3, 99999]]
    ids = tf.ragged.constant(rows, dtype=tf.int32)
    for skip in (False, True):
        got = [text.decode() for text in layer.detokenize(ids, skip_special_tokens=skip).numpy()]
        assert got == [tokenizer.decode(row, skip_special_tokens=skip) for row in rows]


@pytest.fixture(scope="module")
def tf_data_tokenize(layer):
    """One tf.data pipeline (parallel map) for many requests: making an iterator takes ~0.5 s."""
    requests = queue.Queue()

    def batches():
        while (texts := requests.get()) is not None:
            yield texts

    dataset = tf.data.Dataset.from_generator(batches, output_signature=tf.TensorSpec([None], tf.string))
    dataset = dataset.map(layer.tokenize, num_parallel_calls=tf.data.AUTOTUNE)
    iterator = iter(dataset)

    def tokenize(texts):
        requests.put(np.array([text.encode() for text in texts], dtype=object))
        return _rows(next(iterator))

    yield tokenize
    requests.put(None)


@HYPOTHESIS
@given(texts=BATCHES)
def test_any_text_eagerly_under_tf_function_and_in_tf_data(tokenizer, layer, tf_data_tokenize, texts):
    expected = [tokenizer.encode(text) for text in texts]
    assert _rows(layer.tokenize(texts)) == expected
    assert _rows(_traced_tokenize(layer)(tf.constant(texts))) == expected
    assert tf_data_tokenize(texts) == expected
    decoded = [text.decode() for text in layer.detokenize(tf.ragged.constant(expected, tf.int32)).numpy()]
    assert decoded == [tokenizer.decode(ids) for ids in expected]


_TRACED = {}


def _traced_tokenize(layer):
    if id(layer) not in _TRACED:
        _TRACED[id(layer)] = tf.function(layer.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    return _TRACED[id(layer)]


def test_every_code_point_is_pre_tokenized_as_python_does(plain):
    """Each code point (surrogates aside) between spaces: the words equal the Python pre-tokenizer's."""
    _, layer = plain
    codes = [code for code in range(0x110000) if not 0xD800 <= code < 0xE000]
    texts = [" ".join(map(chr, codes[start : start + 8192])) for start in range(0, len(codes), 8192)]
    got = [[word.decode() for word in row] for row in _rows(layer.pre_tokenize(texts))]
    assert got == [pre_tokenize(text) for text in texts]


def test_accents_and_marks_in_any_order_are_stripped_and_reordered_as_nfd_does(plain):
    """NFC before lower-casing, NFD's canonical reordering: random mixes of bases, marks, jamo and cased
    letters (the layer has neither normalization, so this is where its tables could go wrong)."""
    _, layer = plain
    every = [code for code in range(0x30000) if not 0xD800 <= code < 0xE000]
    pools = [
        [c for c in every if unicodedata.normalize("NFD", chr(c)) != chr(c)],
        [c for c in every if unicodedata.combining(chr(c))],
        [c for c in every if unicodedata.category(chr(c)) == "Mn" and not unicodedata.combining(chr(c))],
        [c for c in every if unicodedata.combining(chr(c)) and unicodedata.category(chr(c)) != "Mn"],
        [*range(0x1100, 0x1113), *range(0x1161, 0x1176), *range(0x11A8, 0x11C3)],
        [c for c in every if chr(c).lower() != chr(c)],
        [0x130, 0x3A3, 0x345, 0x20, 0x41, 0x2E],
    ]
    rng = random.Random(0)
    texts = ["".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(1, 8))) for _ in range(4000)]
    got = [[word.decode() for word in row] for row in _rows(layer.pre_tokenize(texts))]
    assert got == [pre_tokenize(text) for text in texts]


def test_where_tf_lower_differs_from_python_the_layer_follows_python(plain):
    tokenizer, layer = plain
    codes = [code for code in range(0x110000) if not 0xD800 <= code < 0xE000]
    lowered = tf.strings.lower(tf.constant([chr(code).encode() for code in codes]), encoding="utf-8").numpy()
    differs = [code for code, low in zip(codes, lowered) if low.decode() != chr(code).replace("Σ", "σ").lower()]
    assert differs == TF_LOWER_DIFFERS, "update TF_LOWER_DIFFERS and the README's list"
    texts = [f"x{chr(code)}y {chr(code)}" for code in differs] + ["ΑΣ ΟΔΟΣ"]
    assert _rows(layer.tokenize(texts)) == [tokenizer.encode(text) for text in texts]
    got = [[word.decode() for word in row] for row in _rows(layer.pre_tokenize(texts))]
    assert got == [pre_tokenize(text) for text in texts]


@HYPOTHESIS
@given(chunks=st.lists(st.binary(max_size=6), min_size=1, max_size=5))
def test_bytes_that_are_not_utf8_are_refused_by_index(plain, chunks):
    _, layer = plain

    def is_utf8(data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    bad = [index for index, chunk in enumerate(chunks) if not is_utf8(chunk)]
    if not bad:
        assert len(_rows(layer.tokenize(tf.constant(chunks)))) == len(chunks)
        return
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"prompts\[{bad[0]}\] is not valid UTF-8"):
        layer.tokenize(tf.constant(chunks), input_name="prompts")


def test_bad_utf8_under_tf_function_and_in_tf_data_is_an_invalid_argument(plain):
    _, layer = plain
    texts = tf.constant([b"fine", b"caf\xc3", b"\xff"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"texts\[1\] is not valid UTF-8"):
        _traced_tokenize(layer)(texts)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"texts\[1\] is not valid UTF-8"):
        list(tf.data.Dataset.from_tensors(texts).map(layer.tokenize))


def test_empty_texts_give_empty_rows_and_an_empty_batch_no_rows(plain):
    tokenizer, layer = plain
    assert _rows(layer.tokenize(["", "a", "", " \t\n", "\x00"])) == [[], tokenizer.encode("a"), [], [], []]
    assert _rows(layer.tokenize(tf.constant([], tf.string))) == []
    outputs = layer(tf.constant(["", ""]))
    assert outputs["input_ids"].shape == (2, 0) and outputs["attention_mask"].shape == (2, 0)


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("truncation_side", ["right", "left"])
def test_padding_and_truncation(tokenizer, padding_side, truncation_side):
    layer = OpenAIGPTTokenizerLayer(tokenizer, sequence_length=6, padding_side=padding_side, truncation_side=truncation_side, pad_token_id=7)
    texts = ["Hello, world! How are you today?", "Hi", ""]
    outputs = {key: value.numpy().tolist() for key, value in layer(tf.constant(texts)).items()}
    for row, text in enumerate(texts):
        ids = tokenizer.encode(text)
        ids = ids[:6] if truncation_side == "right" else ids[-6:]
        pad = [7] * (6 - len(ids))
        mask = [1] * len(ids)
        if padding_side == "right":
            assert outputs["input_ids"][row] == ids + pad and outputs["attention_mask"][row] == mask + [0] * len(pad)
        else:
            assert outputs["input_ids"][row] == pad + ids and outputs["attention_mask"][row] == [0] * len(pad) + mask
    longest = OpenAIGPTTokenizerLayer(tokenizer)(tf.constant(texts))
    assert longest["input_ids"].shape == (3, len(tokenizer.encode(texts[0])))


@pytest.mark.parametrize("side", ["left", "right"])
def test_multiple_choice_layout_equals_the_python_tokenizer(vocab_dir, side):
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    tokenizer.add_paper_special_tokens()
    layer = OpenAIGPTTokenizerLayer(tokenizer)
    contexts = ["Karen was assigned a roommate her first year of college.", "It rained."]
    endings = [["Karen became good friends with her roommate.", "Karen hated her roommate."], ["We stayed in.", "Sun!"]]
    for max_length in (None, 14):
        got = layer.encode_multiple_choice(contexts, endings, max_length=max_length, context_truncation_side=side)
        want = tokenizer.encode_multiple_choice(contexts, endings, max_length=max_length, context_truncation_side=side)
        for key in ("input_ids", "mc_token_ids", "attention_mask"):
            assert got[key].numpy().tolist() == want[key], key
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not fit in max_length=5"):
        layer.encode_multiple_choice(contexts, endings, max_length=5)
    with pytest.raises(ValueError, match="add_paper_special_tokens"):
        OpenAIGPTTokenizerLayer(OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")).encode_multiple_choice(
            contexts, endings
        )


def test_a_tokenizer_directory_works_and_the_spacy_mode_is_refused(vocab_dir):
    layer = OpenAIGPTTokenizerLayer(vocab_dir)
    basic = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    assert _rows(layer.tokenize(["Hello, world!"])) == [basic.encode("Hello, world!")]
    with pytest.raises(ValueError, match="pre_tokenizer='basic'"):
        OpenAIGPTTokenizerLayer(OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="spacy_ftfy"))


def test_encoding_tables_are_plain_data_of_the_added_tokens_and_what_the_layer_is_built_from(vocab_dir):
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    tokenizer.add_paper_special_tokens()
    tokenizer.add_tokens(["HeLLo"])
    tokenizer.mask_token = "<MASK>"  # named only: protected from lower-casing, not added
    tables = tokenizer.encoding_tables()
    assert json.loads(json.dumps(tables)) == tables
    assert tables["vocabulary"] == tokenizer.encoder and len(tables["vocabulary"]) == tokenizer.vocab_size == 40478
    assert tables["merges"][:2] == ["t h", "i n"] and len(tables["merges"]) == 40000
    assert tables["never_split"] == [["<unk>", 0], ["_start_", 40478], ["_delimiter_", 40479], ["_classify_", 40480],
                                     ["<pad>", 40481], ["hello", 40482]]  # fmt: skip
    assert tables["protected"] == ["_start_", "<unk>", "_delimiter_", "<pad>", "_classify_", "<MASK>", "hello"]
    assert tables["special_tokens"] == tokenizer.all_special_tokens
    assert tables["set_apart"] == ["hello"]
    assert tables["named_tokens"] == {"bos_token": "_start_", "unk_token": "<unk>", "sep_token": "_delimiter_",
                                      "pad_token": "<pad>", "cls_token": "_classify_", "mask_token": "<MASK>"}  # fmt: skip
    assert tables["clean_up_tokenization_spaces"] is False
    assert OpenAIGPTTokenizerLayer(tokenizer).get_config()["tokenizer"] == tables


def test_added_special_and_plain_tokens_give_the_python_tokenizers_ids_and_text(vocab_dir, cases):
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic", clean_up_tokenization_spaces=True)
    tokenizer.add_paper_special_tokens()
    tokenizer.add_tokens(["HeLLo", AddedToken("<Keep>", normalized=False)])
    tokenizer.add_special_tokens({"additional_special_tokens": ["[CLS]"]})
    tokenizer.mask_token = "<MASK>"
    layer = OpenAIGPTTokenizerLayer(tokenizer)
    texts = [
        "_start_ Hello, world! _delimiter_ it's <Keep> <keep> [CLS] hello_classify_ <pad> <MASK> don't .",
        "HeLLo<unk>x_START_", "", *[case["text"] for case in cases],
    ]  # fmt: skip
    rows = [tokenizer.encode(text) for text in texts]
    assert _rows(layer.tokenize(texts)) == rows
    assert layer.token_id("pad_token") == tokenizer.pad_token_id and layer.token_id("mask_token") == tokenizer.mask_token_id
    rows.append([0, 5, 40478, 40481, 40482, 40483, 40484, -3, 99999])
    ids = tf.ragged.constant(rows, dtype=tf.int32)
    for skip in (False, True):
        for clean_up in (None, False):
            texts = layer.detokenize(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=clean_up).numpy()
            want = [tokenizer.decode(row, skip_special_tokens=skip, clean_up_tokenization_spaces=clean_up) for row in rows]
            assert [text.decode() for text in texts] == want


@pytest.mark.parametrize("flag", ["lstrip", "rstrip", "single_word"])
def test_added_tokens_with_flags_the_layer_cannot_reproduce_are_refused(vocab_dir, flag):
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    tokenizer.add_special_tokens({"additional_special_tokens": [AddedToken("<note>", special=True, **{flag: True})]})
    with pytest.raises(ValueError, match=f"'<note>' with {flag}=True"):
        OpenAIGPTTokenizerLayer(tokenizer)
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic", split_special_tokens=True)
    with pytest.raises(ValueError, match="split_special_tokens=True"):
        OpenAIGPTTokenizerLayer(tokenizer)


def test_inside_a_functional_model_through_keras_save_and_load(tokenizer, layer, tmp_path):
    texts = tf.constant(["Hello, world!", "[CLS] HeLLo there <UNK>", ""])
    inputs = keras.Input(shape=(), dtype="string", name="text")
    outputs = OpenAIGPTTokenizerLayer(tokenizer, sequence_length=8, padding_side="left", name="tokenizer")(inputs)
    model = keras.Model(inputs, outputs)
    expected = model(texts)
    model.save(tmp_path / "tokenizer.keras")
    reloaded = keras.models.load_model(tmp_path / "tokenizer.keras")
    for key in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(reloaded(texts)[key], expected[key])
    config = json.loads(json.dumps(layer.get_config()))
    assert _rows(OpenAIGPTTokenizerLayer.from_config(config).tokenize(texts)) == _rows(layer.tokenize(texts))


# Runs in a fresh process: gpt_keras refused; tokenizes the texts of each stdin line, one reply line each.
SERVER = textwrap.dedent(
    """
    import base64, json

    import tensorflow as tf

    tokenize = tf.saved_model.load(sys.argv[1]).signatures["tokenize"]
    print(json.dumps(sorted(name for name in sys.modules if name.startswith("gpt_keras"))), flush=True)
    for line in sys.stdin:
        texts = [base64.b64decode(text) for text in json.loads(line)]
        out = tokenize(texts=tf.constant(texts, tf.string))
        rows = [ids[mask > 0].tolist() for ids, mask in zip(out["input_ids"].numpy(), out["attention_mask"].numpy())]
        print(json.dumps(rows), flush=True)
    """
)


@pytest.fixture(scope="module")
def served_tokenize(tokenizer, tmp_path_factory):
    """The `tokenize` signature of an export, run by a process that cannot import gpt_keras."""
    import base64

    model = TFOpenAIGPTModel(tiny_config(vocab_size=len(tokenizer), n_embd=8, n_head=1, n_layer=1))
    version = export_saved_model(model, tmp_path_factory.mktemp("export") / "base", tokenizer=tokenizer)
    argv, env = isolated_python(SERVER, version)
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=version.parent, env=env)
    assert json.loads(process.stdout.readline()) == []

    def tokenize(texts):
        process.stdin.write(json.dumps([base64.b64encode(text.encode()).decode() for text in texts]) + "\n")
        process.stdin.flush()
        return json.loads(process.stdout.readline())

    yield tokenize
    process.kill()
    process.wait(timeout=60)


def test_the_saved_model_tokenizes_the_fixture_cases_without_gpt_keras(served_tokenize, tokenizer, cases):
    texts = [case["text"] for case in cases]
    assert served_tokenize(texts) == [tokenizer.encode(text) for text in texts]


@HYPOTHESIS
@given(texts=BATCHES)
def test_the_saved_model_tokenizes_any_text_without_gpt_keras(served_tokenize, tokenizer, texts):
    assert served_tokenize(texts) == [tokenizer.encode(text) for text in texts]
