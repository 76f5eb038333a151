import json
import shutil
from pathlib import Path

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


# --- the reference's config API (tests/fixtures/reference_loading.json, "pytorch") ------------------

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "reference_loading.json").read_text())["pytorch"]


def test_every_field_of_the_references_configs_answers_its_default():
    config = OpenAIGPTConfig()
    for name, default in REFERENCE["common_defaults"].items():
        value = getattr(config, name)
        if name == "id2label":
            value = {str(key): label for key, label in value.items()}
        assert value == default, name


def test_from_pretrained_returns_the_unused_kwargs_as_the_reference(tiny_dir):
    reference = REFERENCE["unused_kwargs"]
    config, unused = OpenAIGPTConfig.from_pretrained(tiny_dir / "lm", return_unused_kwargs=True, **reference["given"])
    assert unused == reference["unused"]
    for name, value in reference["set"].items():
        assert getattr(config, name) == value, name
    assert OpenAIGPTConfig.from_pretrained(tiny_dir / "lm", foo=1) == OpenAIGPTConfig.from_pretrained(tiny_dir / "lm")


@pytest.mark.parametrize("case, kwargs", [("default", {}), ("output_attentions", {"output_attentions": True}), ("three_labels", {"num_labels": 3})])
def test_to_diff_dict_leaves_out_what_the_reference_leaves_out(case, kwargs):
    # This config has summary_last_dropout (the reference's models read it when present, its config lacks
    # it) and always states the labels, problem_type and token ids; the reference stamps its version.
    always = {"summary_last_dropout", "id2label", "label2id", "problem_type", "pad_token_id", "bos_token_id", "eos_token_id"}
    ours = set(OpenAIGPTConfig(**kwargs).to_diff_dict())
    assert always <= ours and ours - always == set(REFERENCE["diff_dict_keys"][case]) - always - {"transformers_version"}
    assert json.loads(OpenAIGPTConfig(**kwargs).to_json_string()) == OpenAIGPTConfig(**kwargs).to_diff_dict()
    assert json.loads(OpenAIGPTConfig(**kwargs).to_json_string(use_diff=False)) == OpenAIGPTConfig(**kwargs).to_dict()


def test_use_return_dict_is_the_references():
    for return_dict, torchscript, expected in REFERENCE["use_return_dict"]:
        assert OpenAIGPTConfig(return_dict=return_dict, torchscript=torchscript).use_return_dict is expected


def test_update_sets_fields_as_the_reference_and_all_or_none():
    config = OpenAIGPTConfig()
    config.update({"n_embd": 96, "output_hidden_states": True, "brand_new": 3})
    assert {name: getattr(config, name) for name in REFERENCE["update"]} == REFERENCE["update"]
    config.update({"hidden_size": 120, "num_labels": 4})
    assert config.n_embd == 120 and config.num_labels == 4 and len(config.label2id) == 4
    before = config.to_dict()
    with pytest.raises(ValueError, match=r"n_embd \(100\) must be divisible by n_head \(12\)"):
        config.update({"n_embd": 100, "output_attentions": True})
    assert config.to_dict() == before


def test_tie_word_embeddings_is_read_and_checked():
    assert OpenAIGPTConfig().tie_word_embeddings is True
    assert OpenAIGPTConfig.from_dict({"tie_word_embeddings": False}).tie_word_embeddings is False
    with pytest.raises(ValueError, match="tie_word_embeddings must be true or false"):
        OpenAIGPTConfig(tie_word_embeddings="no")


def test_from_dict_labels_follow_the_references_rules():
    config = OpenAIGPTConfig(num_labels=3)
    named = OpenAIGPTConfig.from_dict(config.to_dict(), id2label={0: "a", 1: "b", 2: "c"})
    assert named.label2id == {"a": 0, "b": 1, "c": 2}
    # As many labels as before: their names stay.
    assert OpenAIGPTConfig.from_dict(named.to_dict(), num_labels=3).id2label == {0: "a", 1: "b", 2: "c"}
    assert OpenAIGPTConfig.from_dict(named.to_dict(), num_labels=2).id2label == {0: "LABEL_0", 1: "LABEL_1"}
    with pytest.raises(ValueError, match="disagrees with id2label"):
        OpenAIGPTConfig.from_dict({}, num_labels=2, id2label={0: "a"})


def test_config_from_a_hub_id_and_a_subfolder(tmp_path, monkeypatch, tiny_dir):
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    snapshot = tmp_path / "cache" / "models--openai-community--openai-gpt" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    shutil.copyfile(tiny_dir / "lm" / "config.json", snapshot / "config.json")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    config = OpenAIGPTConfig.from_pretrained("openai-community/openai-gpt", cache_dir=tmp_path / "cache", local_files_only=True)
    assert config.vocab_size == 1000
    with pytest.raises(FileNotFoundError, match="refs/v9"):
        OpenAIGPTConfig.from_pretrained("openai-community/openai-gpt", cache_dir=tmp_path / "cache", revision="v9", local_files_only=True)


