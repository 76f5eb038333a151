"""Calls made on the reference tokenizer and on this one, step by step, with their results recorded.

Pure data and a small interpreter that works with either library, so that the script that records the
reference's results (``tests/fixtures_tools/make_reference_tokenizer_fixtures.py``, run by hand in a venv
with transformers) and the test that replays them (``tests/test_tokenizer_reference.py``) make the very
same calls. Imports neither transformers nor gpt_keras.

A case builds a tokenizer (``vocab``: "toy", the reference test's 21 symbols, or "released", the shared
openai-gpt vocabulary; ``kwargs`` of ``from_pretrained``) and runs ``steps``:
``["call", method, args, kwargs]``, ``["set", attribute, value]``, ``["get", attribute]`` or
``["saved", file]`` (save_pretrained, then the JSON of one file), ``["saved_config_entries", file]`` (the
special-token entries of the saved config) or ``["saved_files"]`` (the names of the saved files). ``{"added": {...}}`` stands for an
``AddedToken``. Each step's result (or error type) and the warnings it logged are recorded.
"""
import json
import logging
import os
import tempfile
import warnings

TOY_VOCAB = ["l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "w</w>", "r</w>", "t</w>", "lo", "low", "er</w>",
             "low</w>", "lowest</w>", "newer</w>", "wider</w>", "<unk>"]  # fmt: skip
TOY_MERGES = ["#version: 0.2", "l o", "lo w", "e r</w>", ""]
MODES = ("basic", "spacy_ftfy")

PAIR = ["one two three", "four five six"]  # 3 + 3 tokens on the released vocabulary
LONG = "the quick brown fox jumps over the lazy dog"
SEQS = ["Testing batch encode plus", "Testing batch encode plus with different sequence lengths"]


def _call(method, *args, **kwargs):
    return ["call", method, list(args), kwargs]


def _added(content, **flags):
    return {"added": {"content": content, **flags}}


def _truncation_cases():
    cases = {}
    for strategy in (True, False, "longest_first", "only_first", "only_second", "do_not_truncate"):
        for side in ("right", "left"):
            steps = [_call("__call__", *PAIR, truncation=strategy, max_length=4)]
            steps.append(_call("__call__", [PAIR[0], LONG], [PAIR[1], PAIR[0]], truncation=strategy, max_length=5))
            cases[f"truncation_{strategy}_{side}"] = {"kwargs": {"truncation_side": side}, "steps": steps}
    cases["truncation_side_as_attribute"] = {"steps": [["set", "truncation_side", "left"], _call("encode", LONG, truncation=True, max_length=3)]}
    cases["truncation_invalid_names"] = {"steps": [_call("__call__", *PAIR, truncation=name, max_length=4) for name in ("longest", "only_third", "")]}
    cases["max_length_alone_truncates_with_a_warning"] = {
        "steps": [_call("__call__", LONG, max_length=3), _call("__call__", *PAIR, max_length=4), _call("encode", LONG, max_length=2),
                  _call("__call__", [LONG, "a b"], max_length=3)]  # fmt: skip
    }
    cases["truncation_too_short_logs_and_keeps"] = {"steps": [_call("__call__", "a", LONG, truncation="only_first", max_length=3),
                                                              _call("__call__", LONG, "a", truncation="only_second", max_length=3)]}  # fmt: skip
    cases["overflowing_tokens_and_stride"] = {
        "steps": [
            _call("__call__", LONG, max_length=5, stride=2, truncation=True, return_overflowing_tokens=True),
            _call("__call__", *PAIR, max_length=4, stride=1, truncation="only_first", return_overflowing_tokens=True),
            _call("__call__", *PAIR, max_length=4, stride=1, truncation="only_second", return_overflowing_tokens=True),
            _call("__call__", *PAIR, max_length=4, stride=1, truncation="longest_first", return_overflowing_tokens=True),
            _call("__call__", [LONG, "a b"], max_length=3, stride=1, truncation=True, return_overflowing_tokens=True),
            _call("__call__", LONG, max_length=5, truncation=True, return_overflowing_tokens=True, return_tensors="np"),
        ]
    }
    cases["model_max_length_truncation_and_warning"] = {
        "kwargs": {"model_max_length": 4},
        "steps": [_call("__call__", LONG, truncation=True), _call("__call__", LONG), _call("__call__", LONG), ["get", "model_max_length"]],
    }
    return cases


