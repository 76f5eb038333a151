"""The `gpt-keras` command line: every command on tiny inputs (the tiny model, a tokenizer learned by
`train-tokenizer`), `--help` everywhere, and errors: one line, exit 2 for usage, 1 for failures."""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt_keras import TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTLMHeadModel
from gpt_keras.checkpoints import load_state_dict
from gpt_keras.cli import _quiet, main

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
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.json", "generation_config.json", "model.safetensors"]
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


@pytest.mark.parametrize("src_file", [None, "pytorch_model.bin"])
def test_dst_equal_to_src_or_its_directory_is_refused(tiny_dir, tmp_path, capsys, src_file):
    source = tmp_path / "src"
    shutil.copytree(tiny_dir / "lm", source)
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    code, out, err = convert(capsys, "convert", source / src_file if src_file else source, source)
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


# === the other commands, on the tiny model with a tokenizer learned by `train-tokenizer` ===

COMMAND_LINES = [
    ["convert"],
    ["generate"],
    ["finetune"],
    ["finetune", "lm"],
    ["finetune", "multiple-choice"],
    ["finetune", "classify"],
    ["evaluate"],
    ["evaluate", "perplexity"],
    ["evaluate", "multiple-choice"],
    ["evaluate", "classify"],
    ["export"],
    ["tokenize"],
    ["train-tokenizer"],
    ["quickstart"],
]
VOCAB_SIZE = 600  # below the tiny model's 1000 ids, with room for the paper's special tokens
PROMPT = "the python interpreter"


def run(capsys, *argv):
    return convert(capsys, *argv)


