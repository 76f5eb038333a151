"""`export_saved_model` without a server: versioned layout, variables stored once, argument errors."""
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import gpt_keras
from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTForSequenceClassification, TFOpenAIGPTLMHeadModel, TFOpenAIGPTModel
from gpt_keras.export import METADATA_FILE, export_saved_model

TINY = dict(vocab_size=50, n_positions=16, n_embd=8, n_layer=1, n_head=2)


@pytest.fixture(scope="module")
def base_model():
    return TFOpenAIGPTModel(OpenAIGPTConfig(**TINY))


@pytest.fixture(scope="module")
def lm_model():
    return TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**TINY))


def test_lazy_package_export():
    assert gpt_keras.export_saved_model is export_saved_model


def test_versions_are_numbered_and_never_overwritten(tmp_path, base_model):
    first = export_saved_model(base_model, tmp_path / "base")
    second = export_saved_model(base_model, tmp_path / "base")
    assert (first.name, second.name) == ("1", "2")
    for version in (first, second):
        assert (version / "saved_model.pb").is_file()
        assert (version / "variables" / "variables.index").is_file()
    explicit = export_saved_model(base_model, tmp_path / "base", version=7)
    assert explicit == tmp_path / "base" / "7"
    with pytest.raises(FileExistsError, match="version 7"):
        export_saved_model(base_model, tmp_path / "base", version=7)
    # Nothing but the version directories: no staging directory left behind.
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["1", "2", "7"]


def test_a_version_taken_during_the_export_is_not_overwritten(tmp_path, base_model, monkeypatch):
    real_save = tf.saved_model.save

    def save_while_another_export_lands(module, path, signatures=None):
        real_save(module, path, signatures=signatures)
        (tmp_path / "m" / "1").mkdir(parents=True)
        (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"theirs")

    monkeypatch.setattr(tf.saved_model, "save", save_while_another_export_lands)
    with pytest.raises(FileExistsError, match="version 1 appeared"):
        export_saved_model(base_model, tmp_path / "m")
    assert (tmp_path / "m" / "1" / "saved_model.pb").read_bytes() == b"theirs"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]


def test_a_failed_export_leaves_nothing_and_the_next_removes_old_leftovers(tmp_path, base_model, monkeypatch):
    export_dir = tmp_path / "m"
    export_saved_model(base_model, export_dir)
    stale = export_dir / ".2-incomplete-0123456789ab"  # left by a killed export of an earlier release
    (stale / "variables").mkdir(parents=True)

    def disk_full(module, path, signatures=None):
        (Path(path) / "saved_model.pb").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        export_saved_model(base_model, export_dir)
    assert sorted(p.name for p in export_dir.iterdir()) == ["1"]
    monkeypatch.undo()
    assert export_saved_model(base_model, export_dir).name == "2"
    assert sorted(p.name for p in export_dir.iterdir()) == ["1", "2"]


def test_signatures_share_one_copy_of_the_variables(tmp_path, lm_model):
    version = export_saved_model(lm_model, tmp_path / "lm", max_new_tokens=4)
    checkpoint = tf.train.list_variables(str(version / "variables" / "variables"))
    stored = [shape for name, shape in checkpoint if "VARIABLE_VALUE" in name]
    assert sorted(map(tuple, stored)) == sorted(tuple(v.shape) for v in lm_model.variables)
    metadata = json.loads((version / "assets.extra" / METADATA_FILE).read_text())
    assert set(metadata["signatures"]) == {"serving_default", "generate"}
    assert metadata["generate"]["max_new_tokens"] == 4
    assert metadata["generate"]["max_prompt_length"] == TINY["n_positions"] - 4


