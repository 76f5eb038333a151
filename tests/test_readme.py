"""Every Python snippet of README.md runs as written, in order, in one namespace (as a reader pastes them
into one session), against a directory laid out like the released model: the real vocabulary from
../shared and a small random model of the release's vocabulary size and positions, also as a Hugging
Face cache entry for Hub ids. Only paths change: the released model's directory, the ROCStories file
and TF Serving's model root."""
import re
import shutil
from pathlib import Path

import pytest

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Blocks that talk to a running TF Serving over gRPC (tensorflow-serving-api, a server, and the README's
# `predict` helper over them): compiled only.
NEEDS_A_SERVER = ("prediction_service_pb2_grpc", 'predict("tokenize"')

# What a block uses from the reader's own work, said in the README as a comment ("as above").
PREAMBLES = {
    "strategy = tf.distribute.MirroredStrategy()": (
        "from gpt_keras import data\n"
        "features = data.causal_lm_features(tokenizer, 32, texts=['the cat sat on the mat . ' * 40])\n"
        "dataset = data.to_dataset(features, batch_size=8)\n"
        "total_steps = 3 * data.steps_per_epoch(features, batch_size=8)\n"
    ),
}


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def released_layout(vocab_dir, tmp_path_factory):
    """A directory like the release's: its vocabulary, and a small random model of its sizes of table."""
    root = tmp_path_factory.mktemp("readme")
    model_dir = root / "openai-gpt"
    config = OpenAIGPTConfig(vocab_size=40478, n_positions=512, n_embd=16, n_layer=1, n_head=2)
    TFOpenAIGPTLMHeadModel(config).save_pretrained(model_dir)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(vocab_dir / name, model_dir / name)
    return root, model_dir


def test_readme_has_the_snippets_this_test_knows():
    blocks = python_blocks()
    assert len(blocks) >= 7
    for marker in PREAMBLES:
        assert any(marker in block for block in blocks), f"README no longer has the block with {marker!r}"


def _hub_cache(root, model_dir):
    """A Hugging Face cache holding the release as `openai-community/openai-gpt` at branch main."""
    repo = root / "hf" / "hub" / "models--openai-community--openai-gpt"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    return root / "hf"


def test_every_python_snippet_runs_as_written(released_layout, monkeypatch, capsys):
    root, model_dir = released_layout
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_HOME", str(_hub_cache(root, model_dir)))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    paths = {
        '"path/to/openai-gpt"': repr(str(model_dir)),
        '"openai-gpt/"': repr(str(model_dir)),
        '"/models/openai-gpt': '"' + str(root / "models" / "openai-gpt"),
        '"cloze_test_val__spring2016.csv"': repr(str(EXAMPLES / "data" / "rocstories_tiny.csv")),
    }
    namespace = {"__name__": "readme"}
    ran = 0
    for number, block in enumerate(python_blocks(), start=1):
        for old, new in paths.items():
            block = block.replace(old, new)
        if any(marker in block for marker in NEEDS_A_SERVER):
            compile(block, f"README.md python block {number}", "exec")
            continue
        for marker, preamble in PREAMBLES.items():
            if marker in block:
                exec(compile(preamble, f"preamble of README.md python block {number}", "exec"), namespace)
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        ran += 1
    assert ran >= 6
    # The streaming snippet printed text; the export snippet wrote version 1.
    assert capsys.readouterr().out.strip()
    assert (root / "models" / "openai-gpt" / "1" / "saved_model.pb").is_file()
