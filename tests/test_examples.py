"""The examples run end to end on their shipped tiny data, in-process through `main(argv)`, and learn."""
import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_finetune_lm_lowers_held_out_perplexity(tmp_path):
    result = load("finetune_lm").main(["--output", str(tmp_path), "--quiet"])
    assert result["perplexity"] < 0.5 * result["perplexity_before"], result
    assert (tmp_path / "model" / "model.safetensors").is_file() and (tmp_path / "model" / "vocab.json").is_file()


def test_multiple_choice_on_rocstories_format(tmp_path):
    result = load("multiple_choice").main(["--output", str(tmp_path), "--quiet"])
    assert result["train_examples"] == 36 and result["examples"] == 12
    assert result["accuracy"] >= 0.9, result


def test_classify_a_csv(tmp_path):
    result = load("classify").main(["--output", str(tmp_path), "--quiet"])
    assert result["examples"] == 16
    assert result["accuracy"] >= 0.9, result


def test_bad_data_stops_an_example_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ngood film,positive\nbad film,maybe\n")
    with pytest.raises(ValueError, match=rf"{bad}:3: 'label' must be an integer or one of"):
        load("classify").main(["--train", str(bad), "--output", str(tmp_path / "run"), "--quiet"])