def test_probabilities_follow_the_problem_type(tmp_path):
    ids = np.array([[3, 4, 5]], np.int32)
    mask = np.ones_like(ids)
    for problem_type, num_labels, expected_outputs in (
        ("multi_label_classification", 3, {"logits", "probabilities"}),
        ("regression", 1, {"logits"}),
    ):
        config = OpenAIGPTConfig(**TINY, num_labels=num_labels, problem_type=problem_type)
        model = TFOpenAIGPTForSequenceClassification(config)
        loaded = tf.saved_model.load(str(export_saved_model(model, tmp_path / problem_type)))
        outputs = loaded.signatures["serving_default"](input_ids=tf.constant(ids), attention_mask=tf.constant(mask))
        assert set(outputs) == expected_outputs
        logits = model(ids, attention_mask=mask)["logits"].numpy()
        np.testing.assert_allclose(outputs["logits"].numpy(), logits, atol=1e-5)
        if "probabilities" in outputs:
            np.testing.assert_allclose(outputs["probabilities"].numpy(), 1 / (1 + np.exp(-logits)), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(max_new_tokens=16), ValueError, "max_new_tokens must be an integer in \\[1, 15\\]"),
        (dict(max_new_tokens=0), ValueError, "max_new_tokens"),
        (dict(max_length=17), ValueError, "max_length must be an integer in \\[2, 16\\]"),
        (dict(max_length=8, max_new_tokens=8), ValueError, "max_new_tokens must be an integer in \\[1, 7\\]"),
        (dict(version=-1), ValueError, "version"),
        (dict(version="3"), ValueError, "version"),
        (dict(top_k=5), TypeError, "unknown decoding options \\['top_k'\\]"),
        (dict(num_return_sequences=2), ValueError, "num_return_sequences"),
        (dict(num_beams=2, early_stopping=1), ValueError, "early_stopping must be True, False"),
        (dict(generate=False, max_new_tokens=4), ValueError, "max_new_tokens configure the generate signature.*=False"),
    ],
)
def test_bad_arguments_are_named(tmp_path, lm_model, kwargs, error, match):
    with pytest.raises(error, match=match):
        export_saved_model(lm_model, tmp_path / "lm", **kwargs)
    assert not (tmp_path / "lm").exists() or not any((tmp_path / "lm").iterdir())


def test_generate_options_need_an_lm_head(tmp_path, base_model):
    with pytest.raises(ValueError, match="max_length configure the generate signature.*TFOpenAIGPTModel has no LM"):
        export_saved_model(base_model, tmp_path / "base", max_length=8)


def test_model_must_be_ours(tmp_path):
    with pytest.raises(TypeError, match="model must be one of the gpt_keras models, got Sequential"):
        export_saved_model(keras.Sequential(), tmp_path / "x")


def test_beam_search_options_are_fixed_in_the_program(tmp_path, tiny_dir, expected):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    version = export_saved_model(model, tmp_path / "beam", max_length=32, max_new_tokens=12, num_beams=4)
    generate = tf.saved_model.load(str(version)).signatures["generate"]
    for k in range(3):
        prompt = expected[f"gen.prompt.{k}"].astype(np.int32)[None]
        sequences = generate(
            input_ids=tf.constant(prompt),
            attention_mask=tf.ones_like(prompt),
            max_new_tokens=tf.constant(12),
            temperature=tf.constant(1.0),
            top_k=tf.constant(0),
            top_p=tf.constant(1.0),
            seed=tf.constant(0),
            do_sample=tf.constant(False),
        )["sequences"].numpy()
        np.testing.assert_array_equal(sequences[0], expected[f"gen.beam4.{k}"])
        np.testing.assert_array_equal(sequences, model.generate(prompt, max_new_tokens=12, num_beams=4).numpy())


def test_keras_export_works_without_an_input_signature(tmp_path, lm_model):
    lm_model.export(tmp_path / "keras_export", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "keras_export"))
    ids = np.array([[3, 5, 7, 9]], np.int32)
    outputs = reloaded.serve({"input_ids": tf.constant(ids), "attention_mask": tf.ones_like(ids)})
    np.testing.assert_allclose(outputs["logits"], lm_model(ids).logits, atol=1e-5)


def test_min_new_tokens_and_bad_words_are_fixed_in_the_program(tmp_path, lm_model):
    ids = np.array([[3, 5, 7, 9]], np.int32)
    # An EOS the tiny random model picks early, so that min_new_tokens has something to hold back.
    eos = int(lm_model.generate(ids, max_new_tokens=1, top_k=0)[0, -1])
    banned = int(lm_model.generate(ids, max_new_tokens=2, top_k=0)[0, -1])
    options = dict(min_new_tokens=6, eos_token_id=eos, bad_words_ids=[[banned]])
    version = export_saved_model(lm_model, tmp_path / "m", max_length=16, max_new_tokens=8, **options)
    assert json.loads((version / "assets.extra" / METADATA_FILE).read_text())["generate"]["min_new_tokens"] == 6
    generate = tf.saved_model.load(str(version)).signatures["generate"]
    controls = dict(temperature=tf.constant(1.0), top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(0))
    served = generate(
        input_ids=tf.constant(ids), attention_mask=tf.ones_like(ids), max_new_tokens=tf.constant(8),
        do_sample=tf.constant(False), **controls,
    )["sequences"].numpy()
    expected = lm_model.generate(ids, max_new_tokens=8, top_k=0, **options).numpy()
    np.testing.assert_array_equal(served, expected)
    assert eos not in expected[0, 4:10] and banned not in expected[0, 4:]
