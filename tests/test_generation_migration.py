"""`generate` with the reference's keywords: bad words, minimum lengths, output objects and scores,
generation configs, `use_cache`, stateless seed pairs, and the refusal of what is not supported.

Expected tokens and scores are the reference's (transformers 4.57.6), recorded by
tests/fixtures_tools/make_reference_generation_fixtures.py in tests/fixtures/reference_generation.json.
The reference counts padding as positions, so its results are of unpadded prompts: padded batches here
must give each prompt's unpadded result.
"""
import base64
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from test_generation import pad_batch

from gpt_keras import (
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)
from gpt_keras.decoding import GenerateBeamDecoderOnlyOutput, GenerateDecoderOnlyOutput, GenerationConfig

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "reference_generation.json").read_text(encoding="utf-8"))
CASES = FIXTURE["cases"]
# Scores are float32 logits of magnitude ~10 computed by two libraries, which agree to 8e-6; the
# repetition penalty (x1.3) scales the difference up to 1.6e-5.
SCORE_TOLERANCE = dict(rtol=1e-5, atol=2e-5)


@pytest.fixture(scope="module")
def model(tiny_dir):
    return TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")


def unpack(packed):
    """A fixture's per-step float32 array (steps, rows, vocab)."""
    raw = base64.b64decode(packed["float32_le_base64"])
    return np.frombuffer(raw, "<f4").reshape(packed["shape"])


def stacked(steps):
    """The per-step tensors of an output object as one (steps, rows, vocab) array."""
    return np.stack([step.numpy() for step in steps])


def assert_scores_equal(got, want, name):
    """Equal -inf entries (banned tokens) and finite scores within SCORE_TOLERANCE."""
    assert got.shape == want.shape, name
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=f"{name}: banned tokens")
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], err_msg=name, **SCORE_TOLERANCE)


def new_tokens(case):
    return np.asarray(case["sequences"])[:, len(case["prompts"][0]) :]


# === Every case: the reference's tokens, scores, logits, sequence scores and beam indices ===


@pytest.mark.parametrize("name", sorted(CASES))
def test_generate_matches_the_reference(model, name):
    case = CASES[name]
    out = model.generate(np.array(case["prompts"]), **case["kwargs"])
    if not case["kwargs"].get("return_dict_in_generate"):
        np.testing.assert_array_equal(out.numpy(), case["sequences"])
        return
    beams = case["kwargs"].get("num_beams", 1) > 1
    assert type(out) is (GenerateBeamDecoderOnlyOutput if beams else GenerateDecoderOnlyOutput)
    np.testing.assert_array_equal(out.sequences.numpy(), case["sequences"])
    for field in ("scores", "logits"):
        if field in case:
            assert isinstance(out[field], tuple) and out[field][0].dtype == tf.float32
            assert_scores_equal(stacked(out[field]), unpack(case[field]), f"{name} {field}")
        else:
            assert getattr(out, field) is None and field not in out
    if "sequences_scores" in case:
        np.testing.assert_allclose(out.sequences_scores.numpy(), case["sequences_scores"], **SCORE_TOLERANCE)
    if "beam_indices" in case:
        np.testing.assert_array_equal(out.beam_indices.numpy(), case["beam_indices"])
    assert out.attentions is None and out.hidden_states is None and out.past_key_values is None


# === Padding: each prompt of a padded batch gives its own (the reference's unpadded) result ===


@pytest.mark.parametrize("side", ["left", "right"])
def test_bad_words_in_a_padded_batch(model, side):
    cases = [CASES["bad_words.mixed.0"], CASES["bad_words.mixed.1"]]
    ids, mask = pad_batch([case["prompts"][0] for case in cases], side, pad=7)
    got = model.generate(ids, mask, **cases[0]["kwargs"]).numpy()[:, ids.shape[1] :]
    np.testing.assert_array_equal(got, np.concatenate([new_tokens(case) for case in cases]))


