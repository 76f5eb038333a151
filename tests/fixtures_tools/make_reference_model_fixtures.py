"""Records the reference models' results for the ported model tests (tests/test_modeling_ported*.py).

Run by hand with the PyTorch reference's venv; it runs itself a second time under the reference's TF
port for the facts only that port has (the project and its tests import neither):

    python3 -m venv /work/refvenv && /work/refvenv/bin/pip install transformers==4.57.6 torch
    python3 -m venv /work/reftfvenv && /work/reftfvenv/bin/pip install transformers==4.57.6 tensorflow tf-keras
    GPTK_SHARED=/path/to/shared REFERENCE_TF_PYTHON=/work/reftfvenv/bin/python \\
        /work/refvenv/bin/python tests/fixtures_tools/make_reference_model_fixtures.py

It writes tests/fixtures/reference_models.json. Models are the shared tiny checkpoints
(../shared/fixtures/tiny-openai-gpt); inputs are drawn here from fixed seeds and stored. A tensor is
stored as a fingerprint (`fingerprint` below: shape, 16 evenly spaced values, the sum of absolute
values and four random +-1 projections), which keeps the file small and still catches a single wrong
value anywhere in the tensor.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "fixtures" / "reference_models.json"
SHARED = Path(os.environ.get("GPTK_SHARED", HERE.parents[2] / "shared"))
TINY = SHARED / "fixtures" / "tiny-openai-gpt"
CHECKPOINTS = {"base": "lm", "lm": "lm", "dh": "double-heads", "sc": "seq-cls"}
PT_CLASSES = {
    "base": "OpenAIGPTModel",
    "lm": "OpenAIGPTLMHeadModel",
    "dh": "OpenAIGPTDoubleHeadsModel",
    "sc": "OpenAIGPTForSequenceClassification",
}
PROBES = 16
PROJECTIONS = 4

# Non-default values for the config fields every reference config has (the reference's test of the
# same name sets each of them and reads it back). Values are this file's own choice.
CONFIG_COMMON_KWARGS = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "torchscript": True,
    "use_bfloat16": True,
    "tf_legacy_loss": True,
    "pruned_heads": {"1": [0]},
    "tie_word_embeddings": False,
    "chunk_size_feed_forward": 4,
    "is_decoder": True,
    "cross_attention_hidden_size": 64,
    "add_cross_attention": True,
    "tie_encoder_decoder": True,
    "max_length": 30,
    "min_length": 2,
    "do_sample": True,
    "early_stopping": True,
    "num_beams": 4,
    "num_beam_groups": 2,
    "diversity_penalty": 0.25,
    "temperature": 1.5,
    "top_k": 7,
    "top_p": 0.8,
    "typical_p": 0.3,
    "repetition_penalty": 0.9,
    "length_penalty": 0.7,
    "no_repeat_ngram_size": 3,
    "encoder_no_repeat_ngram_size": 4,
    "bad_words_ids": [4, 5],
    "num_return_sequences": 2,
    "output_scores": True,
    "return_dict_in_generate": True,
    "forced_bos_token_id": 3,
    "forced_eos_token_id": 4,
    "remove_invalid_values": True,
    "architectures": ["OpenAIGPTLMHeadModel"],
    "finetuning_task": "rocstories",
    "id2label": {0: "wrong", 1: "right"},
    "label2id": {"wrong": 0, "right": 1},
    "tokenizer_class": "OpenAIGPTTokenizer",
    "prefix": "story:",
    "bos_token_id": 11,
    "pad_token_id": 12,
    "eos_token_id": 13,
    "sep_token_id": 14,
    "decoder_start_token_id": 15,
    "exponential_decay_length_penalty": [4, 1.05],
    "suppress_tokens": [2, 3],
    "begin_suppress_tokens": [4],
    "task_specific_params": {"summarization": {"max_length": 10}},
    "problem_type": "single_label_classification",
}


def projection_signs(size, index):
    """The +-1 weights of projection `index` over `size` values (tests/ported_model_tester.py draws the same)."""
    return np.random.RandomState(1000 + index).randint(0, 2, size) * 2.0 - 1.0


def fingerprint(array):
    """Shape, values at PROBES evenly spaced flat positions (None where not finite), sum of |finite
    values|, and PROJECTIONS sums of the finite values times random signs."""
    array = np.asarray(array, dtype=np.float64)
    flat = array.ravel()
    positions = np.linspace(0, flat.size - 1, num=min(flat.size, PROBES)).astype(int) if flat.size else []
    finite = np.isfinite(flat)
    zeroed = np.where(finite, flat, 0.0)
    return {
        "shape": list(array.shape),
        "values": [float(flat[i]) if finite[i] else None for i in positions],
        "abs_sum": float(np.abs(flat[finite]).sum()),
        "projections": [float(zeroed @ projection_signs(flat.size, k)) for k in range(PROJECTIONS)],
    }


def model_inputs():
    """The inputs of the equivalence checks: (2, 7) ids, token types, a random mask (first and last
    tokens attended: see tests/test_modeling_ported_equivalence.py), and a multiple-choice set."""
    rng = np.random.RandomState(16)
    input_ids = rng.randint(2, 1000, (2, 7))
    token_type_ids = rng.randint(0, 16, (2, 7))
    attention_mask = rng.randint(0, 2, (2, 7))
    attention_mask[:, 0] = attention_mask[:, -1] = 1
    return {
        "input_ids": input_ids.tolist(),
        "token_type_ids": token_type_ids.tolist(),
        "attention_mask": attention_mask.tolist(),
        "mc_input_ids": np.tile(input_ids[:, None], (1, 4, 1)).tolist(),
        "mc_token_ids": [[6, 5, 4, 3], [2, 3, 4, 6]],
        "mc_labels": [1, 3],
    }


def generation_prompt():
    rng = np.random.RandomState(7)
    return {"input_ids": rng.randint(2, 1000, (2, 5)).tolist(), "token_type_ids": rng.randint(0, 16, (2, 5)).tolist()}


def outputs_fingerprints(outputs):
    recorded = {}
    for name, value in outputs.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            for i, item in enumerate(value):
                recorded[f"{name}.{i}"] = fingerprint(item.detach().numpy())
        else:
            recorded[name] = fingerprint(value.detach().numpy())
    return recorded


def pytorch_part():
    import torch
    import transformers
    from transformers import OpenAIGPTConfig

    assert transformers.__version__ == "4.57.6", transformers.__version__
    torch.manual_seed(0)
    inputs = model_inputs()
    tensor = lambda name: torch.tensor(inputs[name])
    models = {key: getattr(transformers, name).from_pretrained(TINY / CHECKPOINTS[key]).eval() for key, name in PT_CLASSES.items()}
    flags = dict(output_hidden_states=True, output_attentions=True)
    common = dict(input_ids=tensor("input_ids"), token_type_ids=tensor("token_type_ids"), attention_mask=tensor("attention_mask"))
    equivalence = {}
    with torch.no_grad():
        for key, model in models.items():
            equivalence[key] = outputs_fingerprints(model(**common, **flags))
        equivalence["lm_labels"] = outputs_fingerprints(models["lm"](**common, labels=torch.zeros(2, 7, dtype=torch.long), **flags))
        equivalence["sc_labels"] = outputs_fingerprints(models["sc"](**common, labels=torch.zeros(2, dtype=torch.long), **flags))
        tile = lambda name: torch.tensor(np.tile(np.asarray(inputs[name])[:, None], (1, 4, 1)))
        equivalence["dh_choices"] = outputs_fingerprints(
            models["dh"](
                input_ids=tensor("mc_input_ids"),
                # No attention_mask: the PyTorch reference does not flatten a (batch, choices, seq) one.
                token_type_ids=tile("token_type_ids"),
                mc_token_ids=tensor("mc_token_ids"),
                labels=tensor("mc_input_ids"),
                mc_labels=tensor("mc_labels"),
                **flags,
            )
        )

    layouts = {}
    for key, model in models.items():
        with tempfile.TemporaryDirectory() as directory:
            model.save_pretrained(directory)
            from safetensors.numpy import load_file

            saved = load_file(os.path.join(directory, "model.safetensors"))
            layouts[key] = {
                "files": sorted(os.listdir(directory)),
                "tensors": {name: list(value.shape) for name, value in sorted(saved.items())},
                "dtype": json.load(open(os.path.join(directory, "config.json")))["dtype"],
            }

    kept = {}
    for name, value in CONFIG_COMMON_KWARGS.items():
        config = OpenAIGPTConfig(**{name: value})
        kept[name] = getattr(config, name) == value
    config = OpenAIGPTConfig(**CONFIG_COMMON_KWARGS)
    return {
        "inputs": inputs,
        "equivalence": equivalence,
        "layouts": layouts,
        "config": {
            "common_kwargs": CONFIG_COMMON_KWARGS,
            "common_kwargs_kept": sorted(name for name, ok in kept.items() if ok),
            "all_at_once_kept": sorted(name for name in CONFIG_COMMON_KWARGS if getattr(config, name) == CONFIG_COMMON_KWARGS[name]),
            "defaults": {name: value for name, value in OpenAIGPTConfig().to_dict().items() if name != "transformers_version"},
        },
        "generation": generation_part(models["lm"]),
    }


def generation_part(model):
    """The reference's `generate` on the tiny LM with the options of its generation tests."""
    import torch

    prompt = generation_prompt()
    input_ids = torch.tensor(prompt["input_ids"])
    processors = dict(bad_words_ids=[[1, 0]], repetition_penalty=1.2, remove_invalid_values=True)
    beams = lambda n: dict(num_beams=2, length_penalty=2.0, early_stopping=False, num_return_sequences=n)
    dict_outputs = dict(output_scores=True, output_logits=True, return_dict_in_generate=True)
    cases = {
        "greedy": dict(do_sample=False, num_beams=1, max_new_tokens=3, **processors, **dict_outputs),
        "greedy_token_types": dict(do_sample=False, num_beams=1, max_new_tokens=3, token_type_ids=torch.tensor(prompt["token_type_ids"])),
        "beam": dict(do_sample=False, max_new_tokens=3, **beams(1), **processors, **dict_outputs),
        "beam_two_sequences": dict(do_sample=False, max_new_tokens=3, **beams(2), **processors, **dict_outputs),
    }
    recorded = {"prompt": prompt, "cases": {}}
    torch.manual_seed(0)
    for name, kwargs in cases.items():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), pad_token_id=0, **kwargs)
        sequences = out.sequences if hasattr(out, "sequences") else out
        case = {"sequences": sequences.tolist()}
        if hasattr(out, "scores"):
            case["scores"] = [fingerprint(step.numpy()) for step in out.scores]
            case["logits"] = [fingerprint(step.numpy()) for step in out.logits]
            if getattr(out, "sequences_scores", None) is not None:
                case["sequences_scores"] = out.sequences_scores.tolist()
                transition = model.compute_transition_scores(out.sequences, out.scores, out.beam_indices)
            else:
                transition = model.compute_transition_scores(out.sequences, out.scores)
                case["transition_scores_normalized"] = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True).tolist()
            case["transition_scores"] = transition.tolist()
        recorded["cases"][name] = case

    # eos as an int and as a list: row 0's third greedy token ends row 0 early.
    greedy = model.generate(input_ids, do_sample=False, max_new_tokens=8, pad_token_id=0)
    eos = int(greedy[0, 5 + 2])
    other = next(t for t in range(2, 1000) if t not in greedy.tolist()[0] + greedy.tolist()[1])
    recorded["eos"] = {
        "eos_token_id": eos,
        "other_token_id": other,
        "greedy": greedy.tolist(),
        "int": model.generate(input_ids, do_sample=False, max_new_tokens=8, pad_token_id=0, eos_token_id=eos).tolist(),
        "list": model.generate(input_ids, do_sample=False, max_new_tokens=8, pad_token_id=0, eos_token_id=[other, eos]).tolist(),
        "min_new_tokens": model.generate(
            input_ids, do_sample=False, max_new_tokens=8, min_new_tokens=5, pad_token_id=0, eos_token_id=eos
        ).tolist(),
    }
    return recorded


