import json

import pytest
from helpers import tiny_config

from gpt_keras import OpenAIGPTConfig


def test_defaults_are_the_reference_ones():
    c = OpenAIGPTConfig()
    assert (c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head) == (40478, 512, 768, 12, 12)
    assert c.afn == "gelu" and c.resid_pdrop == c.embd_pdrop == c.attn_pdrop == 0.1
    assert c.layer_norm_epsilon == 1e-5 and c.initializer_range == 0.02
    assert (c.summary_type, c.summary_use_proj, c.summary_activation, c.summary_proj_to_labels) == ("cls_index", True, None, True)
    assert c.summary_first_dropout == 0.1 and c.num_labels == 2 and c.pad_token_id is None


def test_aliases_read_and_write_the_same_fields():
    c = OpenAIGPTConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=3, max_position_embeddings=32)
    assert (c.n_embd, c.n_head, c.n_layer, c.n_positions) == (64, 4, 3, 32)
    c.num_attention_heads = 8
    assert c.n_head == 8 and c.num_attention_heads == 8


def test_reference_config_json_round_trips_with_unknown_keys(tmp_path, tiny_dir):
    original = json.loads((tiny_dir / "seq-cls" / "config.json").read_text())
    config = OpenAIGPTConfig.from_json_file(tiny_dir / "seq-cls" / "config.json")
    assert config.num_labels == 3 and config.pad_token_id == 0
    assert config.architectures == ["OpenAIGPTForSequenceClassification"]
    config.to_json_file(tmp_path / "config.json")
    written = json.loads((tmp_path / "config.json").read_text())
    for key, value in original.items():
        assert written[key] == value, key
    assert OpenAIGPTConfig.from_json_file(tmp_path / "config.json") == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_embd=30, n_head=4), r"n_embd \(30\) must be divisible by n_head \(4\)"),
        (dict(n_layer=0), "n_layer must be an integer >= 1"),
        (dict(vocab_size=-5), "vocab_size must be an integer >= 1"),
        (dict(afn="gelu_fast"), "afn must be one of"),
        (dict(summary_type="attn"), "summary_type must be one of"),
        (dict(attn_pdrop=1.5), r"attn_pdrop must be in \[0, 1\)"),
    ],
)
def test_invalid_configs_raise_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpenAIGPTConfig(**kwargs)


def test_bad_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        OpenAIGPTConfig.from_json_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        OpenAIGPTConfig.from_json_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        OpenAIGPTConfig.from_json_file(tmp_path / "list.json")
    (tmp_path / "invalid.json").write_text(json.dumps({"n_embd": 10, "n_head": 3}))
    with pytest.raises(ValueError, match="invalid.json: .*divisible"):
        OpenAIGPTConfig.from_json_file(tmp_path / "invalid.json")


@pytest.mark.parametrize("afn", ["gelu", "gelu_new", "relu", "silu", "swish"])
def test_every_afn_is_the_activation_it_names(afn):
    # Expected values from the formulas (float64): the tanh GELU for "gelu" and "gelu_new", as the
    # reference's checkpoints were trained with.
    import numpy as np

    from gpt_keras.layers import ACTIVATIONS

    x = np.linspace(-6.0, 6.0, 97)
    expected = {
        "gelu": 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        "relu": np.maximum(x, 0.0),
        "silu": x / (1 + np.exp(-x)),
    }
    expected["gelu_new"], expected["swish"] = expected["gelu"], expected["silu"]
    got = np.asarray(ACTIVATIONS[OpenAIGPTConfig(afn=afn).afn](x.astype(np.float32)))
    np.testing.assert_allclose(got, expected[afn], atol=2e-6)


def test_the_double_heads_model_leaves_the_callers_config_unchanged():
    from gpt_keras import TFOpenAIGPTDoubleHeadsModel

    config = tiny_config(n_layer=1, num_labels=3)
    before = config.to_dict()
    model = TFOpenAIGPTDoubleHeadsModel(config)
    assert config.to_dict() == before and config.num_labels == 3
    # Its own config has the one score per choice of the reference.
    assert model.config is not config and model.config.num_labels == 1
    assert model.multiple_choice_head.summary.kernel.shape == (16, 1)
