"""Records the reference's `generate` results for tests/test_generation_migration.py.

Run by hand, in a separate venv that has the reference (never in the project's own environment: the
project and its tests import neither transformers nor torch):

    python3 -m venv /work/refvenv
    /work/refvenv/bin/pip install transformers==4.57.6 torch numpy
    GPTK_SHARED=/path/to/shared /work/refvenv/bin/python tests/fixtures_tools/make_reference_generation_fixtures.py

It writes tests/fixtures/reference_generation.json: for each case, the prompts (one prompt, or rows of
one width: the reference counts padding as positions, so padded batches are compared with these
one-prompt results instead), the keywords of `generate`, and what the reference returned: `sequences`,
and with `return_dict_in_generate` the per-step `scores` / `logits` (float32, packed in base64),
`sequences_scores` and `beam_indices`. `defaults` holds the reference's default generation options and
which model classes can generate.
"""
import base64
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import (
    GenerationConfig,
    OpenAIGPTDoubleHeadsModel,
    OpenAIGPTForSequenceClassification,
    OpenAIGPTLMHeadModel,
    OpenAIGPTModel,
)

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "fixtures" / "reference_generation.json"
TINY = Path(os.environ.get("GPTK_SHARED", HERE.parents[2] / "shared")) / "fixtures" / "tiny-openai-gpt"

MIXED_BAD_WORDS = [[55, 55], [737, 155], [380, 171, 55], [361]]

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()


def packed(tensors):
    """Per-step (rows, vocab) float32 tensors, exactly, as {"shape": [steps, rows, vocab], "float32_le_base64"}."""
    array = np.stack([t.numpy() for t in tensors]).astype("<f4")
    return {"shape": list(array.shape), "float32_le_base64": base64.b64encode(array.tobytes()).decode("ascii")}


def run(model, prompts, kwargs):
    """One case: the reference's outputs of `model.generate(prompts, **kwargs)`."""
    input_ids = torch.tensor(prompts)
    with torch.no_grad():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
    case = {"prompts": prompts, "kwargs": kwargs}
    if not kwargs.get("return_dict_in_generate"):
        case["sequences"] = out.tolist()
        return case
    case["sequences"] = out.sequences.tolist()
    for name in ("scores", "logits"):
        if getattr(out, name, None) is not None:
            case[name] = packed(getattr(out, name))
    if getattr(out, "sequences_scores", None) is not None:
        case["sequences_scores"] = out.sequences_scores.tolist()
    if getattr(out, "beam_indices", None) is not None:
        case["beam_indices"] = out.beam_indices.tolist()
    return case


def new_tokens(case):
    return [row[len(case["prompts"][0]) :] for row in case["sequences"]]


