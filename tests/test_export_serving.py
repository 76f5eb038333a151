"""Exported SavedModels served without gpt_keras: every model class, both signatures, bad requests, load.

The fixture models are exported once; one fresh Python process (isolated mode, cwd outside the repository,
gpt_keras blocked on import) loads them with `tf.saved_model.load` and runs every request of a plan,
writing outputs and errors back. The tests compare those with our Keras models run here.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from text_serving import REFUSE_GPT_KERAS

from gpt_keras import (
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)
from gpt_keras.export import export_saved_model

LM_MAX_LENGTH, LM_MAX_NEW_TOKENS = 48, 24  # prompts up to 24 tokens
NEW_TOKENS = 20  # the fixture's greedy continuations are 20 tokens long
THREADS, REQUESTS_PER_THREAD = 8, 50
SAMPLING = dict(temperature=0.8, top_k=50, top_p=0.9)

# Runs in the fresh process: no gpt_keras (a meta-path hook refuses it before anything is imported).
SERVING_PROCESS = REFUSE_GPT_KERAS + textwrap.dedent(
    """
    report = {}
    try:
        import gpt_keras  # noqa: F401
        report["import_gpt_keras"] = "imported"
    except ModuleNotFoundError as error:
        report["import_gpt_keras"] = type(error).__name__

    import json
    import threading

    import numpy as np
    import tensorflow as tf

    plan = json.load(open(sys.argv[1]))
    arrays = dict(np.load(plan["arrays"]))
    models = {name: tf.saved_model.load(path) for name, path in plan["exports"].items()}
    report["signatures"] = {name: sorted(model.signatures) for name, model in models.items()}


    def call(request):
        function = models[request["export"]].signatures[request["signature"]]
        outputs = function(**{name: tf.constant(arrays[key]) for name, key in request["inputs"].items()})
        return {name: value.numpy() for name, value in outputs.items()}


    results, report["requests"] = {}, {}
    for name, request in plan["requests"].items():
        try:
            outputs = call(request)
        except Exception as error:  # noqa: BLE001  (the test reads which error)
            report["requests"][name] = {"error": type(error).__name__, "message": str(error)[:400]}
        else:
            report["requests"][name] = "ok"
            results.update({f"{name}/{key}": value for key, value in outputs.items()})

    load = plan["load"]
    first = {name: call(plan["requests"][name]) for name in load["requests"]}
    errors, mismatches = [], []


    def worker(index):
        for i in range(load["requests_per_thread"]):
            name = load["requests"][(index + i) % len(load["requests"])]
            try:
                outputs = call(plan["requests"][name])
            except Exception as error:  # noqa: BLE001
                errors.append(f"{name}: {type(error).__name__}: {error}"[:300])
                continue
            if any(not np.array_equal(outputs[key], first[name][key]) for key in first[name]):
                mismatches.append(name)


    threads = [threading.Thread(target=worker, args=(i,)) for i in range(load["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    completed = load["threads"] * load["requests_per_thread"]
    report["load"] = {"errors": errors, "mismatches": mismatches, "completed": completed}
    report["gpt_keras_modules"] = sorted(name for name in sys.modules if name.partition(".")[0] == "gpt_keras")
    np.savez(plan["results"], **results)
    json.dump(report, open(plan["report"], "w"))
    """
)


def _fixture_prompts(expected):
    """The fixture's three generation prompts, right-padded into one batch."""
    prompts = [expected[f"gen.prompt.{k}"] for k in range(3)]
    width = max(len(p) for p in prompts)
    ids = np.zeros((3, width), np.int32)
    mask = np.zeros((3, width), np.int32)
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = prompt
        mask[row, : len(prompt)] = 1
    return ids, mask


def _controls(prefix, max_new_tokens=NEW_TOKENS, temperature=1.0, top_k=0, top_p=1.0, seed=0, do_sample=False):
    return {
        f"{prefix}.max_new_tokens": np.array(max_new_tokens, np.int32),
        f"{prefix}.temperature": np.array(temperature, np.float32),
        f"{prefix}.top_k": np.array(top_k, np.int32),
        f"{prefix}.top_p": np.array(top_p, np.float32),
        f"{prefix}.seed": np.array(seed, np.int32),
        f"{prefix}.do_sample": np.array(do_sample),
    }


def _generate_request(export, ids_key, mask_key, prefix):
    names = ("max_new_tokens", "temperature", "top_k", "top_p", "seed", "do_sample")
    return {
        "export": export,
        "signature": "generate",
        "inputs": {"input_ids": ids_key, "attention_mask": mask_key, **{name: f"{prefix}.{name}" for name in names}},
    }


def _forward_request(export, **inputs):
    return {"export": export, "signature": "serving_default", "inputs": inputs}


@pytest.fixture(scope="module")
def models(tiny_dir):
    return {
        "lm": TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm"),
        "base": TFOpenAIGPTModel.from_pretrained(tiny_dir / "lm"),
        "double_heads": TFOpenAIGPTDoubleHeadsModel.from_pretrained(tiny_dir / "double-heads"),
        "seq_cls": TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls"),
    }


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return {
        "lm": export_saved_model(models["lm"], root / "lm", max_length=LM_MAX_LENGTH, max_new_tokens=LM_MAX_NEW_TOKENS),
        "base": export_saved_model(models["base"], root / "base"),
        "double_heads": export_saved_model(
            models["double_heads"], root / "double_heads", max_length=16, max_new_tokens=8
        ),
        "seq_cls": export_saved_model(models["seq_cls"], root / "seq_cls"),
    }


@pytest.fixture(scope="module")
def arrays(expected):
    ids, mask = _fixture_prompts(expected)
    dh_ids = expected["dh.input_ids"].astype(np.int32)
    dh_mask = np.ones_like(dh_ids)
    dh_mask[0, 1, 7:] = 0
    sc_ids = expected["sc.input_ids"].astype(np.int32)
    arrays = {
        "ids": expected["input_ids"].astype(np.int32),
        "mask": expected["attention_mask"].astype(np.int32),
        "prompt_ids": ids,
        "prompt_mask": mask,
        "dh_ids": dh_ids,
        "dh_mask": dh_mask,
        "dh_mc": expected["dh.mc_token_ids"].astype(np.int32),
        "dh_prompt_ids": ids[:, :5],
        "dh_prompt_mask": mask[:, :5],
        "sc_ids": sc_ids,
        "sc_mask": (sc_ids != 0).astype(np.int32),
        # Bad requests.
        "float_ids": expected["input_ids"].astype(np.float32),
        "rank3_ids": expected["input_ids"].astype(np.int32)[None],
        "ids_too_large": np.where(np.arange(12) == 4, 1000, expected["input_ids"]).astype(np.int32),
        "ids_negative": np.where(np.arange(12) == 0, -1, expected["input_ids"]).astype(np.int32),
        "prompt_too_large": np.where(np.arange(ids.shape[1]) == 1, 1000, ids).astype(np.int32),
        "too_wide": np.ones((1, LM_MAX_LENGTH - LM_MAX_NEW_TOKENS + 1), np.int32),
        "dh_mc_too_large": np.full((2, 3), 10, np.int32),
        "empty_row_mask": np.where(np.arange(3)[:, None] == 1, 0, mask).astype(np.int32),
        "float_max_new_tokens": np.array(4.0, np.float32),
        "vector_seed": np.array([1, 2], np.int32),
    }
    arrays.update(_controls("greedy"))
    arrays.update(_controls("sample", do_sample=True, seed=7, **SAMPLING))
    arrays.update(_controls("sample_other_seed", do_sample=True, seed=8, **SAMPLING))
    arrays.update(_controls("sample_negative_seed", do_sample=True, seed=-3, **SAMPLING))
    arrays.update(_controls("too_many", max_new_tokens=LM_MAX_NEW_TOKENS + 1))
    arrays.update(_controls("dh", max_new_tokens=8))
    arrays.update(_controls("zero_temperature", do_sample=True, temperature=0.0))
    return arrays


@pytest.fixture(scope="module")
def served(exports, arrays, tmp_path_factory):
    """Runs every request in one fresh process; returns (report, results)."""
    work = tmp_path_factory.mktemp("serving_process")
    np.savez(work / "arrays.npz", **arrays)
    requests = {
        "lm_forward": _forward_request("lm", input_ids="ids", attention_mask="mask"),
        "base_forward": _forward_request("base", input_ids="ids", attention_mask="mask"),
        "seq_cls_forward": _forward_request("seq_cls", input_ids="sc_ids", attention_mask="sc_mask"),
        "double_heads_forward": _forward_request(
            "double_heads", input_ids="dh_ids", attention_mask="dh_mask", mc_token_ids="dh_mc"
        ),
        "lm_greedy": _generate_request("lm", "prompt_ids", "prompt_mask", "greedy"),
        "lm_sample": _generate_request("lm", "prompt_ids", "prompt_mask", "sample"),
        "lm_sample_other_seed": _generate_request("lm", "prompt_ids", "prompt_mask", "sample_other_seed"),
        "lm_sample_negative_seed": _generate_request("lm", "prompt_ids", "prompt_mask", "sample_negative_seed"),
        "double_heads_greedy": _generate_request("double_heads", "dh_prompt_ids", "dh_prompt_mask", "dh"),
        # Bad requests: each must fail.
        "bad_forward_float_ids": _forward_request("lm", input_ids="float_ids", attention_mask="mask"),
        "bad_forward_rank3_ids": _forward_request("lm", input_ids="rank3_ids", attention_mask="mask"),
        "bad_forward_id_too_large": _forward_request("lm", input_ids="ids_too_large", attention_mask="mask"),
        "bad_forward_negative_id": _forward_request("lm", input_ids="ids_negative", attention_mask="mask"),
        "bad_forward_mask_shape": _forward_request("lm", input_ids="ids", attention_mask="prompt_mask"),
        "bad_forward_mc_token_ids": _forward_request(
            "double_heads", input_ids="dh_ids", attention_mask="dh_mask", mc_token_ids="dh_mc_too_large"
        ),
        "bad_generate_id_too_large": _generate_request("lm", "prompt_too_large", "prompt_mask", "greedy"),
        "bad_generate_too_many_new_tokens": _generate_request("lm", "prompt_ids", "prompt_mask", "too_many"),
        "bad_generate_too_wide": _generate_request("lm", "too_wide", "too_wide", "greedy"),
        "bad_generate_rank3_ids": _generate_request("lm", "rank3_ids", "rank3_ids", "greedy"),
        "bad_generate_empty_prompt": _generate_request("lm", "prompt_ids", "empty_row_mask", "greedy"),
        "bad_generate_zero_temperature": _generate_request("lm", "prompt_ids", "prompt_mask", "zero_temperature"),
    }
    bad_max_new = _generate_request("lm", "prompt_ids", "prompt_mask", "greedy")
    bad_max_new["inputs"]["max_new_tokens"] = "float_max_new_tokens"
    requests["bad_generate_float_max_new_tokens"] = bad_max_new
    bad_seed = _generate_request("lm", "prompt_ids", "prompt_mask", "greedy")
    bad_seed["inputs"]["seed"] = "vector_seed"
    requests["bad_generate_vector_seed"] = bad_seed
    plan = {
        "arrays": str(work / "arrays.npz"),
        "exports": {name: str(path) for name, path in exports.items()},
        "requests": requests,
        "load": {
            "requests": ["lm_greedy", "lm_forward"],
            "threads": THREADS,
            "requests_per_thread": REQUESTS_PER_THREAD,
        },
        "results": str(work / "results.npz"),
        "report": str(work / "report.json"),
    }
    (work / "plan.json").write_text(json.dumps(plan))
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME")}
    process = subprocess.run(
        [sys.executable, "-I", "-c", SERVING_PROCESS, str(work / "plan.json")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    report = json.loads((work / "report.json").read_text())
    with np.load(work / "results.npz") as data:
        results = {key: data[key] for key in data.files}
    return report, results


def _ok(report, name):
    assert report["requests"][name] == "ok", f"{name}: {report['requests'][name]}"


def test_the_serving_process_cannot_import_gpt_keras(served, exports):
    report, _ = served
    assert report["import_gpt_keras"] == "ModuleNotFoundError"
    assert report["gpt_keras_modules"] == []
    assert report["signatures"] == {
        "lm": ["generate", "serving_default"],
        "base": ["serving_default"],
        "double_heads": ["generate", "serving_default"],
        "seq_cls": ["serving_default"],
    }


@pytest.mark.parametrize(
    "name, ids, mask, extra, outputs",
    [
        ("lm", "ids", "mask", {}, ["logits"]),
        ("base", "ids", "mask", {}, ["last_hidden_state"]),
        ("double_heads", "dh_ids", "dh_mask", {"mc_token_ids": "dh_mc"}, ["mc_logits"]),
        ("seq_cls", "sc_ids", "sc_mask", {}, ["logits", "probabilities"]),
    ],
)
def test_forward_signature_equals_the_keras_model(served, models, arrays, name, ids, mask, extra, outputs):
    report, results = served
    _ok(report, f"{name}_forward")
    model = models[name]
    inputs = {"input_ids": arrays[ids], "attention_mask": arrays[mask]}
    inputs.update({key: arrays[value] for key, value in extra.items()})
    # As `predict` runs the model: traced. (Eager kernels round differently, by up to ~2e-5 on padded rows.)
    expected = dict(tf.function(lambda inputs: model(**inputs))(inputs))
    if "probabilities" in outputs:
        logits = expected["logits"].numpy()
        expected["probabilities"] = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert sorted(key.split("/")[1] for key in results if key.startswith(f"{name}_forward/")) == outputs
    for output in outputs:
        got = results[f"{name}_forward/{output}"]
        want = np.asarray(expected[output])
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{name}: {output}")


def test_greedy_generate_equals_model_generate_and_the_reference(served, models, arrays, expected):
    report, results = served
    _ok(report, "lm_greedy")
    sequences = results["lm_greedy/sequences"]
    want = models["lm"].generate(arrays["prompt_ids"], arrays["prompt_mask"], max_new_tokens=NEW_TOKENS).numpy()
    assert sequences.dtype == np.int32
    np.testing.assert_array_equal(sequences, want)
    width = arrays["prompt_ids"].shape[1]
    for row in range(3):
        prompt_length = len(expected[f"gen.prompt.{row}"])
        np.testing.assert_array_equal(sequences[row, width:], expected[f"gen.greedy.{row}"][prompt_length:])


@pytest.mark.parametrize(
    "request_name, seed", [("lm_sample", 7), ("lm_sample_other_seed", 8), ("lm_sample_negative_seed", -3)]
)
def test_seeded_sampling_equals_model_generate(served, models, arrays, request_name, seed):
    report, results = served
    _ok(report, request_name)
    want = models["lm"].generate(
        arrays["prompt_ids"], arrays["prompt_mask"], max_new_tokens=NEW_TOKENS, do_sample=True, seed=seed, **SAMPLING
    ).numpy()
    np.testing.assert_array_equal(results[f"{request_name}/sequences"], want)


def test_the_seed_changes_the_samples(served):
    _, results = served
    assert not np.array_equal(results["lm_sample/sequences"], results["lm_sample_other_seed/sequences"])


def test_double_heads_generate_equals_model_generate(served, models, arrays):
    report, results = served
    _ok(report, "double_heads_greedy")
    want = models["double_heads"].generate(arrays["dh_prompt_ids"], arrays["dh_prompt_mask"], max_new_tokens=8).numpy()
    np.testing.assert_array_equal(results["double_heads_greedy/sequences"], want)


def test_concurrent_requests_are_deterministic(served):
    report, results = served
    load = report["load"]
    assert load["errors"] == []
    assert load["mismatches"] == []
    assert load["completed"] == THREADS * REQUESTS_PER_THREAD


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("bad_forward_float_ids", None, None),
        ("bad_forward_rank3_ids", None, None),
        ("bad_generate_float_max_new_tokens", None, None),
        ("bad_generate_vector_seed", None, None),
        ("bad_generate_rank3_ids", None, None),
        ("bad_forward_id_too_large", "InvalidArgumentError", "input_ids must be < 1000"),
        ("bad_forward_negative_id", "InvalidArgumentError", "input_ids must be >= 0"),
        ("bad_forward_mask_shape", "InvalidArgumentError", "attention_mask must have the shape of input_ids"),
        ("bad_forward_mc_token_ids", "InvalidArgumentError", "mc_token_ids must be < the sequence length"),
        ("bad_generate_id_too_large", "InvalidArgumentError", "input_ids must be < 1000"),
        ("bad_generate_too_many_new_tokens", "InvalidArgumentError", f"max_new_tokens must be <= {LM_MAX_NEW_TOKENS}"),
        ("bad_generate_too_wide", "InvalidArgumentError", "input_ids is wider than the exported maximum prompt"),
        ("bad_generate_empty_prompt", "InvalidArgumentError", "every prompt needs at least one real token"),
        ("bad_generate_zero_temperature", "InvalidArgumentError", "temperature must be > 0 when do_sample is true"),
    ],
)
def test_bad_requests_are_refused(served, name, error, message):
    report, _ = served
    outcome = report["requests"][name]
    assert outcome != "ok", f"{name} was served"
    if error is not None:
        assert outcome["error"] == error, outcome
        assert message in outcome["message"], outcome


def _saved_model_cli(directory):
    process = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", str(directory), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    signatures = {}
    for block in re.split(r"\nsignature_def\['", process.stdout)[1:]:
        name = block.split("'", 1)[0]
        inputs = {key: value for key, value in re.findall(r"inputs\['(\w+)'\] tensor_info:\s+dtype: (\w+)", block)}
        shapes = dict(re.findall(r"inputs\['(\w+)'\] tensor_info:\s+dtype: \w+\s+shape: (\([^)]*\))", block))
        outputs = re.findall(r"outputs\['(\w+)'\]", block)
        signatures[name] = {"inputs": inputs, "shapes": shapes, "outputs": outputs}
    return signatures


def test_saved_model_cli_lists_named_int32_inputs_with_dynamic_dims(exports):
    signatures = _saved_model_cli(exports["lm"])
    assert signatures["serving_default"]["inputs"] == {"input_ids": "DT_INT32", "attention_mask": "DT_INT32"}
    assert signatures["serving_default"]["shapes"] == {"input_ids": "(-1, -1)", "attention_mask": "(-1, -1)"}
    assert signatures["serving_default"]["outputs"] == ["logits"]
    generate = signatures["generate"]
    assert generate["inputs"] == {
        "attention_mask": "DT_INT32",
        "do_sample": "DT_BOOL",
        "input_ids": "DT_INT32",
        "max_new_tokens": "DT_INT32",
        "seed": "DT_INT32",
        "temperature": "DT_FLOAT",
        "top_k": "DT_INT32",
        "top_p": "DT_FLOAT",
    }
    assert generate["shapes"]["input_ids"] == generate["shapes"]["attention_mask"] == "(-1, -1)"
    controls = ("max_new_tokens", "temperature", "top_k", "top_p", "seed", "do_sample")
    assert {generate["shapes"][name] for name in controls} == {"()"}
    assert generate["outputs"] == ["sequences"]
