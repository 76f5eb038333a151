"""Reading (ROCStories CSV, multiple-choice JSONL, classification CSV/JSONL) with errors that name
file and line, encoding into the models' input dicts, packing, batching and the resumable stream."""
import numpy as np
import pytest

from gpt_keras import data
from gpt_keras.data import readers
from gpt_keras.tokenizer import OpenAIGPTTokenizer

HEADER = "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding"


@pytest.fixture(scope="module")
def tokenizer(vocab_dir):
    tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    tokenizer.add_paper_special_tokens()
    return tokenizer


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def story(i, answer="1", ending2="He went home."):
    return f"id{i},Tom had a dog.,The dog was old.,It slept a lot.,One day it ran.,Tom was happy.,{ending2},{answer}"


def test_rocstories_rows_become_contexts_endings_and_zero_based_labels(tmp_path):
    # Row 3 has a quoted field over two lines: the next row's line number must count both.
    path = write(tmp_path / "cloze.csv", [HEADER, story(1, "2"), 'id2,"Ann sang,\nloudly.",b.,c.,d.,e1.,e2.,1', story(3)])
    examples = data.read_rocstories(path)
    assert [e.label for e in examples] == [1, 0, 0]
    assert examples[0].context == "Tom had a dog. The dog was old. It slept a lot. One day it ran."
    assert examples[0].endings == ["Tom was happy.", "He went home."]
    assert examples[1].context.startswith("Ann sang,\nloudly. b.")
    assert [e.source for e in examples] == [f"{path}:2", f"{path}:3", f"{path}:5"]


@pytest.mark.parametrize(
    "bad_row, message",
    [
        (story(9, "3"), "AnswerRightEnding must be 1 or 2, got '3'"),
        ("id9,a.,b.,c.,d.,e1.,e2.", "expected 8 fields as in the header, got 7"),
        ("id9,a.,b.,,d.,e1.,e2.,1", "'InputSentence3' must be a non-empty string"),
        ("id9,a.,b.,c.,d.,e1.,e2.,1,extra", "expected 8 fields as in the header, got 9"),
    ],
)
def test_a_malformed_rocstories_row_is_reported_with_file_and_line(tmp_path, bad_row, message):
    path = write(tmp_path / "cloze.csv", [HEADER, story(1), "", story(2), bad_row, story(3)])
    with pytest.raises(data.DataFormatError, match=message) as error:
        data.read_rocstories(path)
    assert str(error.value).startswith(f"{path}:5: ")
    assert error.value.line == 5


def test_skipping_bad_rows_keeps_every_label_with_its_own_story(tmp_path, capsys):
    rows = [HEADER, story(1, "1", "X1."), story(2, "7", "X2."), story(3, "2", "X3."), "id4,a.,b.", story(5, "2", "X5.")]
    examples = data.read_rocstories(write(tmp_path / "cloze.csv", rows), on_error="skip")
    assert [(e.endings[1], e.label) for e in examples] == [("X1.", 0), ("X3.", 1), ("X5.", 1)]
    err = capsys.readouterr().err
    assert f"{tmp_path / 'cloze.csv'}:3:" in err and f"{tmp_path / 'cloze.csv'}:5:" in err
    assert "skipped 2 malformed row(s), kept 3" in err


def test_missing_columns_and_missing_files_are_named(tmp_path):
    path = write(tmp_path / "cloze.csv", ["InputStoryid,InputSentence1", "x,y"])
    with pytest.raises(data.DataFormatError, match=r"cloze.csv:1: missing column\(s\) \['InputSentence2'"):
        data.read_rocstories(path)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        data.read_rocstories(tmp_path / "nope.csv")


