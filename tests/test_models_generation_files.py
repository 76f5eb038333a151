"""`generation_config.json`: what `save_pretrained` writes for a model that can generate is the reference's
file (tests/fixtures/reference_generation_config.json, made by
tests/fixtures_tools/make_reference_generation_config_fixtures.py), and `from_pretrained` reads it, or one
the reference wrote, into `model.generation_config`."""
import json
import logging
from pathlib import Path

import pytest

from gpt_keras import (
    OpenAIGPTConfig,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)
from gpt_keras.decoding import GenerationConfig

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "reference_generation_config.json").read_text())
# Written by transformers only; and an option of the reference that gpt_keras's generate has not.
NOT_WRITTEN = ("transformers_version", "decoder_start_token_id")


def lm_model(case):
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig(**REFERENCE["sizes"], **case["config"]))
    for name, value in case["options"].items():
        if name not in NOT_WRITTEN:
            setattr(model.generation_config, name, value)
    return model


@pytest.mark.parametrize("name", sorted(REFERENCE["cases"]))
def test_save_pretrained_writes_the_references_generation_config(name, tmp_path):
    case = REFERENCE["cases"][name]
    lm_model(case).save_pretrained(tmp_path)
    written = json.loads((tmp_path / "generation_config.json").read_text())
    assert written == {key: value for key, value in case["file"].items() if key not in NOT_WRITTEN}


def test_from_pretrained_reads_a_file_the_reference_wrote(tmp_path, caplog):
    case = REFERENCE["cases"]["options_set"]
    lm_model(REFERENCE["cases"]["token_ids"]).save_pretrained(tmp_path)
    (tmp_path / "generation_config.json").write_text(json.dumps(case["file"]))
    with caplog.at_level(logging.DEBUG, logger="gpt_keras"):
        model = TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path)
    options = model.generation_config
    assert (options.max_new_tokens, options.do_sample, options.top_k, options.eos_token_id) == (7, True, 5, [2, 4])
    assert (options.bos_token_id, options.pad_token_id) == (1, 3)
    ignored = "['_from_model_config', 'decoder_start_token_id', 'transformers_version']"
    assert any(ignored in record.getMessage() and record.levelno == logging.DEBUG for record in caplog.records)


@pytest.mark.parametrize("cls", [TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel], ids=lambda c: c.__name__)
def test_a_customized_generation_config_round_trips(cls, tmp_path):
    model = cls(OpenAIGPTConfig(**REFERENCE["sizes"], eos_token_id=2))
    model.generation_config = GenerationConfig(max_new_tokens=5, num_beams=3, bad_words_ids=((4, 5),), eos_token_id=2)
    model.save_pretrained(tmp_path)
    loaded = cls.from_pretrained(tmp_path).generation_config
    assert (loaded.max_new_tokens, loaded.num_beams, loaded.bad_words_ids, loaded.eos_token_id) == (5, 3, [[4, 5]], 2)
    # Without the file, the options come from the model config, as in the reference.
    (tmp_path / "generation_config.json").unlink()
    assert cls.from_pretrained(tmp_path).generation_config == GenerationConfig(eos_token_id=2)


@pytest.mark.parametrize("cls", [TFOpenAIGPTModel, TFOpenAIGPTForSequenceClassification], ids=lambda c: c.__name__)
def test_models_that_cannot_generate_write_no_generation_config(cls, tmp_path):
    cls(OpenAIGPTConfig(**REFERENCE["sizes"])).save_pretrained(tmp_path)
    assert not (tmp_path / "generation_config.json").exists()


def test_an_invalid_generation_config_is_refused_naming_the_file(tmp_path):
    lm_model(REFERENCE["cases"]["no_token_ids"]).save_pretrained(tmp_path)
    (tmp_path / "generation_config.json").write_text(json.dumps({"top_k": -1}))
    with pytest.raises(ValueError, match=r"generation_config\.json: .*top_k"):
        TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path)
    (tmp_path / "generation_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object of generation options, got list"):
        TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path)


def test_reading_the_options_does_not_stop_them_following_the_model_config(tmp_path):
    # Saving reads the generation options without fixing them: a later change of the model config's
    # token ids still reaches generate, as before the save.
    model = lm_model(REFERENCE["cases"]["no_token_ids"])
    model.save_pretrained(tmp_path)
    model.config.eos_token_id = 7
    assert model.generation_config.eos_token_id == 7
