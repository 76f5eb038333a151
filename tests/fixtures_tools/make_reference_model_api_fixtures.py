"""Records the reference models' call API facts for tests/test_migration_model_api.py.

Run by hand, in the two separate venvs that hold the reference (never in the project's own environment:
the project and its tests import neither transformers, torch nor tf-keras):

    GPTK_SHARED=/path/to/shared /work/refvenv/bin/python tests/fixtures_tools/make_reference_model_api_fixtures.py torch
    GPTK_SHARED=/path/to/shared /work/reftfvenv/bin/python tests/fixtures_tools/make_reference_model_api_fixtures.py tf

(/work/refvenv: transformers 4.57.6 + torch CPU; /work/reftfvenv: transformers 4.57.6 + tensorflow-cpu +
tf-keras, for the TF port.) Each run rewrites its own section of tests/fixtures/reference_model_api.json
and keeps the other's. Models are the random-weight checkpoints of ../shared/fixtures/tiny-openai-gpt,
inputs those of its expected.npz; everything runs in eval mode.

- "torch": `num_parameters` with both flags, the output fields in order and the `return_dict=False` tuple
  length of each class, the double-heads model's outputs for one example given without its batch axis
  ((choices, seq) input_ids), and outputs with `config.output_hidden_states` / `config.return_dict` set.
- "tf": each TF class's call parameters in order (what a list input is matched against), the loss
  shapes it returns, its outputs' shapes for a (choices, seq) input to the double-heads model, and the
  equality of list, dict and keyword calls.
"""
import inspect
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "fixtures" / "reference_model_api.json"
TINY = Path(os.environ.get("GPTK_SHARED", HERE.parents[2] / "shared")) / "fixtures" / "tiny-openai-gpt"
CLASSES = ("OpenAIGPTModel", "OpenAIGPTLMHeadModel", "OpenAIGPTDoubleHeadsModel", "OpenAIGPTForSequenceClassification")
CHECKPOINT = {"OpenAIGPTDoubleHeadsModel": "double-heads", "OpenAIGPTForSequenceClassification": "seq-cls"}


def expected_inputs():
    with np.load(TINY / "expected.npz") as data:
        return {key: data[key] for key in data.files}


def class_inputs(name, e):
    """The keyword inputs of a call that produces every output of class `name` (losses included)."""
    if name == "OpenAIGPTDoubleHeadsModel":
        return dict(input_ids=e["dh.input_ids"], mc_token_ids=e["dh.mc_token_ids"], labels=e["dh.labels"], mc_labels=e["dh.mc_labels"])
    if name == "OpenAIGPTForSequenceClassification":
        return dict(input_ids=e["sc.input_ids"], labels=e["sc.labels"])
    inputs = dict(input_ids=e["input_ids"], attention_mask=e["attention_mask"])
    if name == "OpenAIGPTLMHeadModel":
        inputs["labels"] = e["labels"]
    return inputs