def _padding_cases():
    cases = {}
    pad_unk = ["set", "pad_token", "<unk>"]
    for side in ("right", "left"):
        cases[f"padding_{side}"] = {
            "kwargs": {"padding_side": side},
            "steps": [pad_unk, ["get", "pad_token_id"]]
            + [_call("__call__", SEQS, padding=padding, max_length=12) for padding in (True, "longest", "max_length", False, "do_not_pad")]
            + [_call("encode", SEQS[0], padding="max_length", max_length=8), _call("encode_plus", SEQS[0], padding=True)],
        }
    cases["padding_side_as_attribute_and_keyword"] = {
        "steps": [pad_unk, ["set", "padding_side", "left"], _call("__call__", SEQS, padding=True),
                  _call("__call__", SEQS, padding=True, padding_side="right"), ["get", "padding_side"]]  # fmt: skip
    }
    cases["padding_without_pad_token_is_an_error"] = {
        "steps": [_call("__call__", SEQS, padding=True), _call("__call__", SEQS[0], padding=True),
                  _call("encode_plus", SEQS[0], padding="max_length", max_length=15), _call("pad", {"input_ids": [[1, 2], [3]]})]  # fmt: skip
    }
    cases["padding_invalid_name"] = {"steps": [pad_unk, _call("__call__", SEQS, padding="maximum")]}
    cases["pad_token_named_not_added"] = {
        "steps": [["set", "pad_token", "<pad>"], ["get", "pad_token_id"], ["get", "all_special_tokens"], ["get", "all_special_ids"],
                  _call("tokenize", "a <pad> b"), _call("__call__", SEQS, padding=True), ["get", "special_tokens_map"], ["len"]]  # fmt: skip
    }
    cases["pad_to_multiple_of"] = {
        "steps": [pad_unk, _call("__call__", "", padding=True, pad_to_multiple_of=8), _call("__call__", SEQS[1], padding=True, pad_to_multiple_of=8),
                  _call("__call__", "This", pad_to_multiple_of=8), _call("__call__", "This", padding=True, truncation=True, pad_to_multiple_of=8),
                  _call("__call__", "This", padding=True, truncation=True, max_length=12, pad_to_multiple_of=8),
                  _call("__call__", SEQS, padding="max_length", max_length=10, pad_to_multiple_of=4)]  # fmt: skip
    }
    cases["pad_method"] = {
        "steps": [
            pad_unk,
            _call("pad", [{"input_ids": [1, 2, 3, 4, 5, 6], "attention_mask": [1, 1, 1, 1, 1, 0]}, {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 0]}]),
            _call("pad", {"input_ids": [[5, 6, 7], [8]]}, padding="max_length", max_length=5),
            _call("pad", {"input_ids": [5, 6]}, padding="max_length", max_length=4, padding_side="left"),
            _call("pad", {"input_ids": [[5, 6, 7], [8]]}, return_tensors="np"),
            _call("pad", {"input_ids": [[5, 6, 7], [8]], "token_type_ids": [[0, 0, 1], [0]], "special_tokens_mask": [[0, 0, 0], [0]]}, pad_to_multiple_of=4),
            _call("pad", {"input_ids": [[5, 6, 7], [8]]}, return_attention_mask=False),
            _call("pad", {"attention_mask": [[1]]}),
            _call("pad", {"input_ids": []}),
        ]
    }
    return cases