@pytest.mark.parametrize("side", ["left", "right"])
def test_min_length_counts_the_padded_width(model, side):
    # Width 5 and min_length 11: six new tokens for both prompts, which alone are min_length 11 for the
    # 5-token prompt and 9 for the 3-token one.
    cases = [CASES["min_length.prompt0"], CASES["min_length.prompt1"]]
    ids, mask = pad_batch([case["prompts"][0] for case in cases], side, pad=7)
    assert ids.shape[1] == 5
    got = model.generate(ids, mask, max_new_tokens=12, eos_token_id=737, min_length=11).numpy()[:, 5:]
    # Prompt 0 ends after 8 tokens; its row is then filled with the pad id (EOS, as none is given).
    want = [np.r_[new_tokens(case)[0], [737] * (12 - new_tokens(case).shape[1])] for case in cases]
    np.testing.assert_array_equal(got, want)


def test_greedy_scores_in_a_padded_batch(model):
    cases = [CASES["scores.greedy"], CASES["scores.greedy.prompt1"]]
    ids, mask = pad_batch([case["prompts"][0] for case in cases], "left")
    out = model.generate(ids, mask, max_new_tokens=5, return_dict_in_generate=True, output_scores=True)
    got = stacked(out.scores)
    for row, case in enumerate(cases):
        np.testing.assert_array_equal(out.sequences.numpy()[row, ids.shape[1] :], new_tokens(case)[0])
        assert_scores_equal(got[:, row : row + 1], unpack(case["scores"]), f"row {row}")


def test_beam_scores_in_a_padded_batch(model):
    cases = [CASES["scores.beam"], CASES["scores.beam.prompt1"]]
    ids, mask = pad_batch([case["prompts"][0] for case in cases], "left")
    out = model.generate(ids, mask, max_new_tokens=5, num_beams=2, return_dict_in_generate=True, output_scores=True)
    got = stacked(out.scores)  # (steps, batch * beams, vocab)
    for row, case in enumerate(cases):
        np.testing.assert_array_equal(out.sequences.numpy()[row, ids.shape[1] :], new_tokens(case)[0])
        assert_scores_equal(got[:, 2 * row : 2 * row + 2], unpack(case["scores"]), f"prompt {row}")
        np.testing.assert_allclose(out.sequences_scores.numpy()[row], case["sequences_scores"][0], **SCORE_TOLERANCE)
        # Beam indices are flat rows of the batch: the second prompt's beams are rows 2 and 3.
        np.testing.assert_array_equal(out.beam_indices.numpy()[row], np.asarray(case["beam_indices"][0]) + 2 * row)


# === No recompilation: the minimum length is a runtime value ===


def test_min_lengths_share_the_compiled_program(model):
    prompt0, prompt1 = (CASES[name]["prompts"] for name in ("min_length.prompt0", "min_length.prompt1"))
    model.generate(np.array(prompt0), max_new_tokens=12, eos_token_id=737, min_length=11)
    traces = model.generation_trace_count
    # Another prompt width in the same bucket, another min_length, min_new_tokens: one program.
    got = model.generate(np.array(prompt1), max_new_tokens=12, eos_token_id=737, min_length=9).numpy()
    np.testing.assert_array_equal(got, CASES["min_length.prompt1"]["sequences"])
    model.generate(np.array(prompt1), max_new_tokens=12, eos_token_id=737, min_new_tokens=3)
    assert model.generation_trace_count == traces


# === Sampling: warped scores, the default top_k, stateless seed pairs ===


def test_sampled_scores_are_the_warped_logits(model):
    prompt = np.array(CASES["scores.greedy"]["prompts"])
    out = model.generate(
        prompt,
        max_new_tokens=4,
        do_sample=True,
        temperature=2.0,
        top_k=5,
        num_return_sequences=3,
        seed=4,
        return_dict_in_generate=True,
        output_scores=True,
        output_logits=True,
    )
    scores, logits = stacked(out.scores), stacked(out.logits)
    assert scores.shape == logits.shape == (4, 3, 1000)
    for step in range(4):
        kept = np.argsort(logits[step], axis=-1)[:, -5:]
        for row in range(3):
            finite = np.flatnonzero(np.isfinite(scores[step, row]))
            assert sorted(finite) == sorted(kept[row])
            np.testing.assert_allclose(scores[step, row, finite], logits[step, row, finite] / 2.0, rtol=1e-6)
            assert out.sequences.numpy()[row, prompt.shape[1] + step] in finite


