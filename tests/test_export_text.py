"""The text signatures of the export (tokenize, generate_text, classify_text, score_choices), served by a
fresh process that cannot import gpt_keras: equal to the Python path on the fixture models (greedy and
seeded sampling), bad requests refused, 8 threads x 50 mixed requests answered as one thread answers."""
import base64
import json
import subprocess
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from gpt_keras import TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification, TFOpenAIGPTLMHeadModel
from gpt_keras.decoding.text import encode_prompts
from gpt_keras.export import METADATA_FILE, export_saved_model
from gpt_keras.tokenization import OpenAIGPTTokenizer
from text_serving import isolated_python, learn_tokenizer

LM_MAX_LENGTH, LM_MAX_NEW_TOKENS = 64, 24  # prompts of up to 40 tokens; longer ones keep their last 40
DH_MAX_LENGTH, DH_MAX_NEW_TOKENS = 32, 8  # prompts of up to 24 tokens; longer ones are refused
THREADS, REQUESTS_PER_THREAD = 8, 50
SAMPLING = dict(temperature=0.8, top_k=50, top_p=0.9)
PROMPTS = ["The quick brown fox", "Hello, world! Où est-il?", "a"]
LONG_PROMPT = " ".join(["she looked at the door and said nothing."] * 8)
TEXTS = ["I loved it.", "Not good at all, I'm afraid", "meh"]
CONTEXTS = ["Karen was assigned a roommate her first year of college. " * 6, "It rained all day."]
ENDINGS = [["Karen became good friends with her roommate.", "Karen hated her roommate."], ["We stayed in.", "Sun!"]]

# Runs in the fresh process: no gpt_keras (refused on import), every request once, then the load.
SERVING_PROCESS = textwrap.dedent(
    """
    import base64, json, threading

    import numpy as np
    import tensorflow as tf

    plan = json.load(open(sys.argv[1]))
    models = {name: tf.saved_model.load(path) for name, path in plan["exports"].items()}


    def tensor(value):
        if value["dtype"] == "string":
            return tf.constant(np.array([base64.b64decode(v) for v in np.ravel(value["value"])], object).reshape(value["shape"]))
        return tf.constant(value["value"], value["dtype"])


    def call(request):
        outputs = models[request["export"]].signatures[request["signature"]](
            **{name: tensor(value) for name, value in request["inputs"].items()}
        )
        return {
            name: [base64.b64encode(v).decode() for v in out.numpy().ravel()] if out.dtype == tf.string else out.numpy().tolist()
            for name, out in outputs.items()
        }


    report = {"signatures": {name: sorted(model.signatures) for name, model in models.items()}, "requests": {}}
    for name, request in plan["requests"].items():
        try:
            report["requests"][name] = {"outputs": call(request)}
        except Exception as error:  # noqa: BLE001  (the test reads which error)
            report["requests"][name] = {"error": type(error).__name__, "message": str(error)[:600]}
    names, mismatches, unexpected = plan["load"], [], []


    def worker(index):
        for i in range(plan["requests_per_thread"]):
            name = names[(index + i) % len(names)]
            first = report["requests"][name]
            try:
                outputs = call(plan["requests"][name])
            except Exception as error:  # noqa: BLE001
                if "error" not in first:
                    unexpected.append(f"{name}: {type(error).__name__}: {error}"[:300])
                continue
            if outputs != first.get("outputs"):
                mismatches.append(name)


    threads = [threading.Thread(target=worker, args=(i,)) for i in range(plan["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report["load"] = {"mismatches": mismatches, "unexpected": unexpected}
    report["gpt_keras_modules"] = sorted(name for name in sys.modules if name.partition(".")[0] == "gpt_keras")
    json.dump(report, open(plan["report"], "w"))
    """
)


def _strings(values):
    array = np.asarray(values, dtype=object)
    encoded = [base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode() for v in array.ravel()]
    return {"dtype": "string", "shape": list(array.shape), "value": encoded}


def _controls(max_new_tokens=20, temperature=1.0, top_k=0, top_p=1.0, seed=0, do_sample=False):
    dtypes = dict(max_new_tokens="int32", temperature="float32", top_k="int32", top_p="float32", seed="int32", do_sample="bool")
    values = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, do_sample=do_sample)
    return {name: {"dtype": dtypes[name], "value": value} for name, value in values.items()}