def test_multiple_choice_jsonl_and_its_errors(tmp_path):
    good = '{"context": "c", "endings": ["a", "b", "c"], "label": 2}'
    examples = data.read_multiple_choice_jsonl(write(tmp_path / "ok.jsonl", [good, "", good.replace("2}", "0}")]))
    assert [e.label for e in examples] == [2, 0] and examples[0].endings == ["a", "b", "c"]
    for bad, message in [
        ('{"context": "c", "endings": ["a", "b"], "label": 1}', "2 endings, but earlier rows have 3"),
        ('{"context": "c", "endings": ["a", "b", "c"], "label": 3}', "'label' is 3 but there are 3 endings"),
        ('{"context": "c", "endings": ["a", "b", "c"]}', "'label' is missing here but not in earlier rows"),
        ('{"context": "c", "endings": ["a", "b", "c"], "label": "x"}', "'label' must be an integer"),
        ('{"context": "c", "endings": "ab", "label": 0}', "'endings' must be a list"),
        ('{"context": "c", "endings": [', "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
    ]:
        path = write(tmp_path / "bad.jsonl", [good, bad])
        with pytest.raises(data.DataFormatError, match=message) as error:
            data.read_multiple_choice_jsonl(path)
        assert str(error.value).startswith(f"{path}:2: ")


def test_classification_from_csv_and_jsonl_with_label_names_and_pairs(tmp_path):
    csv_path = write(tmp_path / "c.csv", ["premise,hypothesis,label", "a cat,an animal,yes", '"x, y",z,no', "p,q,1"])
    examples = data.read_classification(csv_path, "premise", "hypothesis", label_names=["no", "yes"])
    assert [(e.text, e.text_pair, e.label) for e in examples] == [("a cat", "an animal", 1), ("x, y", "z", 0), ("p", "q", 1)]
    jsonl_path = write(tmp_path / "c.jsonl", ['{"text": "t", "label": 2}', '{"text": "u", "label": "0"}'])
    assert [e.label for e in data.read_classification(jsonl_path)] == [2, 0]
    for rows, message in [
        (["text,label", "fine,maybe"], r"c2.csv:2: 'label' must be an integer or one of \['no', 'yes'\], got 'maybe'"),
        (["text,label", "fine,2"], r"c2.csv:2: 'label' is 2, but there are 2 label names"),
        (["text,label", ",1"], r"c2.csv:2: 'text' must be a non-empty string"),
        (["text,label", "fine,-1"], r"c2.csv:2: 'label' must be >= 0"),
    ]:
        with pytest.raises(data.DataFormatError, match=message):
            data.read_classification(write(tmp_path / "c2.csv", rows), label_names=["no", "yes"])
    with pytest.raises(ValueError, match=r"unknown data format '.txt'"):
        data.read_classification(write(tmp_path / "c.txt", ["x"]))


def test_multiple_choice_features_are_in_the_papers_layout(tokenizer):
    examples = [
        data.MultipleChoiceExample("a cat sat on the mat .", ["it purred .", "no"], 0),
        data.MultipleChoiceExample("dogs bark", ["yes they do loudly", "birds fly"], 1),
    ]
    features = data.multiple_choice_features(examples, tokenizer, max_length=9, quiet=True)
    ids, mask, mc = features["input_ids"], features["attention_mask"], features["mc_token_ids"]
    assert ids.shape == (2, 2, 9) and ids.dtype == np.int32
    start, delimiter, classify = (tokenizer.convert_tokens_to_ids(t) for t in ("_start_", "_delimiter_", "_classify_"))
    for i, example in enumerate(examples):
        for j, ending in enumerate(example.endings):
            length = int(mask[i, j].sum())
            row = ids[i, j, :length].tolist()
            ending_ids, context_ids = tokenizer.encode(ending), tokenizer.encode(example.context)
            kept = context_ids[len(context_ids) - (9 - 3 - len(ending_ids)) :] if len(context_ids) + len(ending_ids) + 3 > 9 else context_ids
            assert row == [start, *kept, delimiter, *ending_ids, classify]
            assert mc[i, j] == length - 1 and ids[i, j, mc[i, j]] == classify
            assert (ids[i, j, length:] == tokenizer.pad_token_id).all()
    np.testing.assert_array_equal(features["labels"], np.where(mask == 1, ids, -100))
    np.testing.assert_array_equal(features["mc_labels"], [0, 1])
    unlabelled = data.multiple_choice_features([data.MultipleChoiceExample("c", ["a", "b"])], tokenizer, quiet=True)
    assert "mc_labels" not in unlabelled


def test_classification_features_pad_and_mask(tokenizer):
    examples = [data.ClassificationExample("good film", 1), data.ClassificationExample("bad", 0, text_pair="very bad")]
    features = data.classification_features(examples, tokenizer, quiet=True)
    assert features["input_ids"].tolist() == [
        tokenizer.encode("good film") + [tokenizer.pad_token_id],
        tokenizer.encode("bad") + tokenizer.encode("very bad"),
    ]
    assert features["attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert features["labels"].tolist() == [1, 0]


def test_causal_lm_packs_files_into_blocks_with_progress(tmp_path, tokenizer, capsys):
    lines = [f"line number {i} of the corpus ." for i in range(30)]
    first, second = write(tmp_path / "a.txt", lines[:20]), write(tmp_path / "b.txt", ["", *lines[20:]])
    features = data.causal_lm_features(tokenizer, block_size=16, files=[first, second], separator_id=7)
    stream = [i for line in lines for i in [*tokenizer.encode(line), 7]]
    blocks = len(stream) // 16
    np.testing.assert_array_equal(features["input_ids"], np.reshape(stream[: blocks * 16], (blocks, 16)))
    np.testing.assert_array_equal(features["labels"], features["input_ids"])
    assert features["attention_mask"].min() == 1
    err = capsys.readouterr().err
    size = first.stat().st_size + second.stat().st_size
    assert f"tokenizing 2 file(s): {size}/{size} bytes (100%)" in err
    data.causal_lm_features(tokenizer, block_size=4, texts=lines, quiet=True)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="fewer than one block of block_size=64"):
        data.causal_lm_features(tokenizer, block_size=64, texts=["short"], quiet=True)
    with pytest.raises(ValueError, match="exactly one of files= and texts="):
        data.causal_lm_features(tokenizer, block_size=4, quiet=True)


def test_to_dataset_batches_and_shuffles_every_example_once():
    features = {"input_ids": np.arange(20, dtype=np.int32).reshape(10, 2), "labels": np.arange(10, dtype=np.int32)}
    batches = list(data.to_dataset(features, 4).as_numpy_iterator())
    assert [len(b["labels"]) for b in batches] == [4, 4, 2]
    shuffled = np.concatenate([b["labels"] for b in data.to_dataset(features, 4, shuffle_seed=0)])
    assert sorted(shuffled.tolist()) == list(range(10)) and shuffled.tolist() != list(range(10))
    with pytest.raises(ValueError, match="same number of examples"):
        data.to_dataset({"a": np.zeros(3), "b": np.zeros(4)}, 2)


def test_epoch_stream_orders_each_epoch_by_seed_and_epoch_only():
    features = {"labels": np.arange(10, dtype=np.int32)}
    stream, steps = data.epoch_stream(features, 3, epochs=3, shuffle_seed=5)
    assert steps == 3 and stream.cardinality().numpy() == 9
    epochs = np.concatenate([b["labels"] for b in stream]).reshape(3, 9)
    for order in epochs:
        assert len(set(order.tolist())) == 9  # a permutation (the 10th example falls off)
    assert epochs[0].tolist() != epochs[1].tolist()
    resumed, _ = data.epoch_stream(features, 3, epochs=3, shuffle_seed=5, initial_epoch=1)
    np.testing.assert_array_equal(np.concatenate([b["labels"] for b in resumed]).reshape(2, 9), epochs[1:])
    fixed, _ = data.epoch_stream(features, 5, epochs=2, shuffle_seed=None)
    assert np.concatenate([b["labels"] for b in fixed]).tolist() == list(range(10)) * 2


@pytest.mark.parametrize("count", [16, 17, 23])
@pytest.mark.parametrize("drop_remainder", [None, True, False])
def test_steps_per_epoch_counts_the_batches_to_dataset_yields(count, drop_remainder):
    # A schedule sized with steps_per_epoch must end with the data, defaults included.
    features = {"input_ids": np.ones((count, 4), np.int32), "labels": np.ones((count, 4), np.int32)}
    extra = {} if drop_remainder is None else {"drop_remainder": drop_remainder}
    batches = sum(1 for _ in data.to_dataset(features, 8, **extra))
    assert data.steps_per_epoch(features, 8, **extra) == batches


@pytest.mark.parametrize("name", ["c.csv", "c.jsonl", "t.txt"])
def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path, tokenizer, name):
    rows = {
        "c.csv": ["text,label", "fine,1", "caf\u00e9,0"],
        "c.jsonl": ['{"text": "fine", "label": 1}', '{"text": "fine", "label": 1}', '{"text": "caf\u00e9", "label": 0}'],
        "t.txt": ["fine", "fine", "caf\u00e9"],
    }[name]
    path = tmp_path / name
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))  # the third line is Latin-1
    read = {
        "c.csv": lambda: data.read_classification(path, on_error="skip"),
        "c.jsonl": lambda: data.read_classification(path),
        "t.txt": lambda: data.causal_lm_features(tokenizer, 4, files=[path], quiet=True),
    }[name]
    with pytest.raises(data.DataFormatError, match=rf"{name}:3: not UTF-8 text \(byte 0xe9\)"):
        read()


