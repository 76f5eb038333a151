"""Input pipelines for fine-tuning with `model.fit`: files -> token ids -> `tf.data.Dataset`.

Three tasks, each in two steps: *read* a file into examples (every malformed row is reported with
its file and line; a row is never dropped silently, so a label can never slide onto another row's
text), then *encode* the examples into a dict of numpy arrays ("features") that the models take as
their input dict, labels included. `to_dataset` and `epoch_stream` batch features for `fit`.

- Causal LM: `causal_lm_features(tokenizer, files=... | texts=..., block_size)` packs the token ids
  of all texts into fixed blocks; `labels` are the inputs (the model shifts them).
- Multiple choice (the double-heads model): `read_rocstories(csv)` (the Story Cloze Test layout) or
  `read_multiple_choice_jsonl(path)`, then `multiple_choice_features` in the paper's layout
  `_start_ context _delimiter_ ending _classify_`.
- Sequence classification: `read_classification(path)` (CSV or JSONL: text[, text_pair], label),
  then `classification_features`.

Tokenizing shows its progress on stderr (`quiet=True` to silence it).

Example:
    >>> examples = read_rocstories("cloze_test_val.csv")  # doctest: +SKIP
    >>> features = multiple_choice_features(examples, tokenizer, max_length=77)  # doctest: +SKIP
    >>> model.fit(to_dataset(features, batch_size=8, shuffle_seed=0), epochs=3)  # doctest: +SKIP
"""
import codecs
import contextlib
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from gpt_keras.losses import IGNORE_INDEX
from gpt_keras.progress import Progress

ROCSTORIES_COLUMNS = (
    "InputSentence1",
    "InputSentence2",
    "InputSentence3",
    "InputSentence4",
    "RandomFifthSentenceQuiz1",
    "RandomFifthSentenceQuiz2",
    "AnswerRightEnding",
)


class DataFormatError(ValueError):
    """A malformed input row: the message starts with `file:line:`.

    Attributes:
        path: The file.
        line: The 1-based line where the row starts.
    """

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


@dataclass
class MultipleChoiceExample:
    """A context, its candidate endings and the index of the right one (None when unknown)."""

    context: str
    endings: list
    label: int = None
    source: str = ""


@dataclass
class ClassificationExample:
    """A text (optionally paired with a second one) and its class index (None when unknown)."""

    text: str
    label: int = None
    text_pair: str = None
    source: str = ""


# === Reading files ===


@contextlib.contextmanager
def _open_text(path):
    """The lines of a UTF-8 text file; bytes that are not UTF-8 raise a DataFormatError at their line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield _decoded_lines(handle, path)


def _decoded_lines(handle, path):
    try:
        yield from handle
    except UnicodeDecodeError:
        # The decoder works ahead of the lines read, so its error does not know the line: find it.
        _check_utf8(path)
        raise


def _check_utf8(path, chunk_size=1 << 20):
    """Raises DataFormatError at the line of the first byte that is not UTF-8 (one pass, in chunks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(chunk_size)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                # The error's position counts from the start of what the decoder held (its pending
                # bytes of a split character, then this chunk).
                pending = len(error.object) - len(chunk)
                line = lines_before + chunk[: max(error.start - pending, 0)].count(b"\n") + 1
                raise DataFormatError(
                    path, line, f"not UTF-8 text (byte 0x{error.object[error.start]:02x}); save the file as UTF-8"
                ) from None
            if not chunk:
                return
            lines_before += chunk.count(b"\n")


def _csv_rows(path, required):
    """Yields (line, row dict) of a CSV file with a header; checks columns and field counts."""
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataFormatError(path, 1, "the file is empty; expected a header row") from None
        except csv.Error as error:
            raise DataFormatError(path, reader.line_num, f"unreadable CSV: {error}") from None
        header = [name.strip() for name in header]
        missing = [name for name in required if name not in header]
        if missing:
            raise DataFormatError(path, 1, f"missing column(s) {missing}; the header has {header}")
        line = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise DataFormatError(path, line, f"unreadable CSV: {error}") from None
            if fields and any(field.strip() for field in fields):
                if len(fields) != len(header):
                    yield line, DataFormatError(
                        path, line, f"expected {len(header)} fields as in the header, got {len(fields)}"
                    )
                else:
                    yield line, dict(zip(header, fields))
            line = reader.line_num + 1


def _jsonl_rows(path):
    """Yields (line, object) of a JSON-lines file; a line that is not a JSON object is an error."""
    with _open_text(path) as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                yield line, DataFormatError(path, line, f"invalid JSON ({error.msg} at column {error.colno})")
                continue
            if not isinstance(row, dict):
                yield line, DataFormatError(path, line, f"expected a JSON object, got {type(row).__name__}")
                continue
            yield line, row


def _rows(path, required):
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, required)
    if suffix in (".jsonl", ".json"):
        return _jsonl_rows(path)
    raise ValueError(f"{path}: unknown data format {suffix!r}; expected .csv or .jsonl")


