"""LoRA on the models and the backbone: what trains, files (LoRA weights, `.keras`, `save_weights`,
`save_pretrained`), `merge_lora`, `load_state_dict`, and an interrupted LoRA fine-tune resumed."""
import keras
import numpy as np
import pytest
from helpers import ATOL, tiny_config

from gpt_keras import (
    TFOpenAIGPT,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
    training,
)

NO_DROPOUT = dict(embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
IDS = np.random.default_rng(0).integers(1, 60, (8, 6)).astype(np.int32)


def lora_model(rank=4, **kwargs):
    model = TFOpenAIGPTLMHeadModel(tiny_config(**NO_DROPOUT))
    model.enable_lora(rank, **kwargs)
    return model


def randomize_lora(model, seed=1):
    """Gives every LoRA B matrix random values, so that the adaptation changes the outputs."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "lora" in weight.path and weight.path.endswith("_b"):
            weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))


def logits(model, ids=IDS):
    return np.asarray(model(ids).logits)


def test_fitting_with_lora_changes_the_lora_matrices_and_nothing_else():
    model = lora_model()
    before = {w.path: np.asarray(w) for w in model.weights}
    lora = {w.path for w in model.trainable_weights}
    # Attention (c_attn, c_proj) and MLP (c_fc, c_proj) projections of both blocks, A and B each.
    assert len(lora) == 2 * 4 * 2 and all("lora" in path for path in lora)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    model.fit({"input_ids": IDS, "labels": IDS}, batch_size=4, epochs=2, verbose=0)
    after = {w.path: np.asarray(w) for w in model.weights}
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    assert changed and changed <= lora, sorted(changed - lora)
    assert {path for path in changed if path.endswith("_b")}, "the B matrices must move off zero"


@pytest.mark.parametrize(
    "build",
    [
        lambda: TFOpenAIGPT(tiny_config()),
        lambda: TFOpenAIGPTModel(tiny_config()),
        lambda: TFOpenAIGPTDoubleHeadsModel(tiny_config()),
        lambda: TFOpenAIGPTForSequenceClassification(tiny_config(num_labels=3)),
    ],
    ids=["backbone", "base", "double_heads", "classification"],
)
def test_every_model_class_and_the_backbone_take_lora_on_the_projections(build):
    model = build()
    model.enable_lora(2)
    trainable = [w.path for w in model.trainable_weights]
    assert len(trainable) == 16 and all("lora_kernel" in path for path in trainable)
    config = model.lora_config()
    assert config["rank"] == 2 and len(config["target_layers"]) == 8
    with pytest.raises(ValueError, match="enabled already"):
        model.enable_lora(2)


def test_targets_are_names_or_path_suffixes_and_unknown_ones_are_named():
    model = lora_model(target_layers=["attn/c_attn", "tokens_embed"])
    assert model.lora_config()["target_layers"] == [
        "transformer/embeddings/tokens_embed",
        "transformer/h_0/attn/c_attn",
        "transformer/h_1/attn/c_attn",
    ]
    randomize_lora(model)
    reference = TFOpenAIGPTLMHeadModel.from_config(model.get_config())
    reference.set_weights(model.get_weights())
    np.testing.assert_array_equal(logits(reference), logits(model))  # LoRA on the tied head too
    with pytest.raises(ValueError, match="no layer of .* is named 'query'"):
        TFOpenAIGPTLMHeadModel(tiny_config()).enable_lora(2, target_layers=["query"])
    with pytest.raises(ValueError, match="LayerNorm, which has no LoRA"):
        TFOpenAIGPTLMHeadModel(tiny_config()).enable_lora(2, target_layers=["ln_1"])


def test_lora_weights_file_round_trips_and_enables_lora_on_a_plain_model(tmp_path):
    model = lora_model(rank=3, lora_alpha=6)
    randomize_lora(model)
    model.save_lora_weights(tmp_path / "adapter.safetensors")
    fresh = TFOpenAIGPTLMHeadModel(tiny_config(**NO_DROPOUT))
    fresh.set_weights([np.asarray(w) for w in model.weights if "lora" not in w.path])
    fresh.load_lora_weights(tmp_path / "adapter.safetensors")
    assert fresh.lora_config() == model.lora_config()
    np.testing.assert_array_equal(logits(fresh), logits(model))
    other = lora_model(rank=2)
    with pytest.raises(ValueError, match="rank-3 LoRA"):
        other.load_lora_weights(tmp_path / "adapter.safetensors")
    with pytest.raises(ValueError, match="no LoRA layers"):
        TFOpenAIGPTLMHeadModel(tiny_config()).save_lora_weights(tmp_path / "none.safetensors")


def test_merge_lora_keeps_the_outputs_and_leaves_a_plain_model():
    model = lora_model()
    randomize_lora(model)
    adapted = logits(model)
    model.merge_lora()
    assert model.lora_config() is None and not any("lora" in w.path for w in model.weights)
    np.testing.assert_allclose(logits(model), adapted, atol=ATOL)
    dense = model.transformer.blocks[0].attn.c_attn
    assert dense.kernel.trainable and dense.bias.trainable
    with pytest.raises(ValueError, match="no LoRA layers"):
        model.merge_lora()


def test_save_pretrained_writes_the_merged_weights_that_give_the_lora_models_logits(tmp_path):
    model = lora_model()
    randomize_lora(model)
    model.save_pretrained(tmp_path / "merged")
    reloaded = TFOpenAIGPTLMHeadModel.from_pretrained(tmp_path / "merged")
    assert reloaded.lora_config() is None
    np.testing.assert_allclose(logits(reloaded), logits(model), atol=ATOL)


def test_load_state_dict_into_a_lora_model_sets_the_frozen_weights_and_zeroes_the_update(tiny_dir):
    plain = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    model = TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm")
    model.enable_lora(4)
    randomize_lora(model)
    ids = IDS * 10
    assert not np.allclose(logits(model, ids), logits(plain, ids))
    model.load_state_dict(plain.get_state_dict())
    np.testing.assert_array_equal(logits(model, ids), logits(plain, ids))
    assert model.lora_config() is not None  # still a LoRA model, ready to train


def test_lora_models_come_back_from_keras_files_and_weights_files_unmerged(tmp_path):
    model = lora_model()
    randomize_lora(model)
    model.compile(optimizer="adam")
    model.save(tmp_path / "lora.keras")
    loaded = keras.saving.load_model(tmp_path / "lora.keras")
    assert loaded.lora_config() == model.lora_config()
    assert [w.path for w in loaded.trainable_weights] == [w.path for w in model.trainable_weights]
    for original, reloaded in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(reloaded), np.asarray(original), err_msg=original.path)
    # A weights file saved without LoRA loads into a LoRA model as its frozen weights.
    plain = TFOpenAIGPTLMHeadModel(tiny_config(**NO_DROPOUT))
    plain.save_weights(tmp_path / "plain.weights.h5")
    model.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_array_equal(logits(model), logits(plain))
    with pytest.raises(ValueError, match="could not be loaded"):
        lora_model(target_layers=["c_attn"]).load_weights(tmp_path / "lora.keras")


def test_lora_on_an_int8_model_trains_and_round_trips(tmp_path):
    model = TFOpenAIGPTLMHeadModel(tiny_config(**NO_DROPOUT))
    model.quantize("int8")
    model.enable_lora(2, target_layers=["c_attn"])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.fit({"input_ids": IDS, "labels": IDS}, batch_size=8, epochs=2, verbose=0)
    model.save(tmp_path / "qlora.keras")
    loaded = keras.saving.load_model(tmp_path / "qlora.keras")
    np.testing.assert_array_equal(logits(loaded), logits(model))
    with pytest.raises(ValueError, match="no LoRA for this mode"):
        lora_model().quantize("float8")


class Interrupt(Exception):
    pass


def test_an_interrupted_lora_fine_tune_resumes_to_the_uninterrupted_weights(tmp_path):
    keras.utils.set_random_seed(0)
    first = lora_model()
    initial = first.get_weights()

    def run(directory, stop_at_step=None):
        model = lora_model()
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
        callbacks = [training.ResumableCheckpoint(directory, save_every_steps=2)]
        if stop_at_step is not None:

            class Stop(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    if int(self.model.optimizer.iterations) == stop_at_step:
                        raise Interrupt

            callbacks.append(Stop())
        model.fit({"input_ids": IDS, "labels": IDS}, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        return model

    straight = run(tmp_path / "straight")
    with pytest.raises(Interrupt):
        run(tmp_path / "resumed", stop_at_step=5)  # the last checkpoint is at step 4, in the second epoch
    resumed = run(tmp_path / "resumed")
    assert int(resumed.optimizer.iterations) == int(straight.optimizer.iterations) == 8
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-6, err_msg=a.path)