def test_utf8_line_count_survives_chunk_boundaries(tmp_path):
    # A character split between two chunks is fine; the bad byte's line is counted across chunks.
    path = tmp_path / "t.txt"
    path.write_bytes(("\u00e9\n" * 7).encode("utf-8") + b"ok\n\xff\n")
    with pytest.raises(data.DataFormatError, match=r"t.txt:9: not UTF-8"):
        readers._check_utf8(path, chunk_size=3)


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "text,label\nfine,1\n".encode("utf-8"))
    assert [(e.text, e.label) for e in data.read_classification(path)] == [("fine", 1)]


def test_read_lines_gives_every_line_and_counts_its_bytes(tmp_path):
    first, second = write(tmp_path / "a.txt", ["caf\u00e9", "", "x"]), write(tmp_path / "b.txt", ["y"])

    class Counter:
        done = 0

        def update(self, count):
            self.done += count

    progress = Counter()
    assert list(data.read_lines([first, second], progress)) == ["caf\u00e9\n", "\n", "x\n", "y\n"]
    assert progress.done == first.stat().st_size + second.stat().st_size
    assert list(data.read_lines(second)) == ["y\n"]
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        list(data.read_lines([tmp_path / "nope.txt"]))


def test_every_name_of_the_package_is_there():
    names = ["causal_lm_features", "multiple_choice_features", "classification_features", "to_dataset", "steps_per_epoch"]
    names += ["epoch_stream", "read_rocstories", "read_multiple_choice_jsonl", "read_classification", "DataFormatError"]
    names += ["MultipleChoiceExample", "ClassificationExample", "ROCSTORIES_COLUMNS", "read_lines"]
    assert all(callable(getattr(data, name)) or name == "ROCSTORIES_COLUMNS" for name in names)
    assert set(names) <= set(dir(data))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        data.nothing  # noqa: B018
