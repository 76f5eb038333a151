"""Records the reference's `generation_config.json` files for tests/test_models_generation_files.py.

Run by hand with the PyTorch reference's venv (the project and its tests never import it):

    /work/refvenv/bin/python tests/fixtures_tools/make_reference_generation_config_fixtures.py

It writes tests/fixtures/reference_generation_config.json: for tiny LM models whose configs have no
special-token ids and have them, the file the reference's `save_pretrained` writes (parsed), and the
file it writes after the user sets options on `model.generation_config` (which a gpt_keras model must
read, ignoring the fields it has no option for).
"""
import json
import tempfile
from pathlib import Path

from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

OUTPUT = Path(__file__).resolve().parent.parent / "fixtures" / "reference_generation_config.json"
SIZES = dict(n_layer=1, n_embd=8, n_head=2, vocab_size=20, n_positions=16)
CASES = {
    "no_token_ids": ({}, {}),
    "token_ids": (dict(bos_token_id=1, eos_token_id=2, pad_token_id=3), {}),
    "options_set": (
        dict(bos_token_id=1, eos_token_id=2, pad_token_id=3),
        dict(max_new_tokens=7, do_sample=True, top_k=5, eos_token_id=[2, 4], decoder_start_token_id=1),
    ),
}


def saved_file(config_fields, options):
    model = OpenAIGPTLMHeadModel(OpenAIGPTConfig(**SIZES, **config_fields))
    for name, value in options.items():
        setattr(model.generation_config, name, value)
    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory)
        return json.loads((Path(directory) / "generation_config.json").read_text())


def main():
    cases = {
        name: {"config": fields, "options": options, "file": saved_file(fields, options)}
        for name, (fields, options) in CASES.items()
    }
    OUTPUT.write_text(json.dumps({"sizes": SIZES, "cases": cases}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
