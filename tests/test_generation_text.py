"""Generation from text, streaming in compiled chunks, and seeded sampling from an exported SavedModel."""
import numpy as np
import pytest
import tensorflow as tf

from gpt_keras import TFOpenAIGPTLMHeadModel
from gpt_keras.decoding import build_generate_fn
from gpt_keras.tokenizer import OpenAIGPTTokenizer

# Prompts whose BPE ids all fall inside the tiny model's 1000-token vocabulary.
PROMPTS = ["and then he said", "it was the", "she was in a"]


@pytest.fixture(scope="module")
def model(tiny_dir):
    return TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")


@pytest.fixture(scope="module")
def tokenizer(vocab_dir):
    return OpenAIGPTTokenizer(vocab_dir / "vocab.json", vocab_dir / "merges.txt", pre_tokenizer="basic")


def test_stream_chunks_equal_generate(model, expected):
    prompt = expected["gen.prompt.1"][None]
    chunks = list(model.stream(prompt, chunk_size=6, max_new_tokens=20))
    assert [chunk.shape[1] for chunk in chunks] == [6, 6, 6, 2]
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1)[0], expected["gen.greedy.1"][3:])
    sample = dict(max_new_tokens=20, do_sample=True, top_k=50, seed=4)
    streamed = np.concatenate(list(model.stream(prompt, chunk_size=6, **sample)), axis=1)
    np.testing.assert_array_equal(streamed, model.generate(prompt, **sample).numpy()[:, 3:])


def test_generate_text_decodes_the_new_tokens(model, tokenizer):
    texts = model.generate_text(tokenizer, PROMPTS, max_new_tokens=20)
    full_texts = model.generate_text(tokenizer, PROMPTS, max_new_tokens=20, return_full_text=True)
    assert len(texts) == len(full_texts) == len(PROMPTS)
    for prompt, text, full_text in zip(PROMPTS, texts, full_texts):
        ids = tokenizer.encode(prompt)
        alone = model.generate(np.array([ids]), max_new_tokens=20).numpy()[0]
        assert text == tokenizer.decode(alone[len(ids) :], skip_special_tokens=True)
        assert full_text == tokenizer.decode(alone, skip_special_tokens=True)
        assert text.strip()


def test_generate_text_with_a_truncated_prompt_keeps_every_new_token(model, tokenizer):
    prompt = " ".join(PROMPTS * 4)  # more tokens than n_positions=64 leaves room for with 40 new ones
    ids = tokenizer.encode(prompt)
    assert len(ids) + 40 > model.config.n_positions
    text = model.generate_text(tokenizer, prompt, max_new_tokens=40, truncate_prompt=True)[0]
    kept = ids[-(model.config.n_positions - 40) :]
    alone = model.generate(np.array([kept]), max_new_tokens=40).numpy()[0]
    assert text == tokenizer.decode(alone[len(kept) :], skip_special_tokens=True)
    full = model.generate_text(tokenizer, prompt, max_new_tokens=40, truncate_prompt=True, return_full_text=True)[0]
    assert full == tokenizer.decode(ids + alone[len(kept) :].tolist(), skip_special_tokens=True)


def test_an_explicit_eos_token_id_none_is_the_default(model, tokenizer):
    # None is generate's default: the text must be cut where generation stopped, as without it.
    ids = tokenizer.encode(PROMPTS[0])
    eos = int(model.generate(np.array([ids]), max_new_tokens=20).numpy()[0, len(ids) + 5])  # the 6th new token
    unstopped = model.generate_text(tokenizer, PROMPTS, max_new_tokens=20)
    model.config.eos_token_id, saved = eos, model.config.eos_token_id
    try:
        default = model.generate_text(tokenizer, PROMPTS, max_new_tokens=20)
        assert len(default[0]) < len(unstopped[0])
        assert model.generate_text(tokenizer, PROMPTS, max_new_tokens=20, eos_token_id=None) == default
        streamed = "".join(model.stream_text(tokenizer, PROMPTS[0], max_new_tokens=20, eos_token_id=None))
        assert streamed == default[0]
    finally:
        model.config.eos_token_id = saved


def test_stream_text_yields_whole_words_that_add_up(model, tokenizer):
    prompt = PROMPTS[0]
    pieces = list(model.stream_text(tokenizer, prompt, chunk_size=4, max_new_tokens=20))
    assert len(pieces) > 1
    assert "".join(pieces) == model.generate_text(tokenizer, prompt, max_new_tokens=20)[0]
    assert all(piece.endswith(" ") for piece in pieces[:-1])  # a word is emitted only once complete


class EncodeDecodeOnly:
    """A tokenizer with only `encode`, `decode` and `eos_token_id` (no `decode_stream`)."""

    def __init__(self, tokenizer):
        self.encode, self.decode, self.eos_token_id = tokenizer.encode, tokenizer.decode, tokenizer.eos_token_id


def test_stream_text_with_any_tokenizer_yields_whole_words(model, tokenizer):
    plain = EncodeDecodeOnly(tokenizer)
    pieces = list(model.stream_text(plain, PROMPTS[1], chunk_size=4, max_new_tokens=20))
    assert len(pieces) > 1
    assert pieces == list(model.stream_text(tokenizer, PROMPTS[1], chunk_size=4, max_new_tokens=20))
    assert "".join(pieces) == model.generate_text(plain, PROMPTS[1], max_new_tokens=20)[0]


def test_text_api_rejects_bad_prompts(model, tokenizer):
    with pytest.raises(ValueError, match="encode to no tokens"):
        model.generate_text(tokenizer, ["and he said", ""], max_new_tokens=3)
    with pytest.raises(ValueError, match="num_beams"):
        next(model.stream_text(tokenizer, PROMPTS[0], max_new_tokens=3, num_beams=2))
    with pytest.raises(ValueError, match="chunk_size"):
        next(model.stream(np.array([[1, 2]]), chunk_size=0, max_new_tokens=3))


def test_seeded_sampling_is_the_same_from_a_saved_model(model, expected, tmp_path):
    generate_fn = build_generate_fn(model, 40)
    module = tf.Module()
    module.model = model
    module.generate = tf.function(
        generate_fn,
        input_signature=[
            tf.TensorSpec((None, None), tf.int32, name="input_ids"),
            tf.TensorSpec((None, None), tf.int32, name="attention_mask"),
            tf.TensorSpec((), tf.int32, name="max_new_tokens"),
            tf.TensorSpec((), tf.float32, name="temperature"),
            tf.TensorSpec((), tf.int32, name="top_k"),
            tf.TensorSpec((), tf.float32, name="top_p"),
            tf.TensorSpec((), tf.int32, name="seed"),
            tf.TensorSpec((), tf.bool, name="do_sample"),
        ],
    )
    tf.saved_model.save(module, str(tmp_path / "generator"))
    restored = tf.saved_model.load(str(tmp_path / "generator"))

    prompt = expected["gen.prompt.2"].astype(np.int32)  # width 7, left-padded to the bucket of 8
    ids, mask = np.r_[0, prompt][None], np.r_[0, np.ones(7, np.int32)][None]
    outputs = restored.generate(ids, mask, 20, 0.8, 40, 0.9, 77, True)
    from_saved = outputs["sequences"].numpy()[:, 8 : 8 + int(outputs["num_generated"])]
    direct = model.generate(prompt[None], max_new_tokens=20, do_sample=True, temperature=0.8, top_k=40, top_p=0.9, seed=77)
    np.testing.assert_array_equal(from_saved, direct.numpy()[:, 7:])
