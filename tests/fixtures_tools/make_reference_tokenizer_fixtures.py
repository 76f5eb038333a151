"""Records the reference tokenizer's results for tests/test_tokenizer_reference.py and the ported suite.

Run by hand, in a separate venv that has the reference (never in the project's own environment: the
project and its tests import neither transformers nor torch):

    python3 -m venv /work/refvenv
    /work/refvenv/bin/pip install transformers==4.57.6 ftfy spacy protobuf
    GPTK_SHARED=/path/to/shared /work/refvenv/bin/python tests/fixtures_tools/make_reference_tokenizer_fixtures.py

It writes tests/fixtures/reference_tokenizer.json: for each case of tests/reference_tokenizer_cases.py and
each pre-tokenizer mode ("basic": the reference without ftfy/spaCy, "spacy_ftfy": with them), the result
of every step, plus the few values the ported suite compares against (``ported``).
"""
import contextlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import transformers  # noqa: E402
from tokenizers import AddedToken  # noqa: E402
from transformers import OpenAIGPTTokenizer  # noqa: E402

import reference_tokenizer_cases as cases  # noqa: E402

OUTPUT = HERE.parent / "fixtures" / "reference_tokenizer.json"
RELEASED = Path(os.environ.get("GPTK_SHARED", HERE.parents[2] / "shared")) / "openai-gpt-vocab"


@contextlib.contextmanager
def mode(name):
    """The reference picks BERT's BasicTokenizer when ftfy cannot be imported: hide it for "basic"."""
    saved = sys.modules.get("ftfy")
    if name == "basic":
        sys.modules["ftfy"] = None
    try:
        yield
    finally:
        if name == "basic":
            if saved is None:
                del sys.modules["ftfy"]
            else:
                sys.modules["ftfy"] = saved


def maker(name):
    def make(directory, kwargs):
        with mode(name):
            tokenizer = OpenAIGPTTokenizer.from_pretrained(directory or str(RELEASED), **kwargs)
        assert (tokenizer.fix_text is None) == (name == "basic")
        return tokenizer

    return make


def ported(name):
    """Values the ported mixin tests compare with (the reference's own test compared slow with fast)."""
    make = maker(name)
    tokenizer = make(None, {"model_max_length": 512})
    pair = ("This is a simple input", "This is a pair")
    return {
        "pretokenized": tokenizer.encode("This is a sample input".split(), is_split_into_words=True, add_special_tokens=False),
        "pretokenized_pair": tokenizer.encode_plus("This is a sample input".split(), "This is a sample pair".split(), is_split_into_words=True).data,
        "prepare_for_model": tokenizer.prepare_for_model(tokenizer.encode("Asserting that both tokenizers are equal", add_special_tokens=False)).data,
        "padding_pair_max_length": tokenizer.encode(*pair, max_length=50, padding="max_length") if tokenizer.pad_token else None,
        "sample_text_ids": tokenizer.encode(" He is very happy, UNwant\u00e9d,running", add_special_tokens=False),
    }


def main():
    assert transformers.__version__ == "4.57.6", transformers.__version__
    fixture = {"transformers": transformers.__version__, "cases": {}, "ported": {}}
    for name in cases.MODES:
        fixture["cases"][name] = {
            case_name: cases.run_case(case, maker(name), AddedToken, "transformers") for case_name, case in cases.CASES.items()
        }
        fixture["ported"][name] = ported(name)
    OUTPUT.write_text(json.dumps(fixture, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