def _fields_cases():
    return {
        "token_type_ids_special_tokens_mask_length": {
            "steps": [
                _call("__call__", *PAIR, return_token_type_ids=True, return_special_tokens_mask=True, return_length=True),
                _call("__call__", PAIR[0], return_token_type_ids=True),
                _call("__call__", *PAIR, return_token_type_ids=True, add_special_tokens=False),
                _call("__call__", *PAIR, add_special_tokens=False, return_special_tokens_mask=True),
                _call("__call__", [LONG, "a"], return_length=True, return_attention_mask=False),
                ["set", "pad_token", "<unk>"],
                _call("__call__", [LONG, "a"], return_length=True, padding=True, return_token_type_ids=True),
                _call("__call__", LONG, return_length=True, padding="max_length", max_length=12),
            ]
        },
        "split_into_words": {
            "steps": [
                _call("__call__", ["Hello", "world!"], is_split_into_words=True),
                _call("__call__", [["Hello", "world!"], ["a", "b", "c"]], is_split_into_words=True),
                _call("__call__", ["Hello", "world!"], ["x", "y"], is_split_into_words=True),
                _call("encode", ["Hello", "world"], is_split_into_words=True),
                _call("encode", ["hello</w>", "world</w>", "nope"]),
                _call("batch_encode_plus", [(["a", "b"], ["c"]), (["d"], ["e", "f"])], is_split_into_words=True),
                _call("encode", [1, 2, 3]),
            ]
        },
        "tensors": {
            "steps": [_call("encode", LONG, return_tensors="np"), _call("__call__", "", return_tensors="np"),
                      _call("__call__", PAIR[0], return_tensors="np"), _call("__call__", SEQS, return_tensors="np", padding=False)]  # fmt: skip
        },
        "calls_agree": {
            "steps": [_call("encode_plus", *PAIR), _call("batch_encode_plus", SEQS), _call("batch_encode_plus", [tuple(PAIR), (SEQS[0], SEQS[1])]),
                      _call("prepare_for_model", [5, 6, 7], [8, 9]), _call("prepare_for_model", [5, 6, 7], max_length=2, truncation=True),
                      _call("__call__", text_target=PAIR[0]), _call("__call__", PAIR[0], text_target=PAIR[1])]  # fmt: skip
        },
        "bad_inputs": {
            "steps": [_call("__call__", [1, 2]), _call("__call__", ["a", "b"], "c"), _call("__call__", ["a", "b"], ["c"]),
                      _call("__call__"), _call("encode", 3.5)]  # fmt: skip
        },
        "layout_hooks": {
            "steps": [
                _call("build_inputs_with_special_tokens", [1, 2], [3]),
                _call("build_inputs_with_special_tokens", []),
                _call("create_token_type_ids_from_sequences", [1, 2, 3], [1, 2, 3]),
                _call("get_special_tokens_mask", [1, 2], [3]),
                _call("get_special_tokens_mask", [0, 5, 0], already_has_special_tokens=True),
                _call("get_special_tokens_mask", [0], [1], already_has_special_tokens=True),
                _call("num_special_tokens_to_add"),
                _call("num_special_tokens_to_add", pair=True),
                _call("truncate_sequences", [1, 2, 3, 4], [5, 6], num_tokens_to_remove=3, truncation_strategy="longest_first"),
                _call("truncate_sequences", [1, 2, 3, 4], [5, 6], num_tokens_to_remove=2, truncation_strategy="only_first", stride=1),
                ["get", "max_len_single_sentence"],
                ["get", "max_len_sentences_pair"],
                ["get", "model_input_names"],
            ]
        },
    }


