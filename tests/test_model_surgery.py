"""Programs that follow their model, text in `generate`, frozen sublayers of any name through `.keras`
files, `fit(x, y)` on the LM model, and `keras.models.clone_model`."""
import shutil
import warnings

import keras
import numpy as np
import pytest
from helpers import tiny_config

from gpt_keras import (
    OpenAIGPTTokenizer,
    TFOpenAIGPT,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
    export_saved_model,
)

NO_DROPOUT = dict(embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
PROMPT = np.array([[5, 17, 3, 40]], np.int32)


def lm(**overrides):
    return TFOpenAIGPTLMHeadModel(tiny_config(initializer_range=0.5, **NO_DROPOUT, **overrides))


def fresh_copy(model):
    """A model built from `model`'s config with its weights: what `model` computes, with no program
    of its own yet."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def randomize_lora(model):
    rng = np.random.default_rng(3)
    for weight in model.weights:
        if weight.path.endswith("lora_kernel_b"):
            weight.assign(rng.normal(0, 2.0, weight.shape).astype("float32"))


def new_tokens(model, **kwargs):
    return np.asarray(model.generate(PROMPT, max_new_tokens=6, **kwargs))[0, PROMPT.shape[1] :]


def greedy_by_forward(model, steps=6):
    """Greedy tokens from eager forward passes over the whole sequence: what the model computes now."""
    ids = PROMPT
    for _ in range(steps):
        ids = np.concatenate([ids, np.asarray(model(ids).logits)[:, -1:].argmax(-1).astype(np.int32)], axis=1)
    return ids[0, PROMPT.shape[1] :]


def change_by_lora(model):
    model.enable_lora(2)
    randomize_lora(model)


def change_by_compile_and_fit(model):
    # A layer changed by hand, which no method of the model saw, then compile and fit.
    model.transformer.blocks[0].attn.c_attn.enable_lora(2)
    model.compile(optimizer=keras.optimizers.SGD(5.0), jit_compile=False)
    model.fit({"input_ids": np.tile(PROMPT, (4, 1)), "labels": np.tile(PROMPT[:, ::-1], (4, 1))}, epochs=3, verbose=0)


def change_by_merge(model):
    change_by_lora(model)
    new_tokens(model)  # a program of the LoRA model, which the merge replaces
    model.merge_lora()


def change_by_load_weights(model, tmp_path):
    other = lm()
    change_by_lora(other)
    other.save_weights(tmp_path / "lora.weights.h5")
    change_by_lora(model)
    new_tokens(model)
    model.load_weights(tmp_path / "lora.weights.h5")


CHANGES = {
    "enable_lora": lambda model, tmp_path: change_by_lora(model),
    "quantize": lambda model, tmp_path: model.quantize("int4", config=keras.quantizers.Int4QuantizationConfig(block_size=None)),
    "merge_lora": lambda model, tmp_path: change_by_merge(model),
    "resize_token_embeddings": lambda model, tmp_path: model.resize_token_embeddings(70),
    "load_weights": change_by_load_weights,
    "compile_and_fit": lambda model, tmp_path: change_by_compile_and_fit(model),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_generate_and_stream_run_the_model_as_it_is_after_a_structural_change(change, tmp_path):
    model = lm()
    before = new_tokens(model)  # compiles a program of the model before the change
    CHANGES[change](model, tmp_path)
    traces = model.generation_trace_count
    after = new_tokens(model)
    assert model.generation_trace_count == traces + 1  # traced anew
    np.testing.assert_array_equal(after, greedy_by_forward(model))
    if change == "enable_lora":
        streamed = np.concatenate(list(model.stream(PROMPT, chunk_size=4, max_new_tokens=6)), axis=1)[0]
        np.testing.assert_array_equal(streamed, after)
    if change != "resize_token_embeddings":  # new rows of a resized table are never the argmax here
        assert not np.array_equal(after, before), "the change should show in the tokens"


def test_an_export_after_lora_fine_tuning_serves_the_fine_tuned_model(tmp_path):
    import tensorflow as tf

    model = lm()
    new_tokens(model)
    change_by_compile_and_fit(model)
    version = export_saved_model(model, tmp_path / "export", max_length=16, max_new_tokens=6)
    served = tf.saved_model.load(str(version)).signatures["generate"](
        input_ids=tf.constant(PROMPT), attention_mask=tf.ones_like(PROMPT), max_new_tokens=tf.constant(6),
        temperature=tf.constant(1.0), top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(0),
        do_sample=tf.constant(False),
    )
    np.testing.assert_array_equal(served["sequences"].numpy()[0, 4:], greedy_by_forward(model))


@pytest.fixture(scope="module")
def checkpoint_with_tokenizer(tmp_path_factory, tiny_dir, vocab_dir):
    directory = tmp_path_factory.mktemp("lm_with_tokenizer")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dir / "lm" / name, directory / name)
    OpenAIGPTTokenizer(vocab_dir / "vocab.json", vocab_dir / "merges.txt", pre_tokenizer="basic").save_pretrained(directory)
    return directory


def test_text_in_generate_comes_back_as_text_with_the_attached_tokenizer(checkpoint_with_tokenizer):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(checkpoint_with_tokenizer)
    assert isinstance(model.tokenizer, OpenAIGPTTokenizer)
    prompts = ["and then he said", "it was the"]
    text = model.generate(prompts[0], max_new_tokens=8)
    assert isinstance(text, str) and text == model.generate_text(model.tokenizer, prompts[0], max_new_tokens=8)[0]
    assert model.generate(prompts, max_new_tokens=8) == model.generate_text(model.tokenizer, prompts, max_new_tokens=8)
    assert len(model.generate(prompts[0], max_new_tokens=8, do_sample=True, num_return_sequences=2, seed=0)) == 2
    ids = np.array([model.tokenizer.encode(prompts[0])])
    out = model.generate(ids, max_new_tokens=8)  # ids in, ids out
    assert out.dtype == "int32" and model.tokenizer.decode(np.asarray(out)[0, ids.shape[1] :], skip_special_tokens=True) == text


def test_text_without_a_tokenizer_names_generate_text_and_model_tokenizer(tiny_dir):
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    assert model.tokenizer is None
    with pytest.raises(TypeError, match=r"no tokenizer.*model\.tokenizer = .*model\.generate_text\(tokenizer"):
        model.generate("the cat sat", max_new_tokens=4)
    with pytest.raises(TypeError, match="no tokenizer"):
        model.generate(np.array(["the cat sat"]), max_new_tokens=4)


def test_frozen_sublayers_of_any_kind_survive_a_keras_file(tmp_path):
    model = TFOpenAIGPTDoubleHeadsModel(tiny_config())
    block = model.transformer.blocks[0]
    frozen = [block.attn.attn_dropout, block.mlp.output_dropout, model.multiple_choice_head.first_dropout, block.ln_1]
    for layer in frozen:
        layer.trainable = False
    model.save(tmp_path / "frozen.keras")
    loaded = keras.saving.load_model(tmp_path / "frozen.keras")
    block = loaded.transformer.blocks[0]
    again = [block.attn.attn_dropout, block.mlp.output_dropout, loaded.multiple_choice_head.first_dropout, block.ln_1]
    assert [layer.trainable for layer in again] == [False] * 4
    assert [w.path for w in loaded.trainable_weights] == [w.path for w in model.trainable_weights]


def test_a_config_naming_an_automatically_named_layer_gets_a_clear_error():
    # What a .keras file of an earlier gpt_keras records for a frozen dropout inside attention.
    config = TFOpenAIGPTLMHeadModel(tiny_config()).get_config()
    config["frozen_layers"] = ["transformer/h_0/attn/dropout_3"]
    with pytest.raises(ValueError, match=r"'transformer/h_0/attn/dropout_3'.*older gpt_keras.*frozen_layers"):
        TFOpenAIGPTLMHeadModel.from_config(config)


def test_labels_passed_as_y_get_the_internal_losss_next_token_shift():
    ids = np.random.default_rng(0).integers(1, 60, (8, 6)).astype(np.int32)
    first = TFOpenAIGPTLMHeadModel(tiny_config(**NO_DROPOUT))
    second = fresh_copy(first)
    for model in (first, second):
        model.compile(optimizer="sgd", metrics=["accuracy"], jit_compile=False)
    in_dict = first.fit({"input_ids": ids, "labels": ids}, batch_size=4, shuffle=False, verbose=0).history
    as_y = second.fit(ids, ids, batch_size=4, shuffle=False, verbose=0).history
    assert as_y == in_dict
    np.testing.assert_allclose(second.evaluate(ids, ids, verbose=0), first.evaluate({"input_ids": ids, "labels": ids}, verbose=0))
    with pytest.raises(ValueError, match="labels given twice"):
        second.fit({"input_ids": ids, "labels": ids}, ids, verbose=0)


def test_a_compiled_loss_with_y_equal_to_input_ids_warns_once():
    ids = np.random.default_rng(0).integers(1, 60, (4, 6)).astype(np.int32)
    model = TFOpenAIGPTLMHeadModel(tiny_config())
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(ids, ids, verbose=0)
        model.fit({"input_ids": ids}, ids, verbose=0)
        model.fit(ids, np.roll(ids, -1, axis=1), verbose=0)
    messages = [str(w.message) for w in caught if "copy its input" in str(w.message)]
    assert len(messages) == 1 and "logits[:, t]" in messages[0]


@pytest.mark.parametrize(
    "build, inputs",
    [
        (lambda: TFOpenAIGPT(tiny_config()), {"input_ids": PROMPT}),
        (lambda: TFOpenAIGPTModel(tiny_config()), {"input_ids": PROMPT}),
        (lambda: TFOpenAIGPTLMHeadModel(tiny_config()), {"input_ids": PROMPT}),
        (lambda: TFOpenAIGPTDoubleHeadsModel(tiny_config()), {"input_ids": PROMPT[None]}),
        (lambda: TFOpenAIGPTForSequenceClassification(tiny_config(num_labels=2)), {"input_ids": PROMPT}),
    ],
    ids=["backbone", "base", "lm", "double_heads", "classification"],
)
def test_clone_model_gives_a_model_called_with_the_same_inputs(build, inputs):
    model = build()
    clone = keras.models.clone_model(model)
    assert type(clone) is type(model)
    for given in (inputs, inputs["input_ids"], {**inputs, "attention_mask": np.ones_like(inputs["input_ids"])}):
        expected, got = model(given), clone(given)
        assert {name: tuple(value.shape) for name, value in got.items()} == {
            name: tuple(value.shape) for name, value in expected.items()
        }
    if isinstance(model, TFOpenAIGPT):
        assert clone.config.to_dict() == model.config.to_dict()
        assert clone.get_config()["config"] == model.get_config()["config"]
