"""Reading data files into examples, without TensorFlow: CSV, JSON lines, ROCStories, plain text.

Every malformed row is reported with its file and line; a row is never dropped silently, so a label
can never slide onto another row's text. Bytes that are not UTF-8 are reported at their line too.

- Multiple choice: `read_rocstories(csv)` (the Story Cloze Test layout) or `read_multiple_choice_jsonl`.
- Sequence classification: `read_classification(path)` (CSV or JSONL: text[, text_pair], label).
- Plain text: `read_lines(paths)`, the lines of UTF-8 text files (a corpus for causal LM or BPE training).

Example:
    >>> examples = read_rocstories("cloze_test_val.csv")  # doctest: +SKIP
    >>> examples[0].endings, examples[0].label  # doctest: +SKIP
    (['Tom was happy.', 'He went home.'], 0)
"""
import codecs
import contextlib
import csv
import json
import numbers
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gpt_keras.configuration import MAX_NUM_LABELS

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


def _class_index(value, label_names, path, line, key, num_labels=None):
    """A label as an int in range: an int, an int-like string, or one of `label_names`; below
    `num_labels` when given, and never more than a classifier can have (`MAX_NUM_LABELS`)."""
    if label_names is not None and isinstance(value, str) and value.strip() in label_names:
        return label_names.index(value.strip())
    if isinstance(value, bool) or value is None:
        raise DataFormatError(path, line, f"{key!r} must be a class index, got {value!r}")
    try:
        index = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        known = "" if label_names is None else f" or one of {label_names}"
        raise DataFormatError(path, line, f"{key!r} must be an integer{known}, got {value!r}") from None
    if not isinstance(index, numbers.Integral):  # int, or a numpy integer
        raise DataFormatError(path, line, f"{key!r} must be an integer, got {value!r}")
    if index < 0:
        raise DataFormatError(path, line, f"{key!r} must be >= 0, got {index}")
    if label_names is not None and index >= len(label_names):
        raise DataFormatError(path, line, f"{key!r} is {index}, but there are {len(label_names)} label names")
    if num_labels is not None and index >= num_labels:
        raise DataFormatError(path, line, f"{key!r} is {index}, but there are {num_labels} classes (num_labels)")
    if index >= MAX_NUM_LABELS:
        # A class index sizes the classifier made for it: one of 99999999 would ask for 10**8 classes.
        raise DataFormatError(
            path, line, f"{key!r} is {index}: a classifier has at most {MAX_NUM_LABELS} classes (indices 0 to {MAX_NUM_LABELS - 1})"
        )
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


def read_classification(
    path, text_key="text", text_pair_key=None, label_key="label", label_names=None, on_error="raise", num_labels=None
):
    """Reads classification examples from a CSV (with a header) or JSON-lines file.

    Args:
        path: A .csv or .jsonl file.
        text_key: The text column/key.
        text_pair_key: An optional second text column/key (e.g. the hypothesis of an NLI pair).
        label_key: The label column/key; labels are class indices, or names listed in `label_names`.
        label_names: Optional list of class names: a label equal to a name becomes its index, and
            indices must be below `len(label_names)`.
        on_error: "raise" or "skip" (see `read_rocstories`).
        num_labels: Optional number of classes: indices must be below it. Without it (and without
            `label_names`) they must be below `gpt_keras.configuration.MAX_NUM_LABELS`.

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
        label = _class_index(row[label_key], label_names, path, line, label_key, num_labels)
        return ClassificationExample(text, label, pair, f"{path}:{line}")

    return _collect(path, _rows(path, required), parse, on_error)


# === Plain text ===


def read_lines(paths, progress=None):
    """The lines of UTF-8 text files, in order, with their line endings (blank lines included).

    Files are read as `open(..., encoding="utf-8-sig", newline="")` reads them: a byte-order mark is
    dropped, and a line ends at "\n", "\r" or "\r\n".

    Args:
        paths: A path or an iterable of paths.
        progress: Optional `gpt_keras.progress.Progress`; each line's UTF-8 bytes are counted into it
            (the caller closes it).

    Yields:
        str lines.

    Raises:
        FileNotFoundError: a path is not a file.
        DataFormatError: bytes that are not UTF-8, with the file and line (`file:line: not UTF-8 text`).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        with _open_text(path) as handle:
            for line in handle:
                if progress is not None:
                    progress.update(len(line.encode("utf-8")))
                yield line