def test_sampling_keeps_the_reference_default_top_k(model):
    assert GenerationConfig().top_k == FIXTURE["defaults"]["top_k"] == 50
    prompt = np.array([[5, 6, 7]], np.int32)
    logits = model(prompt).logits.numpy()[0, -1]
    top = set(np.argsort(logits)[-50:].tolist())
    # Nearly uniform over the vocabulary: without the top-50 filter most draws would fall outside it.
    draws = model.generate(prompt, max_new_tokens=1, do_sample=True, temperature=1e4, num_return_sequences=64, seed=1)
    assert set(draws.numpy()[:, -1].tolist()) <= top


def test_a_stateless_seed_pair_is_deterministic(model):
    prompt = np.array(CASES["scores.greedy"]["prompts"])
    sample = dict(max_new_tokens=12, do_sample=True, temperature=1.5, top_k=0)
    first = model.generate(prompt, seed=[1, 2], **sample).numpy()
    for same in ((1, 2), np.array([1, 2]), tf.constant([1, 2])):
        np.testing.assert_array_equal(model.generate(prompt, seed=same, **sample).numpy(), first)
    assert (model.generate(prompt, seed=[2, 1], **sample).numpy() != first).any()
    with pytest.raises(ValueError, match="seed must be an int or a pair of ints"):
        model.generate(prompt, seed=[1, 2, 3], **sample)
    with pytest.raises(ValueError, match="seed must be an integer"):
        model.generate(prompt, seed=[1, 2.5], **sample)


# === use_cache, generation_config, model.generation_config, can_generate ===


def test_use_cache_false_gives_the_same_tokens(model, expected):
    assert FIXTURE["defaults"]["use_cache"] is True
    prompt = expected["gen.prompt.0"][None]
    cached = model.generate(prompt, max_new_tokens=20, use_cache=True).numpy()
    traces = model.generation_trace_count
    uncached = model.generate(prompt, max_new_tokens=20, use_cache=False).numpy()
    np.testing.assert_array_equal(uncached, cached)
    np.testing.assert_array_equal(uncached[0], expected["gen.greedy.0"])
    assert model.generation_trace_count == traces
    with pytest.raises(ValueError, match="use_cache must be True or False"):
        model.generate(prompt, max_new_tokens=2, use_cache="no")


def test_a_generation_config_sets_options_and_keywords_override_it(model):
    case = CASES["bad_words.single"]
    config = GenerationConfig(**case["kwargs"])
    got = model.generate(np.array(case["prompts"]), generation_config=config)
    np.testing.assert_array_equal(got, case["sequences"])
    short = model.generate(np.array(case["prompts"]), generation_config=config, max_new_tokens=3).numpy()
    np.testing.assert_array_equal(short, np.asarray(case["sequences"])[:, :8])
    with pytest.raises(TypeError, match="generation_config must be a gpt_keras.decoding.GenerationConfig"):
        model.generate(np.array(case["prompts"]), generation_config={"max_new_tokens": 3})


def test_model_generation_config_holds_the_defaults(tiny_dir):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    assert FIXTURE["defaults"]["has_generation_config"]["TFOpenAIGPTLMHeadModel"]
    defaults = model.generation_config
    assert isinstance(defaults, GenerationConfig)
    assert (defaults.eos_token_id, defaults.pad_token_id, defaults.bos_token_id) == (None, None, None)
    case = CASES["min_length.shorter_than_prompt"]  # stops at EOS 737 after four tokens
    model.generation_config.eos_token_id = 737
    model.generation_config.max_new_tokens = 12
    np.testing.assert_array_equal(model.generate(np.array(case["prompts"])).numpy(), case["sequences"])
    # A generation_config that leaves eos_token_id unset keeps the model's; a keyword overrides both.
    given = GenerationConfig(max_new_tokens=12)
    np.testing.assert_array_equal(model.generate(np.array(case["prompts"]), generation_config=given), case["sequences"])
    assert model.generate(np.array(case["prompts"]), max_new_tokens=2).shape == (1, 7)
    with pytest.raises(AttributeError, match="GenerationConfig has no option 'typical_p'"):
        model.generation_config.typical_p = 0.5
    with pytest.raises(TypeError, match="generation_config must be"):
        model.generation_config = {"max_new_tokens": 3}
    model.generation_config = GenerationConfig()
    assert model.generate(np.array(case["prompts"]), max_new_tokens=6).shape == (1, 11)
    model.generation_config = None  # back to the model config's: no EOS
    assert model.generation_config.eos_token_id is None


