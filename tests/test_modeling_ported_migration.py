"""The model-side items of the migration issue that no ported reference test reaches, each checked
against the reference's behaviour (transformers 4.57: its TF port where the two differ, as gpt_keras
keeps the TF port's API). The first ones were silent differences: a call that ran and did something
else than the reference.
"""
import json

import numpy as np
import pytest
from ported_model_tester import ModelTester

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel, TFOpenAIGPTModel


@pytest.fixture
def saved(tmp_path):
    """A tiny random base model saved with save_pretrained, and some ids for it."""
    tester = ModelTester()
    config, inputs_dict = tester.prepare_config_and_inputs_for_common()
    TFOpenAIGPTModel(config).save_pretrained(tmp_path / "model")
    return tmp_path / "model", np.asarray(inputs_dict["input_ids"])


@pytest.mark.parametrize("flag, field", [("output_attentions", "attentions"), ("output_hidden_states", "hidden_states")])
def test_from_pretrained_output_flags_are_read(flag, field, saved):
    # The reference stores the flag in the config, and its models return the field when the config
    # asks for it.
    directory, input_ids = saved
    model = TFOpenAIGPTModel.from_pretrained(directory, **{flag: True})
    assert getattr(model.config, flag) is True
    assert getattr(model(input_ids), field) is not None


@pytest.mark.parametrize(
    "argument, value",
    [("revision", "main"), ("cache_dir", "unused-cache"), ("local_files_only", True), ("from_pt", True), ("ignore_mismatched_sizes", False)],
)
def test_from_pretrained_loading_arguments_stay_out_of_the_config(argument, value, saved, tmp_path):
    # The reference's loading arguments say how to load; none becomes a config field that
    # save_pretrained writes to config.json.
    directory, _ = saved
    model = TFOpenAIGPTModel.from_pretrained(directory, **{argument: value})
    model.save_pretrained(tmp_path / "again")
    written = json.loads((tmp_path / "again" / "config.json").read_text())
    assert argument not in written, f"{argument} was written into config.json"


def test_float_attention_mask_is_cast(saved):
    # The reference casts the mask to the model's float dtype; a float mask gives the int mask's outputs.
    directory, input_ids = saved
    model = TFOpenAIGPTModel.from_pretrained(directory)
    mask = np.ones_like(input_ids)
    mask[:, -2:] = 0
    with_int = np.asarray(model(input_ids, attention_mask=mask).last_hidden_state)
    with_float = np.asarray(model(input_ids, attention_mask=mask.astype(np.float32)).last_hidden_state)
    np.testing.assert_array_equal(with_float, with_int)


def test_config_update():
    config = OpenAIGPTConfig(n_layer=2, n_embd=32, n_head=4)
    config.update({"n_layer": 3, "resid_pdrop": 0.0})
    assert config.n_layer == 3 and config.resid_pdrop == 0.0


def test_config_from_pretrained_return_unused_kwargs(tmp_path):
    OpenAIGPTConfig(n_layer=2, n_embd=32, n_head=4).save_pretrained(tmp_path)
    config, unused = OpenAIGPTConfig.from_pretrained(tmp_path, n_layer=3, foo="bar", return_unused_kwargs=True)
    assert config.n_layer == 3
    assert unused == {"foo": "bar"}


def test_config_use_return_dict_and_tie_word_embeddings():
    config = OpenAIGPTConfig()
    assert config.use_return_dict is True
    assert config.tie_word_embeddings is True
    config.return_dict = False
    assert config.use_return_dict is False


def test_generation_config_and_generate_keywords():
    # The reference's generate takes a generation_config, use_cache, and a TF-style seed pair.
    tester = ModelTester()
    config, inputs_dict = tester.prepare_config_and_inputs_for_common()
    model = TFOpenAIGPTLMHeadModel(config)
    input_ids = inputs_dict["input_ids"][:2]
    generation_config = model.generation_config
    generation_config.max_new_tokens = 3
    first = model.generate(input_ids, generation_config=generation_config)
    assert first.shape[-1] == input_ids.shape[-1] + 3
    np.testing.assert_array_equal(np.asarray(model.generate(input_ids, generation_config=generation_config, use_cache=True)), np.asarray(first))
    sampled = [np.asarray(model.generate(input_ids, do_sample=True, max_new_tokens=3, seed=[1, 2])) for _ in range(2)]
    np.testing.assert_array_equal(sampled[0], sampled[1])