def _generate_text(export, prompts, **controls):
    return {"export": export, "signature": "generate_text", "inputs": {"prompts": _strings(prompts), **_controls(**controls)}}


def _request(export, signature, **inputs):
    return {"export": export, "signature": signature, "inputs": {name: _strings(value) for name, value in inputs.items()}}


@pytest.fixture(scope="module")
def tokenizer_dir(shared_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    learn_tokenizer(shared_dir, 990, directory)
    return directory


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    tokenizer = OpenAIGPTTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.add_paper_special_tokens()  # 994 ids
    return tokenizer


@pytest.fixture(scope="module")
def models(tiny_dir):
    return {
        "lm": TFOpenAIGPTLMHeadModel.from_pretrained(tiny_dir / "lm"),
        "double_heads": TFOpenAIGPTDoubleHeadsModel.from_pretrained(tiny_dir / "double-heads"),
        "seq_cls": TFOpenAIGPTForSequenceClassification.from_pretrained(tiny_dir / "seq-cls"),
    }


@pytest.fixture(scope="module")
def eos_token_id(models, tokenizer):
    """An id the greedy continuation of the first prompt emits after a few tokens: completions end there."""
    input_ids, attention_mask = encode_prompts(tokenizer, PROMPTS)
    sequences = models["lm"].generate(input_ids, attention_mask, max_new_tokens=20).numpy()
    return int(sequences[0, input_ids.shape[1] + 5])


@pytest.fixture(scope="module")
def exports(models, tokenizer, eos_token_id, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    lm, double_heads, seq_cls = models["lm"], models["double_heads"], models["seq_cls"]
    return {
        "lm": export_saved_model(
            lm, root / "lm", max_length=LM_MAX_LENGTH, max_new_tokens=LM_MAX_NEW_TOKENS, tokenizer=tokenizer,
            truncate_prompt=True, eos_token_id=eos_token_id,
        ),
        "double_heads": export_saved_model(
            double_heads, root / "dh", max_length=DH_MAX_LENGTH, max_new_tokens=DH_MAX_NEW_TOKENS, tokenizer=tokenizer
        ),
        "seq_cls": export_saved_model(seq_cls, root / "seq_cls", tokenizer=tokenizer),
    }  # fmt: skip


REQUESTS = {
    "greedy": lambda: _generate_text("lm", PROMPTS),
    "sample": lambda: _generate_text("lm", PROMPTS, do_sample=True, seed=7, **SAMPLING),
    "sample_other_seed": lambda: _generate_text("lm", PROMPTS, do_sample=True, seed=8, **SAMPLING),
    "long_prompt": lambda: _generate_text("lm", [LONG_PROMPT, "a"], max_new_tokens=LM_MAX_NEW_TOKENS),
    "dh_greedy": lambda: _generate_text("double_heads", PROMPTS[:2], max_new_tokens=DH_MAX_NEW_TOKENS),
    "tokenize": lambda: _request("lm", "tokenize", texts=TEXTS + [""]),
    "classify": lambda: _request("seq_cls", "classify_text", texts=TEXTS),
    "choices": lambda: _request("double_heads", "score_choices", contexts=CONTEXTS, endings=ENDINGS),
    # Bad requests: each must be refused.
    "bad_utf8": lambda: _generate_text("lm", [b"fine", b"caf\xc3"]),
    "bad_empty_prompt": lambda: _generate_text("lm", ["", "a"]),
    "bad_empty_batch": lambda: _generate_text("lm", []),
    "bad_too_long_prompt": lambda: _generate_text("double_heads", [LONG_PROMPT], max_new_tokens=4),
    "bad_too_many_new_tokens": lambda: _generate_text("lm", PROMPTS, max_new_tokens=LM_MAX_NEW_TOKENS + 1),
    "bad_zero_temperature": lambda: _generate_text("lm", PROMPTS, do_sample=True, temperature=0.0),
    "bad_classify_too_long": lambda: _request("seq_cls", "classify_text", texts=[LONG_PROMPT * 2]),
    "bad_classify_utf8": lambda: _request("seq_cls", "classify_text", texts=[b"ok", b"\xff"]),
    "bad_choices_rows": lambda: _request("double_heads", "score_choices", contexts=CONTEXTS[:1], endings=ENDINGS),
    "bad_choices_ending_too_long": lambda: _request(
        "double_heads", "score_choices", contexts=["a"], endings=[[LONG_PROMPT * 2, "b"]]
    ),
    "bad_prompt_dtype": lambda: {
        "export": "lm",
        "signature": "generate_text",
        "inputs": {"prompts": {"dtype": "int32", "value": [1, 2]}, **_controls()},
    },
}
LOAD = ["greedy", "sample", "tokenize", "classify", "choices", "bad_utf8", "bad_too_many_new_tokens", "bad_empty_prompt"]


@pytest.fixture(scope="module")
def served(exports, tmp_path_factory):
    work = tmp_path_factory.mktemp("text_serving")
    plan = {
        "exports": {name: str(path) for name, path in exports.items()},
        "requests": {name: make() for name, make in REQUESTS.items()},
        "load": LOAD,
        "threads": THREADS,
        "requests_per_thread": REQUESTS_PER_THREAD,
        "report": str(work / "report.json"),
    }
    (work / "plan.json").write_text(json.dumps(plan))
    argv, env = isolated_python(SERVING_PROCESS, work / "plan.json")
    process = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-4000:]
    return json.loads((work / "report.json").read_text())


def _outputs(served, name):
    outcome = served["requests"][name]
    assert "outputs" in outcome, f"{name}: {outcome}"
    return outcome["outputs"]


def _texts(values):
    return [base64.b64decode(value).decode() for value in values]


def test_every_model_serves_its_text_signatures_without_gpt_keras(served, exports, eos_token_id):
    assert served["gpt_keras_modules"] == []
    assert served["signatures"] == {
        "lm": ["generate", "generate_text", "serving_default", "tokenize"],
        "double_heads": ["generate", "generate_text", "score_choices", "serving_default", "tokenize"],
        "seq_cls": ["classify_text", "serving_default", "tokenize"],
    }
    metadata = json.loads((exports["lm"] / "assets.extra" / METADATA_FILE).read_text())
    assert metadata["text"] == {
        "pre_tokenizer": "basic",
        "vocabulary_size": 994,
        "truncate_prompt": True,
        "eos_token_ids": [eos_token_id],
    }


@pytest.mark.parametrize(
    "name, arguments",
    [
        ("greedy", {}),
        ("sample", dict(do_sample=True, seed=7, **SAMPLING)),
        ("sample_other_seed", dict(do_sample=True, seed=8, **SAMPLING)),
    ],
)
def test_generate_text_equals_model_generate_text(served, models, tokenizer, eos_token_id, name, arguments):
    outputs = _outputs(served, name)
    lm = models["lm"]
    want = lm.generate_text(tokenizer, PROMPTS, max_new_tokens=20, eos_token_id=eos_token_id, **arguments)
    assert _texts(outputs["completions"]) == want
    input_ids, attention_mask = encode_prompts(tokenizer, PROMPTS)
    sequences = lm.generate(input_ids, attention_mask, max_new_tokens=20, eos_token_id=eos_token_id, **arguments)
    np.testing.assert_array_equal(outputs["sequences"], sequences.numpy())


def test_completions_end_before_eos_and_the_seed_changes_the_samples(served, tokenizer, eos_token_id):
    greedy = _outputs(served, "greedy")
    width = max(len(tokenizer.encode(prompt)) for prompt in PROMPTS)
    new_ids = greedy["sequences"][0][width:]
    assert new_ids[5] == eos_token_id and _texts(greedy["completions"])[0] == tokenizer.decode(new_ids[:5], skip_special_tokens=True)
    assert _outputs(served, "sample")["sequences"] != _outputs(served, "sample_other_seed")["sequences"]


def test_a_long_prompt_keeps_its_last_tokens_when_exported_with_truncate_prompt(served, models, tokenizer, eos_token_id):
    assert len(tokenizer.encode(LONG_PROMPT)) > LM_MAX_LENGTH - LM_MAX_NEW_TOKENS
    want = models["lm"].generate_text(
        tokenizer, [LONG_PROMPT, "a"], max_new_tokens=LM_MAX_NEW_TOKENS, eos_token_id=eos_token_id, truncate_prompt=True
    )
    assert _texts(_outputs(served, "long_prompt")["completions"]) == want


def test_double_heads_generate_text_and_score_choices(served, models, tokenizer):
    model = models["double_heads"]
    want = model.generate_text(tokenizer, PROMPTS[:2], max_new_tokens=DH_MAX_NEW_TOKENS)
    assert _texts(_outputs(served, "dh_greedy")["completions"]) == want
    inputs = tokenizer.encode_multiple_choice(CONTEXTS, ENDINGS, max_length=model.config.n_positions, return_tensors="np")
    assert inputs["input_ids"].shape[-1] == model.config.n_positions  # the long context was cut on the left
    mc_logits = tf.function(lambda inputs: model(**inputs)["mc_logits"])(inputs).numpy()
    outputs = _outputs(served, "choices")
    np.testing.assert_allclose(outputs["mc_logits"], mc_logits, rtol=0, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"], tf.nn.softmax(mc_logits).numpy(), rtol=0, atol=1e-6)


def test_classify_text_and_tokenize_equal_the_python_tokenizer_and_the_model(served, models, tokenizer):
    batch = tokenizer(TEXTS + [""], padding=True, return_tensors="np")
    outputs = _outputs(served, "tokenize")
    np.testing.assert_array_equal(outputs["input_ids"], batch["input_ids"])
    np.testing.assert_array_equal(outputs["attention_mask"], batch["attention_mask"])
    model = models["seq_cls"]
    batch = tokenizer(TEXTS, padding=True, return_tensors="np")
    logits = tf.function(lambda inputs: model(**inputs)["logits"])(batch).numpy()
    outputs = _outputs(served, "classify")
    np.testing.assert_allclose(outputs["logits"], logits, rtol=0, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"], tf.nn.softmax(logits).numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "name, message",
    [
        ("bad_utf8", "prompts[1] is not valid UTF-8"),
        ("bad_empty_prompt", "prompts[0] has no tokens"),
        ("bad_empty_batch", "prompts is an empty batch"),
        ("bad_too_long_prompt", f"over the exported maximum prompt of {DH_MAX_LENGTH - DH_MAX_NEW_TOKENS} tokens"),
        ("bad_too_many_new_tokens", f"max_new_tokens must be <= {LM_MAX_NEW_TOKENS}"),
        ("bad_zero_temperature", "temperature must be > 0 when do_sample is true"),
        ("bad_classify_too_long", "over n_positions=64"),
        ("bad_classify_utf8", "texts[1] is not valid UTF-8"),
        ("bad_choices_rows", "endings must have one row of choices per context"),
        ("bad_choices_ending_too_long", "does not fit in max_length=64"),
        ("bad_prompt_dtype", None),
    ],
)
def test_bad_requests_are_refused(served, name, message):
    outcome = served["requests"][name]
    assert "error" in outcome, f"{name} was served"
    if message is not None:
        assert outcome["error"] == "InvalidArgumentError" and message in outcome["message"], outcome


def test_eight_threads_of_mixed_requests_answer_as_one_thread(served):
    assert served["load"] == {"mismatches": [], "unexpected": []}


def test_export_refuses_a_tokenizer_that_does_not_fit(models, tokenizer_dir, vocab_dir, tmp_path):
    with pytest.raises(ValueError, match="pre_tokenizer='basic'"):
        export_saved_model(models["seq_cls"], tmp_path, tokenizer=OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="spacy_ftfy"))
    with pytest.raises(ValueError, match="40478 ids but the model's embedding 1000 rows"):
        export_saved_model(models["seq_cls"], tmp_path, tokenizer=vocab_dir)
    with pytest.raises(ValueError, match="add_paper_special_tokens"):
        export_saved_model(models["double_heads"], tmp_path, tokenizer=tokenizer_dir)
    with pytest.raises(ValueError, match="needs tokenizer="):
        export_saved_model(models["lm"], tmp_path, truncate_prompt=True)
    assert not any(tmp_path.iterdir())



def test_the_tokenizers_eos_ends_generate_text_only(models, tokenizer_dir, tmp_path):
    """As `model.generate_text`: the tokenizer's EOS counts when neither the config nor the call gives one;
    the id `generate` signature stays as `model.generate` is."""
    tokenizer = OpenAIGPTTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.add_special_tokens({"eos_token": "<eos>"})
    version = export_saved_model(models["lm"], tmp_path, max_length=16, max_new_tokens=4, tokenizer=tokenizer)
    metadata = json.loads((version / "assets.extra" / METADATA_FILE).read_text())
    assert metadata["text"]["eos_token_ids"] == [tokenizer.eos_token_id] == [len(tokenizer) - 1]
    assert metadata["generate"]["options"]["eos_token_ids"] == []
