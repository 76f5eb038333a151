"""`gpt-keras export` and the text signatures: the tokenizer found in MODEL_DIR (or --tokenizer), --no-text."""
import shutil

import pytest
import tensorflow as tf

from gpt_keras.cli import main
from text_serving import learn_tokenizer


@pytest.fixture(scope="module")
def tokenizer_dir(shared_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    learn_tokenizer(shared_dir, 500, directory)
    return directory


def export(capsys, *argv):
    code = main(["export", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_tokenizer_named_with_tokenizer_adds_classify_text(tiny_dir, tokenizer_dir, tmp_path, capsys):
    code, out, err = export(capsys, tiny_dir / "seq-cls", tmp_path / "cls", "--tokenizer", tokenizer_dir)
    assert code == 0, err
    assert f"tokenizer: {tokenizer_dir}, 500 ids, tokenizing in the graph in the basic mode" in out
    assert "signatures: classify_text, serving_default, tokenize\n" in out
    loaded = tf.saved_model.load(out.strip().splitlines()[-1])
    outputs = loaded.signatures["classify_text"](texts=tf.constant(["I loved it.", "No"]))
    assert outputs["probabilities"].shape == (2, 3)


def test_no_text_leaves_the_tokenizer_in_model_dir_out(tiny_dir, tokenizer_dir, tmp_path, capsys):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_dir / "seq-cls", model_dir)
    for path in tokenizer_dir.iterdir():
        shutil.copyfile(path, model_dir / path.name)
    code, out, err = export(capsys, model_dir, tmp_path / "ids", "--no-text")
    assert code == 0, err
    assert "signatures: serving_default\n" in out
    code, out, err = export(capsys, model_dir, tmp_path / "text")
    assert code == 0, err
    assert "signatures: classify_text, serving_default, tokenize\n" in out


@pytest.mark.parametrize(
    "extra, fragment",
    [(["--no-text", "--truncate-prompt"], "--no-text"), (["--tokenizer", "NOWHERE"], "--tokenizer does not exist")],
)
def test_text_options_are_checked_before_anything_loads(tiny_dir, tmp_path, capsys, extra, fragment):
    code, out, err = export(capsys, tiny_dir / "seq-cls", tmp_path / "out", *extra)
    assert code == 2 and fragment in err and not (tmp_path / "out").exists()
