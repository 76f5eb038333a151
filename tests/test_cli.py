"""The `gpt-keras` command line: `convert` from every layout, its report, and its errors and exit codes."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gpt_keras import TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTLMHeadModel
from gpt_keras.checkpoints import load_state_dict
from gpt_keras.cli import main

# Eagerly our logits stay within 1e-5 of the reference's (see tests/test_models.py: logits_atol).
ATOL = 1e-5


def assert_lm_matches_reference(directory, expected):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(directory)
    logits = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"])["logits"]
    np.testing.assert_allclose(np.asarray(logits), expected["lm.logits"], rtol=0, atol=ATOL)


def convert(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpt-keras"), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err


def test_convert_original_release_with_config(tiny_dir, tmp_path, capsys, expected):
    code, out, err = convert(
        capsys, "convert", tiny_dir / "lm-original-format", tmp_path / "out", "--config", tiny_dir / "lm" / "config.json"
    )
    assert code == 0, err
    assert "found: original-release checkpoint" in out
    assert "vocab_size=1000, n_positions=64, n_embd=32, n_layer=2, n_head=4, afn=gelu" in out
    # 64*32 positions + 1000*32 tokens + 2 layers of (32*96+96 + 32*32+32 + 4*32 + 32*128+128 + 128*32+32)
    assert "TFOpenAIGPTLMHeadModel, 59,456 parameters" in out
    assert "verified:" in out and "identical outputs" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((tmp_path / "out" / "config.json").read_text())["architectures"] == ["OpenAIGPTLMHeadModel"]
    assert_lm_matches_reference(tmp_path / "out", expected)


def test_convert_original_release_inferring_sizes_with_n_head(tiny_dir, tmp_path, capsys, expected):
    code, out, err = convert(capsys, "convert", tiny_dir / "lm-original-format", tmp_path / "out", "--n-head", "4")
    assert code == 0, err
    assert "n_layer=2, n_head=4" in out
    assert_lm_matches_reference(tmp_path / "out", expected)


def test_convert_bin_alone_and_sharded_output(tiny_dir, tmp_path, capsys, expected):
    source = tmp_path / "bin"
    source.mkdir()
    for name in ("pytorch_model.bin", "config.json"):
        shutil.copyfile(tiny_dir / "lm" / name, source / name)
    code, out, err = convert(capsys, "convert", source, tmp_path / "out", "--max-shard-size", "40KB")
    assert code == 0, err
    assert "found: pytorch-bin checkpoint" in out and "safetensors-sharded" in out
    assert (tmp_path / "out" / "model.safetensors.index.json").is_file()
    converted, _ = load_state_dict(tmp_path / "out")
    reference, _ = load_state_dict(tiny_dir / "lm" / "model.safetensors")
    assert converted.keys() == reference.keys()
    for name in reference:
        np.testing.assert_array_equal(converted[name], reference[name], err_msg=name)
    assert_lm_matches_reference(tmp_path / "out", expected)


def test_convert_picks_the_model_class_from_config_architectures(tiny_dir, tmp_path, capsys, expected):
    code, out, err = convert(capsys, "convert", tiny_dir / "double-heads", tmp_path / "out")
    assert code == 0, err
    assert "preference" in out  # safetensors and tf_model.h5 are both there
    assert "model: TFOpenAIGPTDoubleHeadsModel" in out
    assert "multiple_choice_head.summary.weight" in load_state_dict(tmp_path / "out")[0]
    model = TFOpenAIGPTDoubleHeadsModel.from_pretrained(tmp_path / "out")
    mc_logits = model(input_ids=expected["dh.input_ids"], mc_token_ids=expected["dh.mc_token_ids"])["mc_logits"]
    np.testing.assert_allclose(np.asarray(mc_logits), expected["dh.mc_logits"], rtol=0, atol=ATOL)


def test_missing_src_is_a_usage_error(tmp_path, capsys):
    code, out, err = convert(capsys, "convert", tmp_path / "nowhere", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, "SRC does not exist", "nowhere")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["convert", "SRC", "DST", "--model-class", "gpt2"], "--model-class"),
        (["convert", "SRC", "DST", "--n-head", "0"], "--n-head"),
        (["convert", "SRC", "DST", "--max-shard-size", "12 parsecs"], "--max-shard-size"),
        (["convert", "SRC"], "DST"),
        (["transmogrify"], "transmogrify"),
        ([], "COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, fragment):
    argv = [str(tmp_path) if arg == "SRC" else str(tmp_path / "out") if arg == "DST" else arg for arg in argv]
    code, out, err = convert(capsys, *argv)
    assert code == 2
    assert_one_line_error(err, fragment)


def test_missing_config_fails_naming_the_option(tiny_dir, tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    shutil.copyfile(tiny_dir / "lm" / "model.safetensors", source / "model.safetensors")
    code, out, err = convert(capsys, "convert", source, tmp_path / "out")
    assert code == 1
    assert_one_line_error(err, "no config.json", "--config")


def corrupted_checkpoint(tiny_dir, directory):
    directory.mkdir()
    shutil.copyfile(tiny_dir / "lm" / "config.json", directory / "config.json")
    data = bytearray((tiny_dir / "lm" / "model.safetensors").read_bytes())
    data[8:20] = b"#garbage#!!#"
    (directory / "model.safetensors").write_bytes(bytes(data))


def test_corrupted_file_exits_1_with_one_line_naming_it(tiny_dir, tmp_path, capsys):
    corrupted_checkpoint(tiny_dir, tmp_path / "src")
    code, out, err = convert(capsys, "convert", tmp_path / "src", tmp_path / "out")
    assert code == 1
    assert_one_line_error(err, "model.safetensors")
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_exception(tiny_dir, tmp_path, capsys):
    corrupted_checkpoint(tiny_dir, tmp_path / "src")
    with pytest.raises(ValueError, match="model.safetensors"):
        main(["convert", str(tmp_path / "src"), str(tmp_path / "out"), "--debug"])


def test_dst_equal_to_src_is_refused(tiny_dir, tmp_path, capsys):
    source = tmp_path / "src"
    shutil.copytree(tiny_dir / "lm", source)
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    code, out, err = convert(capsys, "convert", source, source)
    assert code == 2
    assert_one_line_error(err, "DST must differ from SRC")
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before


def test_console_entry_point_exit_code_and_help(tmp_path):
    # The module runs as the console script does; usage errors do not import TensorFlow, so this is quick.
    run = lambda *argv: subprocess.run([sys.executable, "-m", "gpt_keras.cli", *argv], capture_output=True, text=True)
    usage = run("convert", str(tmp_path / "nowhere"))
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and "DST" in usage.stderr
    helped = run("convert", "--help")
    assert helped.returncode == 0 and "--max-shard-size" in helped.stdout and "--model-class" in helped.stdout
