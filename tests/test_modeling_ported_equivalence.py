"""The reference's PyTorch <-> TF equivalence test, ported: ``TFModelTesterMixin.test_pt_tf_model_equivalence``
(transformers 4.57, ``tests/test_modeling_tf_common.py``), adapted to import gpt_keras.

The reference builds a random PyTorch model, moves its weights into the TF model both ways (model to
model, then through `pytorch_model.bin` / `tf_model.h5`) and compares every output, with and without
labels, within 1e-4. Here torch is not imported: the PyTorch side is the reference's recorded outputs
for the shared tiny checkpoints (tests/fixtures/reference_models.json, made by
tests/fixtures_tools/make_reference_model_fixtures.py), and the two directions are

- checkpoint -> model: every checkpoint format the reference writes (its safetensors and
  `pytorch_model.bin`, and its TF port's `tf_model.h5`) loads into each class and gives the PyTorch
  reference's outputs;
- model -> checkpoint: what `save_pretrained` writes is what the reference writes (file names, tensor
  names and shapes), and loads back to the same outputs.

Inputs: (2, 7) ids, token types and a random attention mask whose first and last tokens are attended
(the reference keeps the first; the last keeps the sequence classifier's pooled token the same on
both sides, where the reference finds it from the ids and gpt_keras from the mask: a documented
difference).
"""
import shutil

import numpy as np
import pytest
from ported_model_tester import FIXTURE_KEYS, assert_fingerprint, load_fixture
from safetensors.numpy import load_file

from gpt_keras import TFOpenAIGPTDoubleHeadsModel

REFERENCE = load_fixture()["pytorch"]
TOLERANCE = 1e-4  # the reference's check_pt_tf_outputs
CHECKPOINT_DIRS = {"base": "lm", "lm": "lm", "dh": "double-heads", "sc": "seq-cls"}
CLASSES = {key: model_class for model_class, key in FIXTURE_KEYS.items()}
# The checkpoint files of each format, as the reference writes them.
FORMATS = {"safetensors": "model.safetensors", "pytorch_model.bin": "pytorch_model.bin", "tf_model.h5": "tf_model.h5"}


def checkpoint_cases():
    for key, directory in CHECKPOINT_DIRS.items():
        for name, file_name in FORMATS.items():
            if name != "pytorch_model.bin" or directory == "lm":  # the shared fixtures have one .bin
                yield pytest.param(key, name, id=f"{CLASSES[key].__name__}-{name}")


def load_from(tiny_dir, tmp_path, key, format_name):
    """The model of `key` loaded from the shared checkpoint's file of one format only."""
    source = tiny_dir / CHECKPOINT_DIRS[key]
    for name in ("config.json", FORMATS[format_name]):
        shutil.copy(source / name, tmp_path / name)
    return CLASSES[key].from_pretrained(tmp_path)


def inputs(**extra):
    recorded = REFERENCE["inputs"]
    common = {name: np.array(recorded[name]) for name in ("input_ids", "token_type_ids", "attention_mask")}
    return {**common, **extra}


def check_outputs(outputs, recorded, name, choices=False):
    """The reference's check_pt_tf_outputs on the recorded fingerprints: the same output keys, then every
    tensor (each element of hidden_states / attentions) within the tolerance. The TF port's loss has a
    batch axis; like the reference, its mean is compared. With `choices`, hidden states and attentions
    of (batch, choices, ...) inputs are compared in PyTorch's layout: it returns them flattened to
    (batch * choices, ...) but for the last hidden state; the TF port, like gpt_keras, keeps the choices
    axis everywhere."""
    keys = {key for key, value in outputs.items() if value is not None}
    assert keys == {key.split(".")[0] for key in recorded}, f"{name}: output keys differ between gpt_keras and PyTorch"
    for key, fingerprint in recorded.items():
        field, _, index = key.partition(".")
        value = outputs[field][int(index)] if index else outputs[field]
        if field in ("loss", "mc_loss"):
            value = np.mean(np.asarray(value))
        if choices and field in ("hidden_states", "attentions"):
            value = np.reshape(value, fingerprint["shape"])
        assert_fingerprint(value, fingerprint, f"{name}.{key}", TOLERANCE)


FLAGS = dict(output_hidden_states=True, output_attentions=True)


@pytest.mark.parametrize("key, format_name", list(checkpoint_cases()))
def test_pt_tf_model_equivalence(key, format_name, tiny_dir, tmp_path):
    model = load_from(tiny_dir, tmp_path, key, format_name)
    check_outputs(model(**inputs(), **FLAGS), REFERENCE["equivalence"][key], key)
    # With labels, for the classes the reference's mappings give labels to.
    if key == "lm":
        outputs = model(**inputs(labels=np.zeros((2, 7), np.int32)), **FLAGS)
        check_outputs(outputs, REFERENCE["equivalence"]["lm_labels"], "lm_labels")
    if key == "sc":
        outputs = model(**inputs(labels=np.zeros((2,), np.int32)), **FLAGS)
        check_outputs(outputs, REFERENCE["equivalence"]["sc_labels"], "sc_labels")


@pytest.mark.parametrize("format_name", ["safetensors", "tf_model.h5"])
def test_pt_tf_model_equivalence_multiple_choice(format_name, tiny_dir, tmp_path):
    # The double-heads model on (batch, choices, seq) inputs with both losses (not in the reference's
    # TF test, whose mappings give this class no labels; its PyTorch tests do).
    recorded = REFERENCE["inputs"]
    model = load_from(tiny_dir, tmp_path, "dh", format_name)
    tile = lambda x: np.tile(np.asarray(x)[:, None], (1, 4, 1))
    outputs = model(
        input_ids=np.array(recorded["mc_input_ids"]),
        token_type_ids=tile(recorded["token_type_ids"]),
        mc_token_ids=np.array(recorded["mc_token_ids"]),
        labels=np.array(recorded["mc_input_ids"]),
        mc_labels=np.array(recorded["mc_labels"]),
        **FLAGS,
    )
    check_outputs(outputs, REFERENCE["equivalence"]["dh_choices"], "dh_choices", choices=True)


@pytest.mark.parametrize("key", list(CHECKPOINT_DIRS), ids=[CLASSES[key].__name__ for key in CHECKPOINT_DIRS])
def test_pt_tf_model_equivalence_saved_checkpoint(key, tiny_dir, tmp_path):
    # model -> checkpoint: the files, tensor names, shapes and dtype the reference writes for the same
    # class, and the reference's outputs after loading them back.
    model = CLASSES[key].from_pretrained(tiny_dir / CHECKPOINT_DIRS[key])
    saved = tmp_path / "saved"
    model.save_pretrained(saved)
    layout = REFERENCE["layouts"][key]
    files = layout["files"]
    if CLASSES[key] is TFOpenAIGPTDoubleHeadsModel:
        # The reference's double-heads model cannot generate, so it writes no generation_config.json;
        # gpt_keras's generates (a deliberate difference, in the README's migration table).
        files = sorted(files + ["generation_config.json"])
    assert sorted(path.name for path in saved.iterdir()) == files
    tensors = load_file(saved / "model.safetensors")
    assert {name: list(value.shape) for name, value in tensors.items()} == layout["tensors"]
    assert {str(value.dtype) for value in tensors.values()} == {layout["dtype"]}
    reloaded = CLASSES[key].from_pretrained(saved)
    check_outputs(reloaded(**inputs(), **FLAGS), REFERENCE["equivalence"][key], key)