# --- the reference's ConfigTester (tests/test_configuration_common.py), ported -----------------------

# The reference's tester uses n_embd=37, which this config refuses: n_embd must be divisible by n_head (12).
INPUTS = dict(n_embd=48)
# Every common field of the reference's configs with a value other than its default (as the reference's
# check_config_arguments_init; dtype is a torch dtype there and a string in config.json).
COMMON_KWARGS = {
    "return_dict": False, "output_hidden_states": True, "output_attentions": True, "torchscript": True,
    "dtype": "float16", "use_bfloat16": True, "tf_legacy_loss": True, "pruned_heads": {"a": 1},
    "tie_word_embeddings": False, "is_decoder": True, "cross_attention_hidden_size": 128, "add_cross_attention": True,
    "tie_encoder_decoder": True, "max_length": 50, "min_length": 3, "do_sample": True, "early_stopping": True,
    "num_beams": 3, "num_beam_groups": 3, "diversity_penalty": 0.5, "temperature": 2.0, "top_k": 10, "top_p": 0.7,
    "typical_p": 0.2, "repetition_penalty": 0.8, "length_penalty": 0.8, "no_repeat_ngram_size": 5,
    "encoder_no_repeat_ngram_size": 5, "bad_words_ids": [1, 2, 3], "num_return_sequences": 3,
    "chunk_size_feed_forward": 5, "output_scores": True, "return_dict_in_generate": True, "forced_bos_token_id": 2,
    "forced_eos_token_id": 3, "remove_invalid_values": True, "architectures": ["BertModel"],
    "finetuning_task": "translation", "id2label": {0: "label"}, "label2id": {"label": "0"},
    "tokenizer_class": "BertTokenizerFast", "prefix": "prefix", "bos_token_id": 6, "pad_token_id": 7,
    "eos_token_id": 8, "sep_token_id": 9, "decoder_start_token_id": 10, "exponential_decay_length_penalty": (5, 1.01),
    "suppress_tokens": [0, 1], "begin_suppress_tokens": 2, "task_specific_params": {"translation": "some_params"},
    "problem_type": "regression",
}  # fmt: skip


def test_common_properties_read_and_set():
    config = OpenAIGPTConfig(**INPUTS)
    for value, name in enumerate(["hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size"], start=1):
        setattr(config, name, value)
        assert getattr(config, name) == value
        assert getattr(OpenAIGPTConfig(**{name: 12 * value}), name) == 12 * value


def test_to_json_string_file_and_save_pretrained_round_trip(tmp_path):
    config = OpenAIGPTConfig(**INPUTS)
    assert json.loads(config.to_json_string())["n_embd"] == 48
    config.to_json_file(tmp_path / "config.json")
    assert OpenAIGPTConfig.from_json_file(tmp_path / "config.json").to_dict() == config.to_dict()
    config.save_pretrained(tmp_path / "saved")
    assert OpenAIGPTConfig.from_pretrained(tmp_path / "saved").to_dict() == config.to_dict()
    with pytest.raises(OSError):
        OpenAIGPTConfig.from_pretrained(f".{tmp_path / 'saved'}")
    config.save_pretrained(tmp_path / "repo" / "test")
    assert OpenAIGPTConfig.from_pretrained(tmp_path / "repo", subfolder="test").to_dict() == config.to_dict()


def test_num_labels_resizes_the_label_maps():
    config = OpenAIGPTConfig(**INPUTS, num_labels=5)
    assert len(config.id2label) == len(config.label2id) == 5
    config.num_labels = 3
    assert len(config.id2label) == len(config.label2id) == 3


def test_every_common_argument_is_set():
    config = OpenAIGPTConfig(**COMMON_KWARGS)
    wrong = {name: getattr(config, name) for name, value in COMMON_KWARGS.items() if getattr(config, name) != value}
    assert wrong == {}


def test_every_common_argument_round_trips_through_config_json(tmp_path):
    config = OpenAIGPTConfig(**COMMON_KWARGS)
    config.save_pretrained(tmp_path)
    # JSON has no tuples: exponential_decay_length_penalty comes back as a list, as in the reference.
    assert OpenAIGPTConfig.from_pretrained(tmp_path).to_dict() == json.loads(config.to_json_string(use_diff=False))


def test_equality_and_copies():
    import copy

    config = OpenAIGPTConfig(**INPUTS, output_attentions=True)
    assert copy.deepcopy(config) == config and OpenAIGPTConfig(**INPUTS) != config
    assert OpenAIGPTConfig(torchscript=False, return_dict=True) == OpenAIGPTConfig()
    assert OpenAIGPTConfig(torchscript=True) != OpenAIGPTConfig() and OpenAIGPTConfig(brand_new=1) != OpenAIGPTConfig()