def torch_part():
    import torch
    import transformers

    e = expected_inputs()
    section = {"transformers": transformers.__version__, "torch": torch.__version__, "num_parameters": {}, "outputs": {}}
    for name in CLASSES:
        model = getattr(transformers, name).from_pretrained(TINY / CHECKPOINT.get(name, "lm")).eval()
        section["num_parameters"][name] = {
            f"only_trainable={t},exclude_embeddings={x}": model.num_parameters(only_trainable=t, exclude_embeddings=x)
            for t in (False, True)
            for x in (False, True)
        }
        inputs = {k: torch.tensor(v) for k, v in class_inputs(name, e).items()}
        with torch.no_grad():
            full = model(**inputs, output_attentions=True, output_hidden_states=True)
            as_tuple = model(**inputs, output_attentions=True, output_hidden_states=True, return_dict=False)
            model.config.output_hidden_states = True
            from_config = model(**inputs)
            model.config.output_hidden_states = False
            model.config.return_dict = False
            tuple_from_config = model(**inputs)
            model.config.return_dict = True
        section["outputs"][name] = {
            "fields": list(full.keys()),
            "tuple_length": len(as_tuple),
            "tuple_first": float(as_tuple[0]) if as_tuple[0].ndim == 0 else None,
            "loss_shape": list(full["loss"].shape) if "loss" in full else None,
            "hidden_states_from_config": len(from_config.hidden_states),
            "config_return_dict_false_is_tuple": isinstance(tuple_from_config, tuple),
        }

    model = transformers.OpenAIGPTDoubleHeadsModel.from_pretrained(TINY / "double-heads").eval()
    one = dict(input_ids=e["dh.input_ids"][0], mc_token_ids=e["dh.mc_token_ids"][0], labels=e["dh.labels"][0], mc_labels=e["dh.mc_labels"][:1])
    with torch.no_grad():
        out = model(**{k: torch.tensor(v) for k, v in one.items()})
        batched = model(**{k: torch.tensor(v[None]) for k, v in one.items() if k != "mc_labels"}, mc_labels=torch.tensor(one["mc_labels"]))
    section["double_heads_one_example"] = {
        "example": 0,
        "logits_shape": list(out.logits.shape),
        "mc_logits": out.mc_logits.tolist(),
        "loss": float(out.loss),
        "mc_loss": float(out.mc_loss),
        "max_logits_difference_from_batch_of_one": float((out.logits - batched.logits[0]).abs().max()),
    }
    return section


def tf_part():
    import tensorflow as tf
    import transformers

    e = expected_inputs()
    section = {"transformers": transformers.__version__, "tensorflow": tf.__version__, "call_parameters": {}, "loss_shapes": {}}
    for name in CLASSES:
        cls = getattr(transformers, "TF" + name)
        section["call_parameters"]["TF" + name] = [p for p in inspect.signature(cls.call).parameters if p != "self"]
        model = cls.from_pretrained(TINY / CHECKPOINT.get(name, "lm"), use_safetensors=False)
        inputs = class_inputs(name, e)
        if name == "OpenAIGPTDoubleHeadsModel":  # the TF port's double-heads model takes no labels
            inputs = {k: v for k, v in inputs.items() if "labels" not in k}
        out = model({k: tf.constant(v) for k, v in inputs.items()})
        if "loss" in out and out["loss"] is not None:
            section["loss_shapes"]["TF" + name] = list(out["loss"].shape)

    model = transformers.TFOpenAIGPTModel.from_pretrained(TINY / "lm", use_safetensors=False)
    ids, mask = tf.constant(e["input_ids"]), tf.constant(e["attention_mask"])
    keyword = model(ids, attention_mask=mask).last_hidden_state
    listed = model([ids, mask]).last_hidden_state
    in_dict = model({"input_ids": ids, "attention_mask": mask, "output_hidden_states": True})
    section["list_input_equals_keywords"] = bool(np.array_equal(keyword.numpy(), listed.numpy()))
    section["dict_flag_hidden_states"] = len(in_dict.hidden_states)
    as_tuple = model({"input_ids": ids, "attention_mask": mask}, return_dict=False)
    section["tf_return_dict_false_is_tuple"] = isinstance(as_tuple, tuple)

    model = transformers.TFOpenAIGPTDoubleHeadsModel.from_pretrained(TINY / "double-heads", use_safetensors=False)
    one = model(tf.constant(e["dh.input_ids"][0]), mc_token_ids=tf.constant(e["dh.mc_token_ids"][0]))
    section["double_heads_one_example"] = {"logits_shape": list(one.logits.shape), "mc_logits_shape": list(one.mc_logits.shape)}
    return section


def main(part):
    fixture = json.loads(OUTPUT.read_text()) if OUTPUT.is_file() else {}
    fixture[part] = torch_part() if part == "torch" else tf_part()
    OUTPUT.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
    print(f"wrote the {part!r} section of {OUTPUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("torch", "tf"):
        sys.exit(f"usage: {sys.argv[0]} torch|tf")
    main(sys.argv[1])
