"""`from_pretrained` with the reference's keyword arguments, as a user switching from transformers passes them.

Loading options (`revision`, `from_pt`, `ignore_mismatched_sizes`, ...) are honoured or refused by name and
never reach config.json; config fields (`output_attentions=True`, `num_labels=5`) become config values; and
`output_loading_info=True` reports what the reference reports for the same checkpoint
(tests/fixtures/reference_loading.json, made by tests/fixtures_tools/make_reference_loading_fixtures.py).
"""
import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_config

from gpt_keras import (
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)
from gpt_keras.checkpoints import CheckpointMismatchError, load_state_dict
from gpt_keras.checkpoints.safetensors import save_safetensors
from gpt_keras.tokenization import OpenAIGPTTokenizer

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "reference_loading.json").read_text())
CLASSES = {
    "Model": TFOpenAIGPTModel,
    "LMHeadModel": TFOpenAIGPTLMHeadModel,
    "DoubleHeadsModel": TFOpenAIGPTDoubleHeadsModel,
    "ForSequenceClassification": TFOpenAIGPTForSequenceClassification,
}
LOADING_OPTIONS = dict(
    revision="main", cache_dir="/nonexistent/cache", local_files_only=True, force_download=False, token=None,
    from_pt=False, ignore_mismatched_sizes=True, use_safetensors=None, resume_download=None, proxies=None,
)  # fmt: skip


def saved_config(model, directory):
    model.save_pretrained(directory)
    return json.loads((directory / "config.json").read_text())


@pytest.mark.parametrize("case", sorted(REFERENCE["pytorch"]["loading_info"]))
def test_output_loading_info_is_the_references(tiny_dir, case):
    reference = REFERENCE["pytorch"]["loading_info"][case]
    cls = CLASSES[reference["class"]]
    model, info = cls.from_pretrained(tiny_dir / reference["directory"], output_loading_info=True, **reference["kwargs"])
    assert set(info) == {"missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"}
    for key in ("missing_keys", "unexpected_keys", "error_msgs"):
        assert info[key] == reference[key], key
    # The reference lists mismatched tensors by name; its TF port as (name, checkpoint shape, model shape).
    assert [[name, list(found), list(shape)] for name, found, shape in info["mismatched_keys"]] == reference["mismatched_keys"]
    assert all(isinstance(found, tuple) and isinstance(shape, tuple) for _, found, shape in info["mismatched_keys"])
    assert model.config.num_labels == reference["num_labels"]


def test_a_head_of_another_size_is_refused_naming_both_shapes_and_the_option(tiny_dir):
    assert REFERENCE["pytorch"]["refused"]["seq_cls_5_labels"] == "RuntimeError"  # the reference refuses it too
    with pytest.raises(CheckpointMismatchError) as error:
        TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls", num_labels=5)
    message = str(error.value)
    assert "score.weight" in message and "(3, 32)" in message and "(5, 32)" in message
    assert "ignore_mismatched_sizes=True" in message


def test_ignore_mismatched_sizes_reinitializes_the_head_says_so_and_loads_the_rest(tiny_dir, caplog, expected):
    with caplog.at_level(logging.WARNING, logger="gpt_keras"):
        model = TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls", num_labels=5, ignore_mismatched_sizes=True)
    assert "score.weight: found shape (3, 32) in the checkpoint and (5, 32) in the model" in caplog.text
    assert model.config.num_labels == 5 and len(model.config.id2label) == len(model.config.label2id) == 5
    stored, _ = load_state_dict(tiny_dir / "seq-cls")
    state = model.get_state_dict()
    assert state["score.weight"].shape == (5, 32)
    for name, value in stored.items():
        if name != "score.weight":
            np.testing.assert_array_equal(state[name], value, err_msg=name)
    logits = model(input_ids=expected["sc.input_ids"])["logits"]
    assert tuple(logits.shape) == (3, 5)


def test_loading_options_never_reach_the_config_or_config_json(tiny_dir, tmp_path):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", **LOADING_OPTIONS)
    written = saved_config(model, tmp_path / "saved")
    for name in LOADING_OPTIONS:
        assert name not in written and name not in model.config.to_dict(), name