def _special_token_cases():
    return {
        "special_tokens_api": {
            "vocab": "toy",
            "steps": [
                ["get", "special_tokens_map"],
                _call("add_special_tokens", {"cls_token": "<cls>", "additional_special_tokens": ["<a>", "<b>"]}),
                ["get", "special_tokens_map"], ["get", "all_special_tokens"], ["get", "all_special_ids"],
                _call("add_special_tokens", {"additional_special_tokens": ["<b>", "<c>"]}),
                ["get", "additional_special_tokens"],
                _call("add_special_tokens", {"additional_special_tokens": ["<a>"]}, replace_additional_special_tokens=False),
                ["get", "additional_special_tokens"], ["get", "additional_special_tokens_ids"],
                _call("add_tokens", ["NewWord", "<b>"]), _call("add_tokens", "<s2>", special_tokens=True),
                ["get", "additional_special_tokens"], ["len"], ["get", "added_tokens_encoder"], _call("get_added_vocab"),
                _call("tokenize", "x <a>y<cls> NEWWORD <s2>z"), _call("decode", [0, 21, 22, 1, 25]),
                _call("decode", [0, 21, 22, 1, 25], skip_special_tokens=True),
                _call("decode", [0, 21, 22, 1, 25], spaces_between_special_tokens=False),
                ["set", "bos_token_id", 3], ["get", "bos_token"], ["set", "eos_token", None], ["get", "eos_token_id"],
                ["set", "additional_special_tokens_ids", [4]], ["get", "additional_special_tokens"],
            ]
        },
        "added_token_flags": {
            "vocab": "toy",
            "steps": [
                _call("add_tokens", [_added("<l>", lstrip=True), _added("<r>", rstrip=True), _added("Ww", single_word=True)]),
                _call("tokenize", "lower <l> low <r> lowest"), _call("tokenize", "lowWw low Ww lower"),
                _call("add_special_tokens", {"eos_token": _added("[NEW_EOS]", lstrip=True, normalized=False, special=True)}),
                _call("tokenize", "lower [NEW_EOS] low"), ["get", "added_tokens_decoder"], ["get", "special_tokens_map_extended"],
                _call("tokenize", "low <l> lower", split_special_tokens=True),
            ]
        },
        "split_special_tokens_init": {
            "kwargs": {"additional_special_tokens": ["<my_new_token>"], "split_special_tokens": True},
            "steps": [_call("encode", "<my_new_token>", add_special_tokens=False), _call("encode", "<my_new_token>", split_special_tokens=False),
                      _call("tokenize", "Hey this is a <my_new_token> token"), _call("tokenize", "Hey <my_new_token>", split_special_tokens=False)]  # fmt: skip
        },
        "special_tokens_initialization": {
            "kwargs": {"additional_special_tokens": [_added("<special>", lstrip=True)]},
            "steps": [_call("encode", "Hey this is a <special> token"), _call("encode", "<special>", add_special_tokens=False)],
        },
        "embedded_special_tokens": {
            "steps": [_call("encode_plus", "A, <mask> AllenNLP sentence.", add_special_tokens=True), _call("tokenize", "A, <unk> <UNK> sentence")],
        },
        "saved_files": {
            "steps": [_call("add_special_tokens", {"pad_token": "<pad>", "additional_special_tokens": ["<x>"]}), _call("add_tokens", ["zyx"]),
                      ["saved", "special_tokens_map.json"], ["saved_config_entries", "tokenizer_config.json"]]  # fmt: skip
        },
    }


CHAT = [{"role": "system", "content": "system message"}, {"role": "user", "content": "User message"},
        {"role": "assistant", "content": "assistant message "}]  # fmt: skip
IM_TEMPLATE = ("{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + "
               "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def _chat_cases():
    plain = "{% for message in messages %}{{ message['role'] + ': ' + message['content'] }}\n{% endfor %}{{ unk_token }}"
    return {
        "chat_templates": {
            "steps": [
                _call("apply_chat_template", CHAT, chat_template=plain, tokenize=False),
                _call("apply_chat_template", CHAT, chat_template=plain),
                _call("apply_chat_template", [CHAT, CHAT[:2]], chat_template=plain, return_dict=True, padding=False),
                _call("apply_chat_template", CHAT, chat_template=IM_TEMPLATE, tokenize=False, continue_final_message=True),
                _call("apply_chat_template", CHAT[:2], chat_template=IM_TEMPLATE, tokenize=False, add_generation_prompt=True),
                _call("apply_chat_template", CHAT, chat_template="{{ raise_exception('no') }}", tokenize=False),
                _call("apply_chat_template", CHAT, tokenize=False),
                ["set", "chat_template", {"default": plain, "im": IM_TEMPLATE}],
                _call("apply_chat_template", CHAT, tokenize=False),
                _call("apply_chat_template", CHAT, chat_template="im", tokenize=False),
                _call("apply_chat_template", CHAT, tokenize=False, return_dict=True),
                ["saved_files"], ["saved_config_entries", "tokenizer_config.json"],
                ["set", "chat_template", plain], ["saved_files"],
            ]
        },
    }


CASES = {**_truncation_cases(), **_padding_cases(), **_fields_cases(), **_special_token_cases(), **_chat_cases()}
CONFIG_ENTRIES = ("added_tokens_decoder", "additional_special_tokens", "bos_token", "eos_token", "unk_token", "pad_token", "cls_token",
                  "chat_template")  # fmt: skip


def write_toy_vocab(directory):
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as handle:
        json.dump(dict(zip(TOY_VOCAB, range(len(TOY_VOCAB)))), handle)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(TOY_MERGES))


