"""``test_config`` of the reference's model tests for this model (both its TF and its PyTorch test run
``ConfigTester(self, config_class=OpenAIGPTConfig, n_embd=37).run_common_tests()``), ported one check
per test, adapted to import gpt_keras. Left out: ``create_and_test_config_from_and_save_pretrained_composite``
and ``create_and_test_config_from_pretrained_custom_kwargs``, which do nothing for a config without
sub-configs.
"""
import copy
import json

import pytest
from ported_model_tester import load_fixture

from gpt_keras import OpenAIGPTConfig

REFERENCE = load_fixture()

# --- test_config: ConfigTester(config_class=OpenAIGPTConfig, n_embd=37).run_common_tests(), one test per check ---
# Two adaptations, both because this config refuses what no model can be built from (a deliberate
# difference: the reference's config checks nothing): n_embd=36 instead of 37 (37 is not divisible by
# the default n_head=12), and common-property values that make a model instead of 0, 1, 2, 3.
CONFIG_INPUTS = {"n_embd": 36}
COMMON_PROPERTY_VALUES = {"hidden_size": 48, "num_attention_heads": 6, "num_hidden_layers": 2, "vocab_size": 3}


def test_config_common_properties():
    config = OpenAIGPTConfig(**CONFIG_INPUTS)
    for prop in COMMON_PROPERTY_VALUES:
        assert hasattr(config, prop), f"`{prop}` does not exist"
    for name, value in COMMON_PROPERTY_VALUES.items():
        setattr(config, name, value)
        assert getattr(config, name) == value, f"`{name}` value {value} expected, but was {getattr(config, name)}"
    for name, value in COMMON_PROPERTY_VALUES.items():
        config = OpenAIGPTConfig(**{name: value})
        assert getattr(config, name) == value, f"`{name}` value {value} expected, but was {getattr(config, name)}"


def test_config_to_json_string():
    obj = json.loads(OpenAIGPTConfig(**CONFIG_INPUTS).to_json_string())
    for key, value in CONFIG_INPUTS.items():
        assert obj[key] == value


def test_config_to_json_file(tmp_path):
    config_first = OpenAIGPTConfig(**CONFIG_INPUTS)
    config_first.to_json_file(tmp_path / "config.json")
    config_second = OpenAIGPTConfig.from_json_file(tmp_path / "config.json")
    assert config_second.to_dict() == config_first.to_dict()


def test_config_from_and_save_pretrained(tmp_path):
    config_first = OpenAIGPTConfig(**CONFIG_INPUTS)
    config_first.save_pretrained(tmp_path)
    config_second = OpenAIGPTConfig.from_pretrained(tmp_path)
    assert config_second.to_dict() == config_first.to_dict()
    with pytest.raises(OSError):
        OpenAIGPTConfig.from_pretrained(f".{tmp_path}")


def test_config_from_and_save_pretrained_subfolder(tmp_path):
    config_first = OpenAIGPTConfig(**CONFIG_INPUTS)
    config_first.save_pretrained(tmp_path / "test")
    config_second = OpenAIGPTConfig.from_pretrained(tmp_path, subfolder="test")
    assert config_second.to_dict() == config_first.to_dict()


def test_config_with_num_labels():
    config = OpenAIGPTConfig(**CONFIG_INPUTS, num_labels=5)
    assert len(config.id2label) == 5 and len(config.label2id) == 5
    config.num_labels = 3
    assert len(config.id2label) == 3 and len(config.label2id) == 3


def test_config_can_be_init_without_params():
    assert OpenAIGPTConfig() is not None


def _common_kwargs():
    recorded = REFERENCE["pytorch"]["config"]
    kwargs = copy.deepcopy(recorded["common_kwargs"])
    kwargs["id2label"] = {int(key): value for key, value in kwargs["id2label"].items()}  # JSON made the keys str
    return kwargs, recorded["common_kwargs_kept"]


def test_config_arguments_init():
    # The reference's check_config_arguments_init: every field all reference configs have keeps its value.
    kwargs, kept_by_reference = _common_kwargs()
    config = OpenAIGPTConfig(**kwargs)
    wrong_values = [(key, getattr(config, key, "<missing>"), kwargs[key]) for key in kept_by_reference if getattr(config, key, "<missing>") != kwargs[key]]
    assert not wrong_values, "\n".join(f"- {key}: got {got!r} instead of {want!r}" for key, got, want in wrong_values)