def _collect(path, rows, parse, on_error):
    """Parses every row; raises on the first bad one, or (on_error="skip") reports each and goes on."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    examples, skipped = [], []
    for line, row in rows:
        try:
            if isinstance(row, DataFormatError):
                raise row
            examples.append(parse(row, line))
        except DataFormatError as error:
            if on_error == "raise":
                raise
            skipped.append(error)
            print(f"skipped {error}", file=sys.stderr)
    if skipped:
        print(f"{path}: skipped {len(skipped)} malformed row(s), kept {len(examples)}", file=sys.stderr)
    if not examples:
        raise DataFormatError(path, 1, "no usable examples in the file")
    return examples


def _text_field(row, key, path, line):
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        got = "missing" if value is None else repr(value)
        raise DataFormatError(path, line, f"{key!r} must be a non-empty string, got {got}")
    return value.strip()


def _class_index(value, label_names, path, line, key):
    """A label as an int in range: an int, an int-like string, or one of `label_names`."""
    if label_names is not None and isinstance(value, str) and value.strip() in label_names:
        return label_names.index(value.strip())
    if isinstance(value, bool) or value is None:
        raise DataFormatError(path, line, f"{key!r} must be a class index, got {value!r}")
    try:
        index = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        known = "" if label_names is None else f" or one of {label_names}"
        raise DataFormatError(path, line, f"{key!r} must be an integer{known}, got {value!r}") from None
    if not isinstance(index, (int, np.integer)):
        raise DataFormatError(path, line, f"{key!r} must be an integer, got {value!r}")
    if index < 0:
        raise DataFormatError(path, line, f"{key!r} must be >= 0, got {index}")
    if label_names is not None and index >= len(label_names):
        raise DataFormatError(path, line, f"{key!r} is {index}, but there are {len(label_names)} label names")
    return int(index)


def read_rocstories(path, on_error="raise"):
    """Reads a Story Cloze Test (ROCStories) CSV: four story sentences, two candidate fifth sentences
    and `AnswerRightEnding` (1 or 2).

    Columns: `InputStoryid, InputSentence1..4, RandomFifthSentenceQuiz1, RandomFifthSentenceQuiz2,
    AnswerRightEnding` (any order; extra columns are ignored).

    Args:
        path: The CSV file.
        on_error: "raise" on the first malformed row, or "skip" malformed rows, each reported on stderr
            with its line.

    Returns:
        A list of `MultipleChoiceExample` (context = the four sentences joined by spaces, label 0 or 1).

    Raises:
        DataFormatError: a malformed row (file:line in the message) or a missing column.
    """

    def parse(row, line):
        sentences = [_text_field(row, f"InputSentence{i}", path, line) for i in range(1, 5)]
        endings = [_text_field(row, f"RandomFifthSentenceQuiz{i}", path, line) for i in (1, 2)]
        answer = (row.get("AnswerRightEnding") or "").strip()
        if answer not in ("1", "2"):
            raise DataFormatError(path, line, f"AnswerRightEnding must be 1 or 2, got {answer!r}")
        return MultipleChoiceExample(" ".join(sentences), endings, int(answer) - 1, f"{path}:{line}")

    return _collect(path, _csv_rows(path, ROCSTORIES_COLUMNS), parse, on_error)


def read_multiple_choice_jsonl(path, context_key="context", endings_key="endings", label_key="label", on_error="raise"):
    """Reads multiple-choice examples from JSON lines: `{"context": str, "endings": [str, ...], "label": int}`.

    Every example must have the same number of endings as the first; `label` may be absent in every
    row (unlabelled data) but not in some only.

    Args:
        path: The .jsonl file.
        context_key, endings_key, label_key: The keys to read.
        on_error: "raise" or "skip" (see `read_rocstories`).

    Returns:
        A list of `MultipleChoiceExample`.
    """
    shape = {}

    def parse(row, line):
        context = _text_field(row, context_key, path, line)
        endings = row.get(endings_key)
        if not isinstance(endings, list) or len(endings) < 2 or not all(isinstance(e, str) and e.strip() for e in endings):
            raise DataFormatError(path, line, f"{endings_key!r} must be a list of at least 2 non-empty strings, got {endings!r}")
        shape.setdefault("choices", len(endings))
        if len(endings) != shape["choices"]:
            raise DataFormatError(path, line, f"{len(endings)} endings, but earlier rows have {shape['choices']}")
        has_label = label_key in row
        shape.setdefault("labelled", has_label)
        if has_label != shape["labelled"]:
            raise DataFormatError(path, line, f"{label_key!r} is {'present' if has_label else 'missing'} here but not in earlier rows")
        label = None
        if has_label:
            label = _class_index(row[label_key], None, path, line, label_key)
            if label >= len(endings):
                raise DataFormatError(path, line, f"{label_key!r} is {label} but there are {len(endings)} endings")
        return MultipleChoiceExample(context, [e.strip() for e in endings], label, f"{path}:{line}")

    return _collect(path, _jsonl_rows(path), parse, on_error)


def read_classification(path, text_key="text", text_pair_key=None, label_key="label", label_names=None, on_error="raise"):
    """Reads classification examples from a CSV (with a header) or JSON-lines file.

    Args:
        path: A .csv or .jsonl file.
        text_key: The text column/key.
        text_pair_key: An optional second text column/key (e.g. the hypothesis of an NLI pair).
        label_key: The label column/key; labels are class indices, or names listed in `label_names`.
        label_names: Optional list of class names: a label equal to a name becomes its index, and
            indices must be below `len(label_names)`.
        on_error: "raise" or "skip" (see `read_rocstories`).

    Returns:
        A list of `ClassificationExample`.
    """
    required = [key for key in (text_key, text_pair_key, label_key) if key]
    label_names = None if label_names is None else list(label_names)

    def parse(row, line):
        text = _text_field(row, text_key, path, line)
        pair = _text_field(row, text_pair_key, path, line) if text_pair_key else None
        if label_key not in row:
            raise DataFormatError(path, line, f"no {label_key!r}")
        label = _class_index(row[label_key], label_names, path, line, label_key)
        return ClassificationExample(text, label, pair, f"{path}:{line}")

    return _collect(path, _rows(path, required), parse, on_error)


# === Encoding ===


def _read_lines(files, progress):
    for path in files:
        with _open_text(path) as handle:
            for line in handle:
                progress.update(len(line.encode("utf-8")))
                if line.strip():
                    yield line


def causal_lm_features(tokenizer, block_size, files=None, texts=None, separator_id=None, quiet=False):
    """Tokenizes texts and packs all their ids into blocks of `block_size` tokens for causal LM.

    Texts are the non-empty lines of `files` (read as UTF-8, in order) or the strings of `texts`.
    Their ids are concatenated (with `separator_id` after each text when given, e.g. an end-of-text
    token) and cut into consecutive blocks; the last partial block is dropped.

    Args:
        tokenizer: An `OpenAIGPTTokenizer`.
        block_size: Tokens per block (at most the model's `n_positions`).
        files: A path or a list of paths of text files.
        texts: An iterable of str, instead of `files`.
        separator_id: Optional id appended after each text.
        quiet: No progress display.

    Returns:
        A dict of int32 arrays, each (blocks, block_size): `input_ids`, `attention_mask` (ones) and
        `labels` (= input_ids).

    Raises:
        ValueError: neither or both of `files`/`texts`, or fewer than `block_size` tokens in all.
    """
    if (files is None) == (texts is None):
        raise ValueError("pass exactly one of files= and texts=")
    if not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an int >= 2, got {block_size!r}")
    if files is not None:
        files = [files] if isinstance(files, (str, Path)) else list(files)
        total = sum(Path(f).stat().st_size for f in files if Path(f).is_file())
        progress = Progress(f"tokenizing {len(files)} file(s)", total, "bytes", quiet)
        source = _read_lines(files, progress)
        where = ", ".join(str(f) for f in files)
    else:
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of str, not one str (wrap it in a list)")
        progress = Progress("tokenizing texts", len(texts) if hasattr(texts, "__len__") else None, "texts", quiet)
        source = texts
        where = "texts"
    ids = []
    for index, text in enumerate(source):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}")
        ids.extend(tokenizer.encode(text))
        if separator_id is not None:
            ids.append(int(separator_id))
        if texts is not None:
            progress.update()
    progress.close()
    blocks = len(ids) // block_size
    if blocks == 0:
        raise ValueError(f"{where}: {len(ids)} tokens in all, fewer than one block of block_size={block_size}")
    input_ids = np.asarray(ids[: blocks * block_size], dtype=np.int32).reshape(blocks, block_size)
    return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids), "labels": input_ids.copy()}


def multiple_choice_features(examples, tokenizer, max_length=None, quiet=False):
    """Encodes multiple-choice examples for the double-heads model in the paper's layout.

    Each choice is `_start_ context _delimiter_ ending _classify_` (the tokenizer needs
    `add_paper_special_tokens()`); a context too long for `max_length` is cut from the left. All rows
    are padded on the right to the longest one.

    Args:
        examples: `MultipleChoiceExample`s, all with the same number of endings.
        tokenizer: An `OpenAIGPTTokenizer` with the paper's special tokens.
        max_length: Longest row in tokens (the model's `n_positions` at most); None for no limit.
        quiet: No progress display.

    Returns:
        A dict of int32 arrays: `input_ids`, `attention_mask`, `labels` (LM labels: the ids, -100 on
        padding), each (examples, choices, seq); `mc_token_ids` (examples, choices), the position
        of `_classify_`; and `mc_labels` (examples,) when every example has a label.
    """
    if not examples:
        raise ValueError("no examples to encode")
    choices = len(examples[0].endings)
    progress = Progress("encoding multiple-choice examples", len(examples), quiet=quiet)
    rows, mc_token_ids = [], []
    for example in examples:
        if len(example.endings) != choices:
            raise ValueError(f"{example.source}: {len(example.endings)} endings, but the first example has {choices}")
        try:
            encoded = tokenizer.encode_multiple_choice(example.context, example.endings, max_length=max_length)
        except ValueError as error:
            raise ValueError(f"{example.source or 'example'}: {error}") from None
        lengths = [sum(mask) for mask in encoded["attention_mask"]]
        rows.append([ids[:length] for ids, length in zip(encoded["input_ids"], lengths)])
        mc_token_ids.append(encoded["mc_token_ids"])
        progress.update()
    progress.close()
    width = max(len(row) for choice_rows in rows for row in choice_rows)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = np.full((len(rows), choices, width), pad_id, dtype=np.int32)
    attention_mask = np.zeros_like(input_ids)
    for i, choice_rows in enumerate(rows):
        for j, row in enumerate(choice_rows):
            input_ids[i, j, : len(row)] = row
            attention_mask[i, j, : len(row)] = 1
    features = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "mc_token_ids": np.asarray(mc_token_ids, dtype=np.int32),
        "labels": np.where(attention_mask == 1, input_ids, IGNORE_INDEX).astype(np.int32),
    }
    labels = [example.label for example in examples]
    if all(label is not None for label in labels):
        features["mc_labels"] = np.asarray(labels, dtype=np.int32)
    return features


def classification_features(examples, tokenizer, max_length=None, quiet=False):
    """Encodes classification examples: the text's ids (followed by the pair's), right-padded.

    Args:
        examples: `ClassificationExample`s.
        tokenizer: An `OpenAIGPTTokenizer`; padding uses its pad token (id 0 without one; padding is
            masked and the classifier reads the last real token, found from `attention_mask`).
        max_length: Truncate longer sequences (longest text first); None for no limit.
        quiet: No progress display.

    Returns:
        A dict of int32 arrays: `input_ids`, `attention_mask` (examples, seq) and `labels` (examples,)
        when every example has a label.
    """
    if not examples:
        raise ValueError("no examples to encode")
    progress = Progress("encoding classification examples", len(examples), quiet=quiet)
    rows = []
    for example in examples:
        ids = tokenizer.encode(example.text, example.text_pair, truncation=max_length is not None, max_length=max_length)
        if not ids:
            raise ValueError(f"{example.source or 'example'}: the text encodes to no tokens")
        rows.append(ids)
        progress.update()
    progress.close()
    width = max(len(row) for row in rows)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int32)
    attention_mask = np.zeros_like(input_ids)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        attention_mask[i, : len(row)] = 1
    features = {"input_ids": input_ids, "attention_mask": attention_mask}
    labels = [example.label for example in examples]
    if all(label is not None for label in labels):
        features["labels"] = np.asarray(labels, dtype=np.int32)
    return features


# === Batching ===


def _check_features(features):
    if not isinstance(features, dict) or not features:
        raise TypeError(f"features must be a non-empty dict of arrays, got {type(features).__name__}")
    sizes = {name: len(value) for name, value in features.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"features must all have the same number of examples, got {sizes}")
    return next(iter(sizes.values()))


def to_dataset(features, batch_size, shuffle_seed=None, drop_remainder=False):
    """Batches features into a `tf.data.Dataset` of input dicts for `fit`, `evaluate` and `predict`.

    Args:
        features: A dict of arrays with the same first dimension (from the `*_features` functions).
        batch_size: Examples per batch (the global batch under `tf.distribute`).
        shuffle_seed: None to keep the order; an int to shuffle with that seed, anew each epoch
            (deterministic within a process; see `epoch_stream` for an order that survives restarts).
        drop_remainder: Drop the last, smaller batch (gives static shapes, e.g. for XLA and TPUs).

    Returns:
        A `tf.data.Dataset` of dicts of int32 tensors.
    """
    count = _check_features(features)
    dataset = tf.data.Dataset.from_tensor_slices(features)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(count, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(features, batch_size, drop_remainder=False):
    """Batches in one epoch of `features`: what `to_dataset` with the same arguments yields.

    Args:
        features: A dict of arrays.
        batch_size: Examples per batch.
        drop_remainder: Whether the last, smaller batch is dropped (False, as `to_dataset`).

    Returns:
        An int.
    """
    count = _check_features(features)
    return count // batch_size if drop_remainder else -(-count // batch_size)


def epoch_stream(features, batch_size, epochs, shuffle_seed=0, initial_epoch=0):
    """The batches of epochs `initial_epoch` .. `epochs - 1` in one dataset, each epoch in an order
    that depends only on `(shuffle_seed, epoch)`: a run restarted at epoch e sees the same batches as
    the first run did, which `training.ResumableCheckpoint` needs to resume exactly.

    Use with `fit(dataset, epochs=epochs, steps_per_epoch=steps, initial_epoch=initial_epoch)`.
    The last partial batch of each epoch is dropped.

    Args:
        features: A dict of arrays with the same first dimension.
        batch_size: Examples per batch.
        epochs: Total epochs of the run.
        shuffle_seed: Seed of the per-epoch permutations; None for the same order every epoch.
        initial_epoch: First epoch to produce.

    Returns:
        `(dataset, steps)`: the dataset and the number of batches per epoch.
    """
    count = _check_features(features)
    steps = count // batch_size
    if steps == 0:
        raise ValueError(f"{count} examples make no full batch of {batch_size}")
    tensors = {name: tf.constant(value) for name, value in features.items()}

    def batch_at(epoch, step):
        positions = tf.range(step * batch_size, (step + 1) * batch_size, dtype=tf.int64)
        if shuffle_seed is not None:
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), epoch])
            positions = tf.random.experimental.index_shuffle(positions, seed, count - 1)
        return {name: tf.gather(value, positions) for name, value in tensors.items()}

    epochs_dataset = tf.data.Dataset.range(initial_epoch, epochs)
    dataset = epochs_dataset.flat_map(
        lambda epoch: tf.data.Dataset.range(steps).map(lambda step: batch_at(epoch, step))
    )
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(max(epochs - initial_epoch, 0) * steps))
    return dataset.prefetch(tf.data.AUTOTUNE), steps
