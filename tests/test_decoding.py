"""The decoding package's parts: one list of options, one validate(), the backbone's cache, the old path."""
import dataclasses
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from gpt_keras import TFOpenAIGPT
from gpt_keras.decoding import Bound, DecodingControls, DecodingOptions, GenerationConfig, GenerationMixin
from gpt_keras.export import DECODING_OPTION_NAMES

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# === One list of option names ===


def test_generation_config_fields_are_the_keywords_of_generate():
    parameters = inspect.signature(GenerationMixin.generate).parameters.values()
    keywords = {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords.pop("generation_config") is None
    fields = [f.name for f in dataclasses.fields(GenerationConfig)]
    assert list(keywords) == fields == list(GenerationConfig.option_names())
    # A keyword not given is None, so that generation_config and model.generation_config can set it.
    assert set(keywords.values()) == {None}


def test_every_option_has_one_role():
    roles = [GenerationConfig.option_names(role) for role in ("program", "runtime", "request", "output")]
    assert sorted(sum(roles, ())) == sorted(GenerationConfig.option_names())
    program, runtime, _, output = roles
    assert set(runtime) == set(DecodingControls._fields)
    # The export fixes exactly the options a compiled program fixes (DecodingOptions holds them, with
    # the EOS ids as a tuple), and min_new_tokens, a runtime control of generate that the export fixes
    # (gpt_keras/export.py says why); the program also fixes what generate returns, which an export
    # never does: attentions and hidden states as one flag (the program records the tokens of each
    # step for them), and whether the prompts have token types (a model input, not an option).
    assert DECODING_OPTION_NAMES == program + ("min_new_tokens",)
    option_fields = {f.name for f in dataclasses.fields(DecodingOptions)}
    renamed = {
        "eos_token_id": "eos_token_ids",
        "output_attentions": "output_step_inputs",
        "output_hidden_states": "output_step_inputs",
    }
    # Contrastive search fixes top_k (a runtime control otherwise) in its program.
    derived = {"token_types", "contrastive_top_k"}
    assert {renamed.get(name, name) for name in program + output} | derived == option_fields


# === One validate() ===


def test_validate_reads_unset_options_and_scalar_values():
    config = GenerationConfig(top_k=np.int64(3), top_p=None, temperature=tf.constant(0.5), num_beams=2.0).validate()
    assert (config.top_k, config.top_p, config.temperature, config.num_beams) == (3, 1.0, 0.5, 2)
    assert type(config.top_k) is int and type(config.num_beams) is int
    assert config.do_sample is False and config.max_new_tokens is None and config.seed is None


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(top_k=2.5), "top_k must be an integer >= 0 \\(0 disables it\\), got 2.5"),
        (dict(top_k=float("inf")), "top_k must be an integer"),
        (dict(top_p=float("nan")), "top_p must be in \\(0, 1\\]"),
        (dict(do_sample=True, temperature=0.0), "temperature must be > 0 when do_sample is true, got 0.0"),
        (dict(max_new_tokens=0), "max_new_tokens must be an integer >= 1, got 0"),
        (dict(min_new_tokens=True), "min_new_tokens must be a number, got True"),
        (dict(pad_token_id="0"), "pad_token_id must be a number"),
        (dict(num_beams=3, num_return_sequences=4), "num_return_sequences \\(4\\) must be <= num_beams \\(3\\)"),
        (dict(early_stopping=0), "early_stopping must be True, False or \"never\""),
    ],
)
def test_validate_names_the_option(options, match):
    with pytest.raises(ValueError, match=match):
        GenerationConfig(**options).validate()


def test_a_temperature_is_checked_only_when_sampling():
    assert GenerationConfig(temperature=0.0).validate().temperature == 0.0
    assert GenerationConfig(temperature=0.0).validate().controls(5).temperature == 1.0
    with pytest.raises(ValueError, match="temperature must be a number"):
        GenerationConfig(temperature="hot").validate()


def test_several_sequences_need_sampling_or_beams_and_beams_in_an_export():
    assert GenerationConfig(do_sample=True, num_return_sequences=3).validate().sequences_per_prompt == 3
    assert GenerationConfig(num_beams=3, num_return_sequences=3).validate().sequences_per_prompt == 1
    with pytest.raises(ValueError, match="needs sampling \\(do_sample=True\\) or beam search"):
        GenerationConfig(num_return_sequences=2).validate()
    with pytest.raises(ValueError, match="needs num_beams > 1 in an export"):
        GenerationConfig(num_return_sequences=2).validate(exported=True)


def test_unknown_keywords_are_named():
    with pytest.raises(TypeError, match="stream\\(\\) got unexpected keyword arguments \\['beams', 'topk'\\]"):
        GenerationConfig.from_keywords({"topk": 3, "beams": 2, "top_p": 0.5}, "stream")