def test_every_command_is_listed_and_has_help(capsys):
    from gpt_keras.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert sorted(commands) == sorted({line[0] for line in COMMAND_LINES})
    for line in COMMAND_LINES:
        code, out, err = run(capsys, *line, "--help")
        assert code == 0, (line, err)
        assert out.startswith(f"usage: gpt-keras {' '.join(line)}"), out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Python's own documentation (the quickstart's corpus), a few topics as one text file."""
    from pydoc_data.topics import topics

    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(topics[name] for name in sorted(topics)[:12]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(corpus, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer") / "tok"
    assert main(["train-tokenizer", str(corpus), "--vocab-size", str(VOCAB_SIZE), "--output", str(directory)]) == 0
    return directory


@pytest.fixture(scope="module")
def model_dir(tiny_dir, tokenizer_dir, tmp_path_factory):
    """The tiny LM with the learned tokenizer beside it, as `finetune` writes its OUTPUT_DIR."""
    directory = tmp_path_factory.mktemp("model") / "lm"
    directory.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(tiny_dir / "lm" / name, directory / name)
    for path in tokenizer_dir.iterdir():
        shutil.copyfile(path, directory / path.name)
    return directory


def test_train_tokenizer_writes_the_vocabulary_size_asked_for(corpus, tmp_path, capsys):
    code, out, err = run(capsys, "train-tokenizer", corpus, "--vocab-size", "300", "--output", tmp_path / "tok")
    assert code == 0, err
    vocab = json.loads((tmp_path / "tok" / "vocab.json").read_text())
    assert len(vocab) == 300 and sorted(vocab.values()) == list(range(300))
    merges = (tmp_path / "tok" / "merges.txt").read_text().splitlines()
    alphabet = sum(1 for token in vocab if len(token.replace("</w>", "")) == 1) + 1  # + <unk>
    assert len(merges) - 1 == 300 - alphabet  # one line of header, one merge per non-character token
    assert "learned 300 tokens (basic pre-tokenizer)" in out and str(tmp_path / "tok") in out
    assert "reading 1 file(s)" in err and f"{corpus.stat().st_size:,}/{corpus.stat().st_size:,} bytes (100%)" in err


def test_tokenize_arguments_and_stdin(model_dir, monkeypatch, capsys):
    from gpt_keras import OpenAIGPTTokenizer

    tokenizer = OpenAIGPTTokenizer.from_pretrained(model_dir)
    texts = ["A list is mutable.", "the class statement"]
    code, out, err = run(capsys, "tokenize", model_dir, *texts)
    assert code == 0, err
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 2
    for text, block in zip(texts, blocks):
        tokens_line, ids_line = block.splitlines()
        tokens, ids = tokens_line.split()[1:], [int(i) for i in ids_line.split()[1:]]
        assert tokens == tokenizer.tokenize(text)
        assert ids == tokenizer.encode(text) == tokenizer.convert_tokens_to_ids(tokens)
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(texts) + "\n\n"))
    code, out, err = run(capsys, "tokenize", model_dir, "--ids-only")
    assert code == 0, err
    assert out.splitlines() == [" ".join(map(str, tokenizer.encode(text))) for text in texts]


def test_tokenize_mode_overrides_the_saved_pre_tokenizer(tokenizer_dir, capsys):
    from gpt_keras import OpenAIGPTTokenizer

    text = "Don't stop"
    outputs = {}
    for mode in ("basic", "spacy_ftfy"):
        code, out, err = run(capsys, "tokenize", tokenizer_dir, text, "--mode", mode)
        assert code == 0, err
        outputs[mode] = out.splitlines()[0].split()[1:]
        assert outputs[mode] == OpenAIGPTTokenizer.from_pretrained(tokenizer_dir, pre_tokenizer=mode).tokenize(text)
    assert outputs["basic"] != outputs["spacy_ftfy"]  # spaCy splits "do n't", the basic tokenizer "don ' t"


def test_tokenize_escapes_whitespace_inside_a_token():
    from gpt_keras.cli.tokenize import _visible

    assert _visible("\n</w>") == "\\n</w>" and _visible("é</w>") == "é</w>"


@pytest.fixture(scope="module")
def lm_and_tokenizer(model_dir):
    from gpt_keras import OpenAIGPTTokenizer

    return TFOpenAIGPTLMHeadModel.from_pretrained(model_dir), OpenAIGPTTokenizer.from_pretrained(model_dir)


def test_generate_streams_one_prompt_as_generate_text_continues_it(model_dir, lm_and_tokenizer, capsys):
    model, tokenizer = lm_and_tokenizer
    code, out, err = run(capsys, "generate", model_dir, PROMPT, "--max-new-tokens", "12")
    assert code == 0, err
    continuation = model.generate_text(tokenizer, [PROMPT], max_new_tokens=12)[0]
    assert continuation  # the tiny model's greedy path emits words, so this compares something
    assert out == f"{PROMPT} {continuation}\n"
    assert "Loaded" not in out  # the library's INFO log stays out of the result


def test_generate_batches_stdin_prompts_and_beams(model_dir, lm_and_tokenizer, monkeypatch, capsys):
    model, tokenizer = lm_and_tokenizer
    prompts = [PROMPT, "a list is"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(prompts) + "\n"))
    code, out, err = run(capsys, "generate", model_dir, "--max-new-tokens", "6", "--num-beams", "3")
    assert code == 0, err
    expected = model.generate_text(tokenizer, prompts, max_new_tokens=6, num_beams=3)
    assert out.splitlines() == [f"{p} {c}" for p, c in zip(prompts, expected)]


def test_generate_sampling_is_reproducible_with_a_seed(model_dir, capsys):
    argv = ["generate", model_dir, PROMPT, "--max-new-tokens", "8", "--do-sample", "--top-k", "50", "--top-p", "0.9"]
    first = run(capsys, *argv, "--seed", "7", "--no-stream")
    again = run(capsys, *argv, "--seed", "7")
    assert first[0] == again[0] == 0, first[2] + again[2]
    assert first[1] == again[1] and first[1].startswith(PROMPT + " ")


def _perplexity_by_hand(model, tokenizer, path, block_size):
    """exp(mean next-token NLL) over consecutive blocks of the file's tokens, with numpy."""
    ids = [i for line in path.read_text().splitlines() if line.strip() for i in tokenizer.encode(line)]
    blocks = np.asarray(ids[: len(ids) // block_size * block_size]).reshape(-1, block_size)
    logits = np.asarray(model(blocks)["logits"], np.float64)[:, :-1]
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, blocks[:, 1:, None], -1)
    return float(np.exp(nll.mean())), nll.size


def test_evaluate_perplexity_is_the_exponentiated_next_token_loss(model_dir, lm_and_tokenizer, tmp_path, capsys):
    model, tokenizer = lm_and_tokenizer
    text = tmp_path / "held_out.txt"
    text.write_text("a list is a sequence of items.\n\nthe class statement defines a class.\n" * 6)
    code, out, err = run(capsys, "evaluate", "perplexity", model_dir, text, "--max-length", "16", "--batch-size", "3")
    assert code == 0, err
    expected, tokens = _perplexity_by_hand(model, tokenizer, text, 16)
    value = float(out.split()[1])
    assert value == pytest.approx(expected, rel=1e-4)
    assert f"over {tokens:,} tokens" in out


def test_finetune_lm_lowers_the_perplexity_of_its_text(model_dir, corpus, tmp_path, capsys):
    argv = ["--max-length", "32", "--batch-size", "8"]
    code, out, err = run(capsys, "evaluate", "perplexity", model_dir, corpus, *argv)
    assert code == 0, err
    before = float(out.split()[1])
    finetune = ["finetune", "lm", model_dir, corpus, tmp_path / "ft", *argv, "--epochs", "2", "--learning-rate", "3e-3"]
    code, out, err = run(capsys, *finetune, "--checkpoint-dir", tmp_path / "ck")
    assert code == 0, err
    assert "training: " in out and "final training loss" in out
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt"} <= {p.name for p in (tmp_path / "ft").iterdir()}
    weights = (tmp_path / "ft" / "model.safetensors").read_bytes()
    # The same command again resumes a finished run: nothing to train, the same weights written.
    code, out, err = run(capsys, *finetune, "--checkpoint-dir", tmp_path / "ck")
    assert code == 0, err
    assert "training had finished before" in out and "nan" not in out
    assert (tmp_path / "ft" / "model.safetensors").read_bytes() == weights
    code, out, err = run(capsys, "evaluate", "perplexity", tmp_path / "ft", corpus, *argv)
    assert code == 0, err
    after = float(out.split()[1])
    assert after < before / 2, (before, after)


def test_finetune_plots_the_loss_curve_or_writes_its_csv(model_dir, tmp_path, monkeypatch, capsys):
    text = tmp_path / "text.txt"
    text.write_text("a list is a sequence of items.\nthe class statement defines a class.\n" * 20)
    argv = ["finetune", "lm", model_dir, text, tmp_path / "ft", "--max-length", "16", "--batch-size", "4", "--epochs", "1"]
    argv += ["--validation", text]
    code, out, err = run(capsys, *argv, "--plot", tmp_path / "plots" / "curve.png")
    assert code == 0, err
    assert f"loss curve -> {tmp_path / 'plots' / 'curve.png'}" in out
    png = (tmp_path / "plots" / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000  # a drawn plot, not an empty canvas
    assert "val_loss" in out  # the held-out text is scored after each epoch

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were not installed
    code, out, err = run(capsys, *argv, "--plot", tmp_path / "curve.png")
    assert code == 0, err
    assert not (tmp_path / "curve.png").exists()
    rows = (tmp_path / "curve.csv").read_text().splitlines()
    assert rows[0] == "series,step,loss" and any(row.startswith("validation loss,") for row in rows)
    note = [line for line in out.splitlines() if "curve.csv" in line]
    assert len(note) == 1 and 'pip install "gpt-keras[plot]"' in note[0]



def test_finetune_tensorboard_without_the_package_says_how_to_get_it_before_any_work(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` now fails, as when not installed
    text = tmp_path / "text.txt"
    text.write_text("a list is a sequence of items.\n" * 20)
    code, out, err = run(capsys, "finetune", "lm", model_dir, text, tmp_path / "ft", "--tensorboard", tmp_path / "tb")
    assert code == 2 and out == ""
    assert_one_line_error(err, "--tensorboard needs the tensorboard package", 'pip install "gpt-keras[tensorboard]"')
    assert not (tmp_path / "ft").exists() and not (tmp_path / "tb").exists()


def test_finetune_tensorboard_hands_keras_callback_the_directory(model_dir, tmp_path, monkeypatch, capsys):
    import keras

    import gpt_keras.cli.finetune

    # The package is not installed here, and TensorFlow's summaries need it: Keras' callback is
    # replaced by one that records what it was given and which epochs it saw.
    monkeypatch.setattr(gpt_keras.cli.finetune, "_tensorboard_installed", lambda: True)
    made = []

    class Recorder(keras.callbacks.Callback):
        def __init__(self, log_dir, **options):
            super().__init__()
            self.log_dir, self.options, self.epochs = log_dir, options, []
            made.append(self)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((epoch, sorted(logs)))

    monkeypatch.setattr(keras.callbacks, "TensorBoard", Recorder)
    text = tmp_path / "text.txt"
    text.write_text("a list is a sequence of items.\nthe class statement defines a class.\n" * 20)
    argv = ["finetune", "lm", model_dir, text, tmp_path / "ft", "--max-length", "16", "--batch-size", "4", "--epochs", "2"]
    code, out, err = run(capsys, *argv, "--validation", text, "--tensorboard", tmp_path / "tb")
    assert code == 0, err
    (callback,) = made
    assert callback.log_dir == str(tmp_path / "tb") and callback.options == {"update_freq": 10}
    assert callback.epochs == [(0, ["loss", "val_loss"]), (1, ["loss", "val_loss"])]

STORIES = [
    ("Ben had a dog.", "Ben fed the dog.", "The dog was happy.", "Ben liked it.", "The dog smiled.", "The car flew.", "1"),
    ("Kim had a cat.", "Kim lost the cat.", "She looked around.", "She was sad.", "The moon sang.", "Kim found the cat.", "2"),
]


def write_rocstories(path, rows):
    header = "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
    header += "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding"
    lines = [header] + [f"s{i}," + ",".join(row) for i, row in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_finetune_and_evaluate_multiple_choice(model_dir, tmp_path, capsys):
    data = write_rocstories(tmp_path / "stories.csv", STORIES * 4)
    output = tmp_path / "mc"
    code, out, err = run(capsys, "finetune", "multiple-choice", model_dir, data, output, "--epochs", "1", "--batch-size", "4")
    assert code == 0, err
    assert "8 examples, 2 steps x 1 epochs of batch 4" in out
    assert json.loads((output / "config.json").read_text())["architectures"] == ["OpenAIGPTDoubleHeadsModel"]
    saved = json.loads((output / "tokenizer_config.json").read_text())
    assert {saved[name] if isinstance(saved[name], str) else saved[name]["content"] for name in ("bos_token", "sep_token", "cls_token")} == {
        "_start_",
        "_delimiter_",
        "_classify_",
    }
    code, out, err = run(capsys, "evaluate", "multiple-choice", output, data)
    assert code == 0, err
    accuracy, correct = float(out.split()[1]), int(out.split("(")[1].split("/")[0])
    assert "/8 examples)" in out and accuracy == pytest.approx(correct / 8, abs=1e-4)
    # The LM directory's tokenizer lacks the paper's markers: one line naming them, before any work.
    code, out, err = run(capsys, "evaluate", "multiple-choice", model_dir, data)
    assert code == 1
    assert_one_line_error(err, "gpt-keras evaluate multiple-choice: error:", "_start_", "finetune multiple-choice")


def test_finetune_multiple_choice_needs_labels(model_dir, tmp_path, capsys):
    # Without labels only the LM loss would train, and the choice head would stay as initialized.
    data = tmp_path / "unlabelled.jsonl"
    data.write_text("\n".join(json.dumps({"context": "a b", "endings": ["c", "d"]}) for _ in range(4)) + "\n")
    code, out, err = run(capsys, "finetune", "multiple-choice", model_dir, data, tmp_path / "mc")
    assert code == 2
    assert_one_line_error(err, "DATA must label every example", "unlabelled.jsonl")
    assert not (tmp_path / "mc").exists()


def test_finetune_and_evaluate_classification_with_label_names(model_dir, tmp_path, capsys):
    rows = [{"text": "great fun , loved it", "label": "pos"}, {"text": "dull and weak", "label": "neg"}] * 4
    data = tmp_path / "reviews.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "cls"
    names = ["--label-names", "neg", "pos"]
    code, out, err = run(capsys, "finetune", "classify", model_dir, data, output, "--epochs", "2", "--batch-size", "4", *names)
    assert code == 0, err
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["OpenAIGPTForSequenceClassification"] and config.get("num_labels", len(config.get("id2label", {}))) == 2
    code, out, err = run(capsys, "evaluate", "classify", output, data, *names)
    assert code == 0, err
    assert "/8 examples)" in out
    # A label that is not one of the names: the file and line are named.
    data.write_text(json.dumps({"text": "odd", "label": "meh"}) + "\n")
    code, out, err = run(capsys, "evaluate", "classify", output, data, *names)
    assert code == 1
    assert_one_line_error(err, f"{data}:1:", "label")


def test_export_picks_the_class_numbers_versions_and_prints_the_directory(model_dir, tiny_dir, tmp_path, capsys):
    import tensorflow as tf

    argv = ["export", model_dir, tmp_path / "lm", "--max-length", "16", "--max-new-tokens", "4"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[-1] == str(tmp_path / "lm" / "1") and "signatures: generate, generate_text, serving_default, tokenize" in out
    loaded = tf.saved_model.load(lines[-1])
    prompt = tf.constant([[5, 6, 7]], tf.int32)
    sequences = loaded.signatures["generate"](
        input_ids=prompt,
        attention_mask=tf.ones_like(prompt),
        max_new_tokens=tf.constant(4),
        temperature=tf.constant(1.0),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(0),
        do_sample=tf.constant(False),
    )["sequences"].numpy()
    expected = TFOpenAIGPTLMHeadModel.from_pretrained(model_dir).generate(prompt.numpy(), max_new_tokens=4).numpy()
    np.testing.assert_array_equal(sequences, expected)
    code, out, err = run(capsys, *argv)
    assert code == 0 and out.strip().splitlines()[-1] == str(tmp_path / "lm" / "2")
    code, out, err = run(capsys, "export", tiny_dir / "seq-cls", tmp_path / "cls", "--version", "7")
    assert code == 0, err
    assert "model: TFOpenAIGPTForSequenceClassification" in out and "signatures: serving_default\n" in out
    assert out.strip().splitlines()[-1] == str(tmp_path / "cls" / "7")
    code, out, err = run(capsys, "export", tiny_dir / "seq-cls", tmp_path / "cls", "--version", "7")
    assert code == 1
    assert_one_line_error(err, "version 7 exists already")


def test_quickstart_command_passes_its_options(monkeypatch, tmp_path, capsys):
    import gpt_keras.quickstart

    calls = []
    monkeypatch.setattr(gpt_keras.quickstart, "run_quickstart", lambda *args, **kwargs: calls.append((args, kwargs)))
    code, out, err = run(capsys, "quickstart", "--output", tmp_path / "qs", "--reduced", "--train-seconds", "2.5", "--seed", "3")
    assert code == 0, err
    (args, kwargs), = calls
    assert args == (tmp_path / "qs",) and kwargs["reduced"] is True
    assert kwargs["train_seconds"] == 2.5 and kwargs["seed"] == 3


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["generate", "MODEL", "x", "--top-p", "1.5"], "--top-p"),
        (["generate", "MODEL", "x", "--temperature", "0"], "--temperature"),
        (["generate", "MODEL", "x", "--num-beams", "two"], "--num-beams"),
        (["generate", "MODEL", "x", "--top-k", "-1"], "--top-k"),
        (["export", "MODEL", "OUT", "--model-class", "gpt2"], "--model-class"),
        (["export", "MODEL", "OUT", "--version", "-3"], "--version"),
        (["tokenize", "MODEL", "x", "--mode", "klingon"], "--mode"),
        (["train-tokenizer", "FILE", "--output", "OUT"], "--vocab-size"),
        (["train-tokenizer", "FILE", "--vocab-size", "0", "--output", "OUT"], "--vocab-size"),
        (["finetune", "translate", "MODEL", "FILE", "OUT"], "translate"),
        (["finetune", "lm", "MODEL", "FILE"], "OUTPUT_DIR"),
        (["finetune", "lm", "MODEL", "FILE", "OUT", "--epochs", "0"], "--epochs"),
        (["finetune", "lm", "MODEL", "FILE", "OUT", "--warmup", "2"], "--warmup"),
        (["finetune", "multiple-choice", "MODEL", "FILE", "OUT", "--lm-coef", "-0.5"], "--lm-coef"),
        (["evaluate"], "TASK"),
        (["evaluate", "perplexity", "MODEL"], "TEXT_FILE"),
        (["quickstart", "--train-seconds", "-1"], "--train-seconds"),
    ],
)
def test_bad_arguments_of_every_command_exit_2_with_one_line(model_dir, corpus, tmp_path, capsys, argv, fragment):
    paths = {"MODEL": model_dir, "FILE": corpus, "OUT": tmp_path / "out"}
    code, out, err = run(capsys, *[paths.get(arg, arg) for arg in argv])
    assert code == 2
    assert_one_line_error(err, fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["generate", "NOWHERE", "x"], "MODEL_DIR does not exist"),
        (["export", "NOWHERE", "OUT"], "MODEL_DIR does not exist"),
        (["tokenize", "NOWHERE", "x"], "MODEL_OR_TOKENIZER_DIR does not exist"),
        (["tokenize", "FILE", "x"], "must be a directory"),
        (["train-tokenizer", "NOWHERE", "--vocab-size", "50", "--output", "OUT"], "FILE does not exist"),
        (["evaluate", "perplexity", "MODEL", "NOWHERE"], "TEXT_FILE does not exist"),
        (["evaluate", "classify", "MODEL", "NOWHERE"], "DATA does not exist"),
        (["finetune", "lm", "MODEL", "NOWHERE", "OUT"], "DATA does not exist"),
        (["finetune", "multiple-choice", "NOWHERE", "FILE", "OUT"], "MODEL_DIR does not exist"),
        (["finetune", "lm", "MODEL", "FILE", "FILE"], "OUTPUT_DIR must be a directory"),  # before training
        (["export", "MODEL", "FILE"], "EXPORT_DIR must be a directory"),
        (["finetune", "lm", "MODEL", "FILE", "OUT", "--checkpoint-dir", "FILE"], "--checkpoint-dir must be a directory"),
        (["generate", "TINY", "x"], "no vocabulary"),  # a model directory without a tokenizer
        (["export", "MODEL", "OUT", "--no-generate", "--max-length", "8"], "--no-generate"),
        (["evaluate", "perplexity", "MODEL", "FILE", "--max-length", "65"], "n_positions (64)"),
        (["finetune", "lm", "MODEL", "FILE", "OUT", "--validation", "NOWHERE"], "--validation does not exist"),
        (["finetune", "lm", "MODEL", "FILE", "OUT", "--plot", "TINY"], "--plot must be a file path"),
        (["finetune", "lm", "MODEL", "FILE", "OUT", "--save-every", "5"], "--save-every needs --checkpoint-dir"),
    ],
)
def test_missing_inputs_are_usage_errors_naming_the_argument(model_dir, tiny_dir, corpus, tmp_path, capsys, argv, fragment):
    paths = {"MODEL": model_dir, "TINY": tiny_dir / "lm", "FILE": corpus, "OUT": tmp_path / "out", "NOWHERE": tmp_path / "nowhere"}
    code, out, err = run(capsys, *[paths.get(arg, arg) for arg in argv])
    assert code == 2
    assert_one_line_error(err, fragment)
    if "NOWHERE" in argv:
        assert "nowhere" in err
    assert not (tmp_path / "out").exists()


def test_no_prompt_on_an_empty_stdin_is_a_usage_error(model_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    code, out, err = run(capsys, "generate", model_dir)
    assert code == 2
    assert_one_line_error(err, "no prompt given", "stdin")


def test_failures_exit_1_with_one_line(model_dir, vocab_dir, corpus, tmp_path, capsys):
    # A vocabulary too small for the corpus's characters.
    code, out, err = run(capsys, "train-tokenizer", corpus, "--vocab-size", "5", "--output", tmp_path / "tok")
    assert code == 1
    progress, error = err.splitlines(keepends=True)[:-1], err.splitlines(keepends=True)[-1]
    assert all(line.startswith("reading 1 file(s): ") for line in progress), err
    assert_one_line_error(error, "gpt-keras train-tokenizer: error:", "vocab_size=5")
    # The released 40478-token vocabulary cannot feed the tiny model's 1000 ids.
    code, out, err = run(capsys, "generate", model_dir, "hello", "--tokenizer", vocab_dir)
    assert code == 1
    assert_one_line_error(err, "40478 tokens", "vocab_size=1000")
    # Not UTF-8: the file and line are named.
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("caf\xe9\n".encode("latin-1"))
    code, out, err = run(capsys, "train-tokenizer", binary, "--vocab-size", "50", "--output", tmp_path / "tok")
    assert code == 1
    assert_one_line_error(err.splitlines(keepends=True)[-1], f"{binary}:1: not UTF-8")


def test_debug_raises_from_a_nested_command(tmp_path, corpus):
    from gpt_keras.cli import CommandLineError

    with pytest.raises(CommandLineError, match="MODEL_DIR does not exist"):
        main(["evaluate", "perplexity", str(tmp_path / "nowhere"), str(corpus), "--debug"])


def test_console_script_runs_commands(model_dir, tmp_path):
    script = Path(sys.executable).with_name("gpt-keras")
    assert script.is_file(), f"the console script is not installed beside {sys.executable}"
    done = subprocess.run([str(script), "tokenize", str(model_dir), PROMPT, "--ids-only"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from gpt_keras import OpenAIGPTTokenizer

    assert done.stdout == " ".join(map(str, OpenAIGPTTokenizer.from_pretrained(model_dir).encode(PROMPT))) + "\n"
    failed = subprocess.run([str(script), "generate", str(tmp_path / "nowhere"), "x"], capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr


def test_a_command_prints_only_its_own_lines_in_a_clean_environment(model_dir):
    # No TF_CPP_MIN_LOG_LEVEL, as a newcomer's shell has it: TensorFlow's C++ logging (CUDA probes,
    # oneDNN notice, absl's line before its first) must not reach the terminal.
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "PYTHONPATH") if name in os.environ}
    script = Path(sys.executable).with_name("gpt-keras")
    argv = [str(script), "generate", str(model_dir), PROMPT, "--max-new-tokens", "3"]
    done = subprocess.run(argv, capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 1 and done.stdout.startswith(PROMPT)


def test_the_quiet_terminal_leaves_debug_runs_and_the_users_log_level_alone(monkeypatch):
    monkeypatch.delenv(_quiet.LOG_LEVEL_VARIABLE, raising=False)
    finders = list(sys.meta_path)
    with _quiet.quiet_tensorflow() as quiet:
        assert quiet and os.environ[_quiet.LOG_LEVEL_VARIABLE] == "3"
    assert _quiet.LOG_LEVEL_VARIABLE not in os.environ and sys.meta_path == finders  # as before the command
    with _quiet.quiet_tensorflow(debug=True) as quiet:
        assert not quiet and _quiet.LOG_LEVEL_VARIABLE not in os.environ
    monkeypatch.setenv(_quiet.LOG_LEVEL_VARIABLE, "0")
    with _quiet.quiet_tensorflow() as quiet:
        assert not quiet and os.environ[_quiet.LOG_LEVEL_VARIABLE] == "0" and sys.meta_path == finders
    assert os.environ[_quiet.LOG_LEVEL_VARIABLE] == "0"


def test_absl_lines_logged_while_tensorflow_loads_are_dropped_and_others_kept(capfd):
    absl = (
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        b"I0000 00:00:1796116646.179509   28917 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
        b"E0000 00:00:1796116647.059301   24617 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
        b"W1126 09:12:01.000001    4242 assert_op.cc:39] Ignoring Assert operator model/Assert/Assert\n"
    )
    first, others = absl.split(b"\n", 1)
    with _quiet._cpp_log_lines_dropped():
        os.write(2, first + b"\na line of the program's own\n" + others + b"UserWarning: a Python warning\n")
    assert capfd.readouterr().err == "a line of the program's own\nUserWarning: a Python warning\n"
    with pytest.raises(ImportError):
        with _quiet._cpp_log_lines_dropped():
            os.write(2, absl)
            raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")
    assert capfd.readouterr().err == absl.decode()  # a failed import shows everything it logged

