"""The reference's results, call for call: every step of tests/reference_tokenizer_cases.py gives here what
transformers 4.57.6's OpenAIGPTTokenizer gave (tests/fixtures/reference_tokenizer.json, recorded by
tests/fixtures_tools/make_reference_tokenizer_fixtures.py in a separate venv), in both pre-tokenizer modes.

Compared: each result exactly (values, fields, dtypes), the kind of each error, and the warnings logged.
The deliberate differences are listed in ``DIFFERENCES`` with their reason (README, "Migrating from
transformers"); everything else must be identical.
"""
import json
from pathlib import Path

import pytest
import reference_tokenizer_cases as cases

from gpt_keras.tokenization import AddedToken, OpenAIGPTTokenizer
from gpt_keras.tokenization.inputs import TextInputError

FIXTURE = Path(__file__).parent / "fixtures" / "reference_tokenizer.json"
# (case, step index) -> why the result differs from the reference's, and what is checked instead.
DIFFERENCES = {
    ("tensors", 3): "ragged rows with return_tensors='np': the reference makes an object array of arrays; here a "
    "ValueError says to pad (an object array is no model input)",
}
# Wording only: the reference's log messages print its enum's repr where the strategy's name is meant.
COSMETIC = {"TruncationStrategy.ONLY_FIRST": "only_first", "TruncationStrategy.ONLY_SECOND": "only_second"}


def _worded(messages):
    for old, new in COSMETIC.items():
        messages = [message.replace(old, new) for message in messages]
    return messages


@pytest.fixture(scope="module")
def reference():
    with open(FIXTURE, encoding="utf-8") as handle:
        return json.load(handle)


def maker(vocab_dir, mode):
    def make(directory, kwargs):
        return OpenAIGPTTokenizer.from_pretrained(directory or vocab_dir, pre_tokenizer=mode, **kwargs)

    return make


ERROR_KINDS = {"ValueError": ValueError, "TypeError": TypeError, "KeyError": KeyError, "AttributeError": AttributeError,
               "NotImplementedError": NotImplementedError}  # fmt: skip


def test_the_fixture_is_the_pinned_reference(reference):
    assert reference["transformers"] == "4.57.6"
    assert set(reference["cases"]["basic"]) == set(cases.CASES)


@pytest.mark.parametrize("mode", cases.MODES)
@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_same_results_as_the_reference(reference, vocab_dir, mode, name):
    expected = reference["cases"][mode][name]
    got = cases.run_case(cases.CASES[name], maker(vocab_dir, mode), AddedToken, "gpt_keras")
    assert len(got) == len(expected)
    for index, (mine, theirs) in enumerate(zip(got, expected)):
        where = f"{name} step {index}: {cases.CASES[name]['steps'][index]}"
        if (name, index) in DIFFERENCES:
            assert "error" in mine, where
            continue
        if "error" in theirs:
            assert "error" in mine, f"{where}: the reference raised {theirs['error']}({theirs['message']!r}), got {mine}"
            if theirs["error"] in ERROR_KINDS:
                assert isinstance(_raise(mine), ERROR_KINDS[theirs["error"]]), f"{where}: {mine} vs {theirs}"
            else:  # another library's error (jinja2's TemplateError): the same one
                assert (mine["error"], mine["message"]) == (theirs["error"], theirs["message"]), where
        else:
            assert mine.get("result") == theirs["result"], f"{where}: {mine} vs {theirs}"
        assert mine["logs"] == _worded(theirs["logs"]), f"{where}: logged {mine['logs']} vs {theirs['logs']}"


def _raise(record):
    """An instance of the error type this library raised (by name, from the record)."""
    kind = TextInputError if record["error"] == "TextInputError" else ERROR_KINDS[record["error"]]
    return kind("")