def test_flags_given_to_from_pretrained_become_config_values_and_round_trip(tiny_dir, tmp_path):
    model = TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm", output_attentions=True, output_hidden_states=True, return_dict=False)
    assert (model.config.output_attentions, model.config.output_hidden_states, model.config.use_return_dict) == (True, True, False)
    written = saved_config(model, tmp_path / "saved")
    assert (written["output_attentions"], written["output_hidden_states"], written["return_dict"]) == (True, True, False)
    reloaded = TFOpenAIGPTModel.from_pretrained(tmp_path / "saved")
    assert reloaded.config.output_attentions and reloaded.config.output_hidden_states and not reloaded.config.return_dict
    # The defaults are not written, as the reference's config.json leaves them out.
    defaults = saved_config(TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm"), tmp_path / "plain")
    assert "output_attentions" not in defaults and "return_dict" not in defaults
    with pytest.raises(ValueError, match="output_attentions must be true or false"):
        TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm", output_attentions="yes")


def test_id2label_names_the_new_labels(tiny_dir):
    names = {0: "neg", 1: "neutral", 2: "pos"}
    model = TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls", id2label=names)
    assert model.config.id2label == names and model.config.label2id == {"neg": 0, "neutral": 1, "pos": 2}
    with pytest.raises(ValueError, match="num_labels=2 disagrees with id2label"):
        TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls", num_labels=2, id2label=names)


def test_a_keyword_that_is_neither_option_field_nor_argument_is_refused_by_name(tiny_dir):
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['output_attention'\]"):
        TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm", output_attention=True)
    # The reference's common config fields are fields here too.
    assert TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm", torchscript=True).config.torchscript is True


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(proxies={"https": "proxy:3128"}), "proxies= is not supported: .*HTTPS_PROXY"),
        (dict(tf_to_pt_weight_rename=str), "tf_to_pt_weight_rename= is not supported"),
        (dict(from_flax=True), "from_flax= is not supported"),
        (dict(from_pt=True, from_tf=True), "from_pt=True and from_tf=True contradict"),
        (dict(from_pt="yes"), "from_pt must be True or False"),
        (dict(local_files_only=1), "local_files_only must be True or False"),
        (dict(token="a", use_auth_token="b"), "token and use_auth_token are both given"),
    ],
)
def test_options_without_a_counterpart_are_refused_by_name(tiny_dir, kwargs, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(ValueError, match=message):
            TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", **kwargs)


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_torch_dtype_is_the_deprecated_dtype(tiny_dir, name):
    with pytest.warns(FutureWarning, match="torch_dtype is deprecated"):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", torch_dtype=name)
    assert {v.dtype for v in model.weights} == {name}
    # dtype= wins over torch_dtype=, as in the reference.
    with pytest.warns(FutureWarning):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", torch_dtype=name, dtype="float32")
    assert {v.dtype for v in model.weights} == {"float32"}


def test_dtype_auto_is_the_checkpoints_dtype(tiny_dir, tmp_path):
    # config.json's dtype first, then (without one) the stored tensors' dtype, as the reference picks it.
    assert {v.dtype for v in TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm", dtype="auto").weights} == {"float32"}
    state = {name: np.asarray(value, dtype=np.float16) for name, value in load_state_dict(tiny_dir / "lm")[0].items()}
    save_safetensors(state, tmp_path / "model.safetensors")
    config = json.loads((tiny_dir / "lm" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "dtype": None}))
    assert {v.dtype for v in TFOpenAIGPTModel.from_pretrained(tmp_path, dtype="auto").weights} == {"float16"}
    (tmp_path / "config.json").write_text(json.dumps({**config, "dtype": None, "torch_dtype": "bfloat16"}))
    with pytest.warns(FutureWarning):
        model = TFOpenAIGPTModel.from_pretrained(tmp_path, torch_dtype="auto")
    assert {v.dtype for v in model.weights} == {"bfloat16"}


def test_use_auth_token_is_the_deprecated_token(tiny_dir):
    with pytest.warns(FutureWarning, match="use_auth_token is deprecated"):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", use_auth_token="secret")
    assert "use_auth_token" not in model.config.to_dict()


@pytest.fixture
def differing_formats(tiny_dir, tmp_path):
    """A directory whose safetensors hold other weights than its pytorch_model.bin and tf_model.h5."""
    directory = tmp_path / "ckpt"
    directory.mkdir()
    for name in ("config.json", "pytorch_model.bin", "tf_model.h5"):
        shutil.copyfile(tiny_dir / "lm" / name, directory / name)
    state, _ = load_state_dict(tiny_dir / "lm")
    save_safetensors({name: value * 2 for name, value in state.items()}, directory / "model.safetensors", metadata={"format": "pt"})
    return directory, state["transformer.tokens_embed.weight"]


@pytest.mark.parametrize(
    "kwargs, read",
    [
        ({}, "safetensors"),
        (dict(from_pt=False), "safetensors"),
        (dict(from_pt=True), "pytorch-bin"),
        (dict(from_tf=True), "tf-h5"),
        (dict(use_safetensors=False), "tf-h5"),
        (dict(use_safetensors=True), "safetensors"),
    ],
    ids=str,
)
def test_from_pt_from_tf_and_use_safetensors_choose_the_file(differing_formats, caplog, kwargs, read):
    directory, tokens = differing_formats
    with caplog.at_level(logging.INFO, logger="gpt_keras"):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(directory, **kwargs)
    loaded = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Loaded")]
    assert loaded[-1].endswith(f"({read})")
    factor = 2 if read == "safetensors" else 1
    np.testing.assert_array_equal(model.get_state_dict()["transformer.tokens_embed.weight"], factor * tokens)


def test_from_pt_requires_a_pytorch_file(tiny_dir, tmp_path):
    directory = tmp_path / "tf-only"
    directory.mkdir()
    for name in ("config.json", "tf_model.h5"):
        shutil.copyfile(tiny_dir / "lm" / name, directory / name)
    with pytest.raises(FileNotFoundError, match=r"from_pretrained\(from_pt=True\): .*pytorch_model.bin.*holds tf-h5 only"):
        TFOpenAIGPTLMHeadModel.from_pretrained(directory, from_pt=True)
    with pytest.raises(FileNotFoundError, match=r"use_safetensors=True.*model.safetensors"):
        TFOpenAIGPTLMHeadModel.from_pretrained(directory, use_safetensors=True)
    # A weights file named directly, with its config.
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm" / "pytorch_model.bin", config=tiny_dir / "lm" / "config.json", from_pt=True)
    assert model.config.vocab_size == 1000
    with pytest.raises(FileNotFoundError, match="is a tf-h5 checkpoint"):
        TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm" / "tf_model.h5", config=tiny_dir / "lm" / "config.json", from_pt=True)


def test_subfolder_is_looked_in(tiny_dir, tmp_path):
    shutil.copytree(tiny_dir / "lm", tmp_path / "repo" / "lm")
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "repo", subfolder="lm")
    assert model.config.vocab_size == 1000