def _materialize(value, added_token_class):
    if isinstance(value, dict) and set(value) == {"added"}:
        return added_token_class(**value["added"])
    if isinstance(value, dict):
        return {key: _materialize(item, added_token_class) for key, item in value.items()}
    if isinstance(value, list):
        return [_materialize(item, added_token_class) for item in value]
    return value


def to_json(value):
    """A JSON form of a result: encodings, arrays and added tokens tagged with their kind."""
    kind = type(value).__name__
    if kind == "BatchEncoding":
        return {"kind": "encoding", "data": {key: to_json(item) for key, item in value.items()}}
    if kind == "ndarray":
        rows = [to_json(row) for row in value] if value.dtype == object else value.tolist()
        return {"kind": "array", "dtype": str(value.dtype), "value": rows}
    if kind == "AddedToken":
        return {"kind": "added", "state": dict(value.__getstate__())}
    if isinstance(value, dict):
        return {"kind": "dict", "data": {str(key): to_json(item) for key, item in value.items()}}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_case(case, make_tokenizer, added_token_class, logger_name):
    """Runs one case; returns the list of step records ``{"result"|"error", "logs"}``.

    Args:
        case: an entry of ``CASES``.
        make_tokenizer: ``(directory_or_None, kwargs) -> tokenizer``; None means the released vocabulary.
        added_token_class: the library's ``AddedToken``.
        logger_name: the library's logger ("transformers" or "gpt_keras").
    """
    records = []
    handler = _Records()
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        with tempfile.TemporaryDirectory() as directory:
            if case.get("vocab", "released") == "toy":
                write_toy_vocab(directory)
            # 512 as the Hub's tokenizer_config.json says (a directory without one: 512 here, no limit there).
            kwargs = _materialize({"model_max_length": 512, **case.get("kwargs", {})}, added_token_class)
            tokenizer = make_tokenizer(directory if case.get("vocab") == "toy" else None, kwargs)
            for step in case["steps"]:
                handler.messages = []
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    record = _run_step(tokenizer, step, added_token_class, directory)
                record["logs"] = handler.messages + [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
                records.append(record)
    finally:
        logger.removeHandler(handler)
    return records


def _run_step(tokenizer, step, added_token_class, directory):
    try:
        if step[0] == "call":
            _, method, args, kwargs = step
            result = getattr(tokenizer, method)(*_materialize(args, added_token_class), **_materialize(kwargs, added_token_class))
        elif step[0] == "set":
            setattr(tokenizer, step[1], _materialize(step[2], added_token_class))
            result = None
        elif step[0] == "get":
            result = getattr(tokenizer, step[1])
        elif step[0] == "len":
            result = len(tokenizer)
        else:
            saved = tempfile.mkdtemp(dir=directory)
            tokenizer.save_pretrained(saved)
            if step[0] == "saved_files":
                result = sorted(os.path.relpath(os.path.join(root, name), saved) for root, _, names in os.walk(saved) for name in names)
            else:
                with open(os.path.join(saved, step[1]), encoding="utf-8") as handle:
                    result = json.load(handle)
            if step[0] == "saved_config_entries":
                result = {key: result[key] for key in CONFIG_ENTRIES if key in result}
        return {"result": to_json(result)}
    except Exception as error:  # noqa: BLE001  (the error's kind is the result)
        return {"error": type(error).__name__, "message": str(error)}