def main():
    expected = np.load(TINY / "expected.npz")
    prompt = [expected[f"gen.prompt.{k}"].tolist() for k in range(3)]
    model = OpenAIGPTLMHeadModel.from_pretrained(TINY / "lm").eval()
    greedy = [expected[f"gen.greedy.{k}"].tolist()[len(prompt[k]) :] for k in range(3)]
    # Greedy paths: prompt 0 -> 55 55 574 737 574 55 ..., prompt 1 -> 737 155 361 517 155 ...
    cases = {
        # Single tokens: never generated.
        "bad_words.single": run(model, [prompt[0]], dict(max_new_tokens=12, bad_words_ids=[[55], [737]])),
        # Two tokens: 55 is banned right after a 55.
        "bad_words.pair": run(model, [prompt[0]], dict(max_new_tokens=12, bad_words_ids=[[55, 55]])),
        # A prefix in the prompt: the prompt ends with 380 171, so 55 is banned at the first step only.
        "bad_words.prompt_prefix": run(model, [prompt[0]], dict(max_new_tokens=12, bad_words_ids=[[380, 171, 55]])),
        "bad_words.prompt1": run(model, [prompt[1]], dict(max_new_tokens=12, bad_words_ids=[[737, 155], [361]])),
        # A bad word equal to [eos] is dropped: EOS still ends the row.
        "bad_words.eos": run(
            model, [prompt[0]], dict(max_new_tokens=12, eos_token_id=737, bad_words_ids=[[737], [574]])
        ),
        # One set of bad words for prompts 0 and 1, which the tests also batch with padding.
        **{
            f"bad_words.mixed.{k}": run(model, [prompt[k]], dict(max_new_tokens=10, bad_words_ids=MIXED_BAD_WORDS))
            for k in (0, 1)
        },
        "bad_words.beam": run(
            model, [prompt[2]], dict(max_new_tokens=10, num_beams=3, bad_words_ids=[[365], [786, 209]])
        ),
        # min_length counts the prompt: 5 prompt tokens + 6 new.
        "min_length.prompt0": run(model, [prompt[0]], dict(max_new_tokens=12, eos_token_id=737, min_length=11)),
        # The same width-11 bound for a 3-token prompt left-padded to width 5: 6 new tokens, i.e.
        # min_length 9 alone.
        "min_length.prompt1": run(model, [prompt[1]], dict(max_new_tokens=12, eos_token_id=737, min_length=9)),
        "min_length.shorter_than_prompt": run(
            model, [prompt[0]], dict(max_new_tokens=12, eos_token_id=737, min_length=3)
        ),
        "min_length.beam": run(
            model, [prompt[1]], dict(max_new_tokens=10, num_beams=3, eos_token_id=155, min_length=8)
        ),
        "min_new_tokens": run(model, [prompt[1]], dict(max_new_tokens=12, eos_token_id=155, min_new_tokens=4)),
        # min_new_tokens takes precedence over min_length.
        "min_new_tokens.over_min_length": run(
            model, [prompt[0]], dict(max_new_tokens=12, eos_token_id=737, min_length=20, min_new_tokens=1)
        ),
        "scores.greedy": run(
            model,
            [prompt[0]],
            dict(max_new_tokens=5, return_dict_in_generate=True, output_scores=True, output_logits=True),
        ),
        "scores.greedy.prompt1": run(
            model, [prompt[1]], dict(max_new_tokens=5, return_dict_in_generate=True, output_scores=True)
        ),
        # Processed scores: the banned tokens and early EOS are -inf.
        "scores.greedy.processed": run(
            model,
            [prompt[1]],
            dict(
                max_new_tokens=5,
                bad_words_ids=[[361], [737, 155]],
                eos_token_id=517,
                min_new_tokens=4,
                repetition_penalty=1.3,
                return_dict_in_generate=True,
                output_scores=True,
            ),
        ),
        # Rows of one width; row 0 ends at its first new token (737), then is fed the pad id: its later
        # scores are those of the model reading the pad.
        "scores.greedy.batch": run(
            model,
            [prompt[1], [979, 976, 987]],
            dict(max_new_tokens=4, eos_token_id=737, pad_token_id=3, return_dict_in_generate=True, output_scores=True),
        ),
        "scores.beam": run(
            model,
            [prompt[2]],
            dict(max_new_tokens=5, num_beams=2, return_dict_in_generate=True, output_scores=True),
        ),
        "scores.beam.prompt1": run(
            model,
            [prompt[1]],
            dict(max_new_tokens=5, num_beams=2, return_dict_in_generate=True, output_scores=True),
        ),
        "scores.beam.returned": run(
            model,
            [prompt[1]],
            dict(
                max_new_tokens=5,
                num_beams=3,
                num_return_sequences=2,
                eos_token_id=155,
                bad_words_ids=[[374]],
                return_dict_in_generate=True,
                output_scores=True,
            ),
        ),
        # Without output_scores: sequences and beam_indices only.
        "beam.dict_without_scores": run(
            model, [prompt[0]], dict(max_new_tokens=6, num_beams=2, return_dict_in_generate=True)
        ),
        # No length given: 20 new tokens (capped at n_positions), whatever the prompt's length.
        "default_length": run(model, [prompt[2]], {}),
        "default_length.capped": run(model, [list(range(100, 150))], {}),
    }
    batch = new_tokens(cases["scores.greedy.batch"])
    assert batch[0][0] == 737 and 737 not in batch[1], "scores.greedy.batch: row 0 alone should end early"
    for name in ("bad_words.single", "bad_words.pair", "min_length.prompt0", "min_new_tokens"):
        k = cases[name]["prompts"][0] == prompt[1] and 1 or 0
        got = new_tokens(cases[name])[0]
        assert got != greedy[k][: len(got)], f"{name} does not change the greedy path"
    defaults = GenerationConfig()
    classes = {
        "TFOpenAIGPTLMHeadModel": (OpenAIGPTLMHeadModel, "lm"),
        "TFOpenAIGPTDoubleHeadsModel": (OpenAIGPTDoubleHeadsModel, "double-heads"),
        "TFOpenAIGPTModel": (OpenAIGPTModel, "lm"),
        "TFOpenAIGPTForSequenceClassification": (OpenAIGPTForSequenceClassification, "seq-cls"),
    }
    can_generate = {ours: reference.can_generate() for ours, (reference, _) in classes.items()}
    has_generation_config = {
        ours: reference.from_pretrained(TINY / folder).generation_config is not None
        for ours, (reference, folder) in classes.items()
    }
    fixture = {
        "transformers_version": transformers.__version__,
        "defaults": {
            "top_k": defaults.top_k,
            "max_length": defaults.max_length,
            "min_length": defaults.min_length,
            "use_cache": defaults.use_cache,
            "can_generate": can_generate,
            "has_generation_config": has_generation_config,
        },
        "cases": cases,
    }
    # One line per case keeps the file small and its diffs readable.
    lines = [f"{json.dumps(name)}: {json.dumps(case)}" for name, case in cases.items()]
    head = json.dumps({key: value for key, value in fixture.items() if key != "cases"}, indent=1)[:-2]
    OUTPUT.write_text(head + ',\n "cases": {\n  ' + ",\n  ".join(lines) + "\n }\n}\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUTPUT}")


if __name__ == "__main__":
    main()