def test_the_model_config_sets_the_generation_defaults(tiny_dir):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm", eos_token_id=737, bos_token_id=3)
    assert (model.generation_config.eos_token_id, model.generation_config.bos_token_id) == (737, 3)
    # No prompt: one sequence from bos_token_id, as the reference starts it.
    np.testing.assert_array_equal(model.generate(max_new_tokens=4), model.generate(np.array([[3]]), max_new_tokens=4))


def test_without_input_ids_a_bos_token_is_needed(model):
    np.testing.assert_array_equal(
        model.generate(bos_token_id=5, max_new_tokens=3), model.generate(np.array([[5]]), max_new_tokens=3)
    )
    with pytest.raises(ValueError, match="bos_token_id"):
        model.generate(max_new_tokens=3)


@pytest.mark.parametrize(
    "model_class, directory, expected_answer",
    [
        (TFOpenAIGPTLMHeadModel, "lm", True),
        # The reference's double-heads model cannot generate; this one can, with the same LM head.
        (TFOpenAIGPTDoubleHeadsModel, "double-heads", True),
        (TFOpenAIGPTModel, "lm", False),
        (TFOpenAIGPTForSequenceClassification, "seq-cls", False),
    ],
)
def test_can_generate(tiny_dir, model_class, directory, expected_answer):
    reference = FIXTURE["defaults"]["can_generate"][model_class.__name__]
    assert reference == (model_class is TFOpenAIGPTLMHeadModel)
    assert model_class.can_generate() is expected_answer
    model = model_class.from_pretrained(tiny_dir / directory)
    assert model.can_generate() is expected_answer
    assert (model.generation_config is not None) is expected_answer


def test_the_double_heads_model_returns_output_objects(tiny_dir, model):
    double_heads = TFOpenAIGPTDoubleHeadsModel.from_pretrained(tiny_dir / "double-heads")
    prompt = np.array([[3, 14, 15]])
    out = double_heads.generate(prompt, max_new_tokens=3, return_dict_in_generate=True, output_logits=True)
    logits = double_heads(prompt[None]).logits.numpy()[0, 0, -1]
    np.testing.assert_allclose(out.logits[0].numpy()[0], logits, atol=1e-5, rtol=0)
    assert out.sequences.shape == (1, 6) and out.scores is None


# === What is not supported is refused by name ===


def test_reference_keywords_at_their_off_values_are_accepted(model, expected):
    prompt = expected["gen.prompt.0"][None]
    got = model.generate(
        prompt,
        max_new_tokens=20,
        output_attentions=False,
        output_hidden_states=False,
        streamer=None,
        synced_gpus=False,
        typical_p=1.0,
        num_beam_groups=1,
    )
    np.testing.assert_array_equal(got.numpy()[0], expected["gen.greedy.0"])
    np.testing.assert_array_equal(model.generate(inputs=prompt, max_new_tokens=20).numpy()[0], expected["gen.greedy.0"])