def tensorflow_part():
    """Facts of the reference's TF port (run under its venv): loss shapes, outputs of rank-2 inputs to
    the double-heads model, files `save_pretrained` writes, what `generate` accepts."""
    import inspect

    import tensorflow as tf
    import transformers

    assert transformers.__version__ == "4.57.6", transformers.__version__
    inputs = model_inputs()
    ids = tf.constant(inputs["input_ids"], tf.int32)
    # This safetensors version cannot be read by the TF port: it reads tf_model.h5.
    load = lambda key: getattr(transformers, "TF" + PT_CLASSES[key]).from_pretrained(TINY / CHECKPOINTS[key], use_safetensors=False)
    models = {key: load(key) for key in PT_CLASSES}
    facts = {"classes": {}}
    for key, model in models.items():
        with tempfile.TemporaryDirectory() as directory:
            model.save_pretrained(directory)
            files = sorted(os.listdir(directory))
        facts["classes"][key] = {
            "save_pretrained_files": files,
            "can_generate": bool(model.can_generate()),
            "supports_xla_generation": bool(model.supports_xla_generation),
            "main_input_name": model.main_input_name,
            "call_arguments": list(inspect.signature(model.call).parameters),
            "has_output_embeddings": model.get_output_embeddings() is not None,
            "bias_is_none": model.get_bias() is None,
        }
    labels = tf.zeros((2, 7), tf.int32)
    masked = tf.concat([tf.fill((1, 7), -100), tf.zeros((1, 7), tf.int32)], axis=0)
    facts["loss_shapes"] = {
        "lm": models["lm"](ids, labels=labels).loss.shape.as_list(),
        "lm_masked_row": models["lm"](ids, labels=masked).loss.shape.as_list(),
        "sc": models["sc"](ids, labels=tf.zeros((2,), tf.int32)).loss.shape.as_list(),
    }
    rank2 = models["dh"](ids)
    facts["double_heads_rank2"] = {"logits": rank2.logits.shape.as_list(), "mc_logits": rank2.mc_logits.shape.as_list()}
    refused = {}
    for name, kwargs in {"do_samples": {"do_samples": True}, "foo": {"foo": "bar"}}.items():
        try:
            models["lm"].generate(ids, max_new_tokens=2, **kwargs)
            refused[name] = None
        except ValueError as error:
            refused[name] = name in str(error)
    facts["generate_refuses_unknown_keywords"] = refused
    return facts


def main():
    if "--tensorflow-part" in sys.argv:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        print(json.dumps(tensorflow_part()))
        return
    fixture = {"transformers": "4.57.6", "pytorch": pytorch_part()}
    tf_python = os.environ.get("REFERENCE_TF_PYTHON", "/work/reftfvenv/bin/python")
    run = subprocess.run([tf_python, __file__, "--tensorflow-part"], capture_output=True, text=True, check=True)
    fixture["tensorflow"] = json.loads(run.stdout.strip().splitlines()[-1])
    OUTPUT.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
