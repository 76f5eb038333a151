"""Records what the reference does when loading and configuring models, for tests/test_migration_loading.py.

Run by hand, in the separate venvs that have the reference (never in the project's own environment: the
project and its tests import neither transformers nor torch), once with PyTorch and once with the TF port:

    GPTK_SHARED=/path/to/shared /work/refvenv/bin/python tests/fixtures_tools/make_reference_loading_fixtures.py
    GPTK_SHARED=/path/to/shared /work/reftfvenv/bin/python tests/fixtures_tools/make_reference_loading_fixtures.py

Each run updates its own part of tests/fixtures/reference_loading.json:

- "pytorch" (transformers 4.57.6 + torch): `output_loading_info` of `from_pretrained` for the shared tiny
  checkpoints (each case with its class, directory and keyword arguments, and each mismatched tensor's
  checkpoint and model shapes, which the PyTorch reference lists by name only), the defaults of the fields every reference config has, `from_pretrained(...,
  return_unused_kwargs=True)`, `to_diff_dict`, `use_return_dict` and `update`.
- "tensorflow" (the reference's TF port): the files `save_pretrained(saved_model=True)` writes, and what
  `resize_token_embeddings` returns.
"""
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "fixtures" / "reference_loading.json"
TINY = Path(os.environ.get("GPTK_SHARED", HERE.parents[2] / "shared")) / "fixtures" / "tiny-openai-gpt"

# (case, class, checkpoint directory, from_pretrained keyword arguments)
LOADING_CASES = [
    ("seq_cls_5_labels_ignoring_sizes", "ForSequenceClassification", "seq-cls", {"num_labels": 5, "ignore_mismatched_sizes": True}),
    ("seq_cls_from_lm", "ForSequenceClassification", "lm", {}),
    ("base_from_lm", "Model", "lm", {}),
    ("base_from_seq_cls", "Model", "seq-cls", {}),
    ("lm_from_double_heads", "LMHeadModel", "double-heads", {}),
    ("double_heads_from_lm", "DoubleHeadsModel", "lm", {}),
    ("lm_from_lm", "LMHeadModel", "lm", {}),
    ("base_vocab_10_ignoring_sizes", "Model", "lm", {"vocab_size": 10, "ignore_mismatched_sizes": True}),
]
# Refused without ignore_mismatched_sizes: (case, class, directory, kwargs).
REFUSED_CASES = [("seq_cls_5_labels", "ForSequenceClassification", "seq-cls", {"num_labels": 5})]
UNUSED_KWARGS = {"output_attentions": True, "foo": 1, "num_labels": 5, "from_pt": True, "torchscript": True}


def pytorch_part():
    import safetensors.numpy
    import transformers
    from transformers import OpenAIGPTConfig, PretrainedConfig

    part = {"transformers": transformers.__version__, "loading_info": {}, "refused": {}}
    for case, suffix, directory, kwargs in LOADING_CASES:
        cls = getattr(transformers, f"OpenAIGPT{suffix}")
        model, info = cls.from_pretrained(TINY / directory, output_loading_info=True, **kwargs)
        stored = safetensors.numpy.load_file(TINY / directory / "model.safetensors")
        own = model.state_dict()
        prefix = model.base_model_prefix + "."
        # The file's names are the head models' (transformer.*); the base model's lack the prefix.
        in_file = lambda name: stored[name] if name in stored else stored[prefix + name]
        part["loading_info"][case] = {
            "class": suffix,
            "directory": directory,
            "kwargs": kwargs,
            "missing_keys": sorted(info["missing_keys"]),
            "unexpected_keys": sorted(info["unexpected_keys"]),
            "mismatched_keys": sorted(
                [name, list(in_file(name).shape), list(own[name].shape)] for name in info["mismatched_keys"]
            ),
            "error_msgs": list(info["error_msgs"]),
            "num_labels": model.config.num_labels,
        }
    for case, suffix, directory, kwargs in REFUSED_CASES:
        try:
            getattr(transformers, f"OpenAIGPT{suffix}").from_pretrained(TINY / directory, **kwargs)
        except Exception as error:  # noqa: BLE001 - what the reference raises is the record
            part["refused"][case] = type(error).__name__

    defaults = PretrainedConfig().to_dict()
    for key in ("model_type", "transformers_version", "_name_or_path"):
        defaults.pop(key)
    part["common_defaults"] = defaults
    config, unused = OpenAIGPTConfig.from_pretrained(TINY / "lm", return_unused_kwargs=True, **UNUSED_KWARGS)
    part["unused_kwargs"] = {
        "given": UNUSED_KWARGS,
        "unused": unused,
        "set": {name: getattr(config, name) for name in ("output_attentions", "num_labels", "torchscript")},
    }
    part["diff_dict_keys"] = {
        "default": sorted(OpenAIGPTConfig().to_diff_dict()),
        "output_attentions": sorted(OpenAIGPTConfig(output_attentions=True).to_diff_dict()),
        "three_labels": sorted(OpenAIGPTConfig(num_labels=3).to_diff_dict()),
    }
    part["use_return_dict"] = [
        [return_dict, torchscript, OpenAIGPTConfig(return_dict=return_dict, torchscript=torchscript).use_return_dict]
        for return_dict in (True, False)
        for torchscript in (True, False)
    ]
    config = OpenAIGPTConfig()
    config.update({"n_embd": 96, "output_hidden_states": True, "brand_new": 3})
    part["update"] = {"n_embd": config.n_embd, "output_hidden_states": config.output_hidden_states, "brand_new": config.brand_new}
    model = transformers.OpenAIGPTLMHeadModel.from_pretrained(TINY / "lm")
    embedding = model.resize_token_embeddings(None)
    part["resize_none"] = {"returns_input_embeddings": embedding is model.get_input_embeddings(), "rows": embedding.weight.shape[0]}
    return part


def tensorflow_part():
    import transformers

    model = transformers.TFOpenAIGPTLMHeadModel.from_pretrained(TINY / "lm", use_safetensors=False)
    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory, saved_model=True)
        written = sorted(str(path.relative_to(directory)) for path in Path(directory).rglob("*") if "variables" not in path.parts)
    returned = {}
    for size in (None, model.config.vocab_size, model.config.vocab_size + 3):
        result = model.resize_token_embeddings(size)
        returned[str(size)] = "input embeddings layer" if result is model.get_input_embeddings() else type(result).__name__
    return {"transformers": transformers.__version__, "save_pretrained_saved_model": written, "resize_token_embeddings": returned}


def main():
    try:
        import torch  # noqa: F401

        name, part = "pytorch", pytorch_part()
    except ImportError:
        name, part = "tensorflow", tensorflow_part()
    fixtures = json.loads(OUTPUT.read_text()) if OUTPUT.is_file() else {}
    fixtures[name] = part
    OUTPUT.write_text(json.dumps(fixtures, indent=1, sort_keys=True) + "\n")
    print(f"wrote the {name} part of {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