def test_new_token_count_follows_max_length():
    # The reference's default (tests/fixtures/reference_generation.json, "default_length*"): 20 new
    # tokens, fewer when n_positions leaves less room.
    assert GenerationConfig().validate().new_token_count(7) == 20
    assert GenerationConfig().validate().new_token_count(50, n_positions=64) == 14
    assert GenerationConfig().validate().new_token_count(64, n_positions=64) == 20  # left to the overflow check
    assert GenerationConfig(max_length=30).validate().new_token_count(7) == 23
    assert GenerationConfig(max_new_tokens=4, max_length=30).validate().new_token_count(7) == 4
    with pytest.raises(ValueError, match="max_length leaves -3 new tokens for a prompt of width 10"):
        GenerationConfig(max_length=7).validate().new_token_count(10)


def test_decoding_options_and_controls():
    model_config = tiny_config(eos_token_id=5)
    config = GenerationConfig(num_beams=1, num_return_sequences=2, do_sample=True, seed=-3, length_penalty=2).validate()
    options = config.decoding_options(model_config)
    assert options == DecodingOptions(num_return_sequences=1, length_penalty=2.0, eos_token_ids=(5,), pad_token_id=5)
    controls = config.controls(9, 4)
    assert controls == DecodingControls(9, 1.0, 50, 1.0, (-3) % 2**31, True, 4)  # the reference's top_k of 50
    assert 0 <= GenerationConfig().validate().controls(1).seed < 2**31


@pytest.mark.parametrize("name", sorted(GenerationConfig.bounds("runtime")))
def test_a_bound_holds_alike_on_numbers_and_on_tensors(name):
    bound = GenerationConfig.bounds()[name]
    dtype = tf.int32 if bound.integer else tf.float32
    for value in (-1, 0, 0.5, 1, 2, 50):
        if bound.integer and value != int(value):
            continue
        assert bool(bound.holds(tf.constant(value, dtype))) == bool(bound.holds(value)), value


def test_bound_descriptions():
    assert str(Bound(2, 16, integer=True)) == "an integer in [2, 16]"
    assert str(Bound(0, 1, exclusive_minimum=True)) == "in (0, 1]"
    assert Bound(2, 16, integer=True).check(np.int64(8), "max_length") == 8
    with pytest.raises(ValueError, match="max_length must be an integer in \\[2, 16\\], got 17"):
        Bound(2, 16, integer=True).check(17, "max_length")


def test_the_options_need_no_tensorflow():
    code = "import sys, gpt_keras.decoding.config; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    process = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-2000:]


# === The backbone owns the cache layout ===


def test_init_cache_has_the_attention_layout():
    config = tiny_config()
    backbone = TFOpenAIGPT(config)
    cache = backbone.init_cache(3, 10)
    assert len(cache) == config.n_layer and all(len(layer) == 2 for layer in cache)
    for tensor in tf.nest.flatten(cache):
        assert tuple(tensor.shape) == (3 * config.n_head, 10, config.head_dim)
        assert tensor.dtype == tf.float32 and not np.any(tensor.numpy())
    assert tf.nest.flatten(backbone.init_cache(1, 4, dtype="bfloat16"))[0].dtype == tf.bfloat16


def test_a_cached_forward_matches_the_full_forward():
    config = tiny_config()
    backbone = TFOpenAIGPT(config)
    ids = np.array([[3, 1, 4, 1, 5, 9]], np.int32)
    full = backbone.forward(ids)["last_hidden_state"].numpy()
    outputs = backbone.forward(ids[:, :4], cache=backbone.init_cache(1, 8))
    for slot in (4, 5):
        outputs = backbone.forward(ids[:, slot : slot + 1], cache=outputs["cache"], cache_index=slot)
        np.testing.assert_allclose(outputs["last_hidden_state"].numpy()[:, 0], full[:, slot], atol=1e-5, rtol=0)


def test_reorder_cache_takes_whole_sequences():
    config = tiny_config()
    backbone = TFOpenAIGPT(config)
    heads, slots, width = config.n_head, 4, config.head_dim
    # Sequence s, head h holds the value 10 * s + h everywhere.
    values = (10 * np.arange(3)[:, None] + np.arange(heads)[None, :]).astype(np.float32)
    tensor = tf.constant(np.broadcast_to(values[:, :, None, None], (3, heads, slots, width)).reshape(-1, slots, width))
    cache = tuple((tensor, tensor + 100) for _ in range(config.n_layer))
    reordered = backbone.reorder_cache(cache, tf.constant([2, 0, 2, 1]))
    want = values[[2, 0, 2, 1]].reshape(-1)
    for key, value in reordered:
        assert tuple(key.shape) == (4 * heads, slots, width)
        np.testing.assert_array_equal(key.numpy()[:, 0, 0], want)
        np.testing.assert_array_equal(value.numpy()[:, 0, 0], want + 100)