def test_an_untied_lm_head_config_is_refused_by_the_lm_models_only(tiny_dir):
    for cls in (TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel):
        with pytest.raises(ValueError, match="tie_word_embeddings=False"):
            cls.from_pretrained(tiny_dir / "lm", tie_word_embeddings=False)
    assert TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm", tie_word_embeddings=False).config.tie_word_embeddings is False
    # Their constructors refuse it too, with the same message.
    for cls in (TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel):
        with pytest.raises(ValueError, match=f"{cls.__name__}: the config says tie_word_embeddings=False"):
            cls(tiny_config(tie_word_embeddings=False))
    assert TFOpenAIGPTForSequenceClassification(tiny_config(tie_word_embeddings=False)).config.tie_word_embeddings is False


def test_the_tokenizer_takes_the_models_lookup_options(vocab_dir):
    with pytest.warns(FutureWarning, match="use_auth_token is deprecated"):
        tokenizer = OpenAIGPTTokenizer.from_pretrained(vocab_dir, use_auth_token="secret", resume_download=True)
    assert tokenizer.encode("hello world") == OpenAIGPTTokenizer.from_pretrained(vocab_dir).encode("hello world")
    with pytest.raises(ValueError, match="proxies= is not supported"):
        OpenAIGPTTokenizer.from_pretrained(vocab_dir, proxies={"https": "proxy:3128"})
    with pytest.raises(ValueError, match="local_files_only must be True or False"):
        OpenAIGPTTokenizer.from_pretrained(vocab_dir, local_files_only=1)