@pytest.mark.parametrize(
    "keywords, message",
    [
        (dict(typical_p=0.5), "does not support the reference's typical_p=0.5"),
        # output_attentions=True is supported now (tests/test_generation_reference_options.py).
        (dict(min_p=0.1), "does not support the reference's min_p=0.1"),
        (dict(num_beam_groups=2, diversity_penalty=0.5), "diversity_penalty=0.5, num_beam_groups=2"),
        (dict(max_time=1.0), "max_time"),
        (dict(prefix_allowed_tokens_fn=lambda batch, ids: [1]), "prefix_allowed_tokens_fn"),
        (dict(beams=2), r"unexpected keyword arguments \['beams'\]"),
        (dict(inputs=np.array([[1, 2]])), "both input_ids and inputs"),
    ],
)
def test_unsupported_keywords_are_named(model, keywords, message):
    with pytest.raises(TypeError, match=message):
        model.generate(np.array([[1, 2, 3]]), max_new_tokens=2, **keywords)


@pytest.mark.parametrize(
    "bad_words_ids, message",
    [
        ([], "bad_words_ids must be a non-empty list of lists"),
        ([5, 6], "bad_words_ids must be a list of non-empty lists of token ids, got the entry 5"),
        ([[5], []], "got the entry \\[\\]"),
        ([[5, -1]], "bad_words_ids must be an integer in \\[0, 2147483647\\]"),
        ([[5, 1.5]], "bad_words_ids must be an integer"),
        ("5", "bad_words_ids must be a non-empty list"),
        ([[5], [1000, 3000]], "bad_words_ids must be ids in \\[0, 1000\\), got \\[1000, 3000\\]"),
    ],
)
def test_bad_words_are_checked(model, bad_words_ids, message):
    with pytest.raises(ValueError, match=message):
        model.generate(np.array([[1, 2, 3]]), max_new_tokens=2, bad_words_ids=bad_words_ids)


def test_output_flags_without_return_dict_are_ignored_with_a_warning(model, expected, caplog):
    prompt = expected["gen.prompt.0"][None]
    with caplog.at_level(logging.WARNING, logger="gpt_keras"):
        got = model.generate(prompt, max_new_tokens=20, output_scores=True)
    assert isinstance(got, tf.Tensor)
    np.testing.assert_array_equal(got.numpy()[0], expected["gen.greedy.0"])
    assert "return_dict_in_generate is not True, so output_scores is ignored" in caplog.text


def test_text_and_streams_refuse_output_objects(model):
    class Tokenizer:
        eos_token_id = None

        def encode(self, text):
            return [1, 2, 3]

        def decode(self, ids, skip_special_tokens=False):
            return " ".join(map(str, ids))

    with pytest.raises(ValueError, match="generate_text: return_dict_in_generate shape generate's output"):
        model.generate_text(Tokenizer(), ["a"], max_new_tokens=2, return_dict_in_generate=True)
    with pytest.raises(ValueError, match="stream: output_scores"):
        next(model.stream(np.array([[1, 2, 3]]), max_new_tokens=2, output_scores=True))


def test_streaming_applies_bad_words_and_min_new_tokens(model):
    for name in ("min_new_tokens", "bad_words.pair"):
        case = CASES[name]
        chunks = list(model.stream(np.array(case["prompts"]), chunk_size=5, **case["kwargs"]))
        np.testing.assert_array_equal(np.concatenate(chunks, axis=1), new_tokens(case), err_msg=name)


def test_streaming_refuses_contrastive_search(tiny_dir):
    # It used to stream greedy tokens, silently: the stream programs run greedy or sampling only.
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    with pytest.raises(ValueError, match="stream streams greedy or sampled tokens, not contrastive search"):
        next(model.stream(np.array([[1, 2, 3]]), max_new_tokens=2, penalty_alpha=0.6, top_k=4))
    # With sampling, penalty_alpha does not select contrastive search (as in generate): it streams.
    chunks = list(model.stream(np.array([[1, 2, 3]]), max_new_tokens=2, penalty_alpha=0.6, top_k=4, do_sample=True))
    assert np.concatenate(chunks, axis=1).shape == (1, 2)


def test_streaming_refuses_beams_set_in_the_model_generation_config(tiny_dir):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    model.generation_config.num_beams = 2
    with pytest.raises(ValueError, match="num_beams must be 1 for streaming .*, got 2"):
        next(model.stream(np.array([[1, 2, 3]]), max_new_tokens=2))
