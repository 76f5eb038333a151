"""The reference's tokenizer tester mixin, ported (third part): chat templates. See tests/test_tokenizer_ported.py."""
import json
import os
from pathlib import Path

import pytest
from test_tokenizer_ported import get_tokenizer, mode, toy_dir  # noqa: F401  (fixtures)

from gpt_keras.tokenization import OpenAIGPTTokenizer

DUMMY = "{% for message in messages %}{{message['role'] + message['content']}}{% endfor %}"
CONVERSATION = [
    {"role": "system", "content": "system message"},
    {"role": "user", "content": "user message"},
    {"role": "assistant", "content": "assistant message"},
]
EXPECTED = "systemsystem messageuseruser messageassistantassistant message"
IM = """
        {%- for message in messages %}
            {{- "<|im_start|>" + message['role'] + "\n" + message['content'] + "<|im_end|>" + "\n"}}
        {%- endfor %}"""
IM_TRIM = IM.replace("message['content'] +", "message['content'] | trim +")


def test_chat_template(get_tokenizer, tmp_path):
    tokenizer = get_tokenizer()
    assert tokenizer.apply_chat_template(CONVERSATION, chat_template=DUMMY, tokenize=False, return_dict=False) == EXPECTED
    output = tokenizer.apply_chat_template(CONVERSATION, chat_template=DUMMY, tokenize=True, return_dict=False)
    assert tokenizer.apply_chat_template(CONVERSATION, chat_template=DUMMY, tokenize=True, return_dict=True)["input_ids"] == output
    tokenizer.chat_template = DUMMY
    assert tokenizer.chat_template == DUMMY
    assert tokenizer.apply_chat_template(CONVERSATION, tokenize=False, return_dict=False) == EXPECTED
    tokenizer.apply_chat_template(CONVERSATION, tokenize=True, return_dict=False)
    files = tokenizer.save_pretrained(tmp_path / "a", save_jinja_files=False)
    assert not any(file.endswith("chat_template.jinja") for file in files)
    new = OpenAIGPTTokenizer.from_pretrained(tmp_path / "a")
    assert new.chat_template == DUMMY and new.apply_chat_template(CONVERSATION, tokenize=False, return_dict=False) == EXPECTED
    files = tokenizer.save_pretrained(tmp_path / "b")
    assert any(file.endswith("chat_template.jinja") for file in files)
    assert (tmp_path / "b" / "chat_template.jinja").read_text() == DUMMY
    assert "chat_template" not in json.loads((tmp_path / "b" / "tokenizer_config.json").read_text())
    new = OpenAIGPTTokenizer.from_pretrained(tmp_path / "b")
    assert new.chat_template == DUMMY and new.apply_chat_template(CONVERSATION, tokenize=False, return_dict=False) == EXPECTED
    new.apply_chat_template(CONVERSATION, tokenize=True, return_dict=False)


def test_chat_template_batched(get_tokenizer):
    tokenizer = get_tokenizer()
    second = [{**message, "content": message["content"] + " 2"} for message in CONVERSATION]
    output = tokenizer.apply_chat_template([CONVERSATION, second], chat_template=DUMMY, tokenize=False)
    assert output == [EXPECTED, "systemsystem message 2useruser message 2assistantassistant message 2"]
    assert tokenizer.apply_chat_template([CONVERSATION], chat_template=DUMMY, tokenize=False) == [EXPECTED]
    tokenizer.apply_chat_template([CONVERSATION, second], chat_template=DUMMY, tokenize=True)


def test_jinja_loopcontrols(get_tokenizer):
    template = """
        {%- for message in messages %}
            {{- message.role + " " + message.content }}
            {%- if loop.first %}
                {%- break %}
            {%- endif %}
        {%- endfor %}""".strip()
    conversation = [{"role": "system", "content": "1"}, {"role": "user", "content": "2"}, {"role": "assistant", "content": "3"}]
    assert get_tokenizer().apply_chat_template(conversation, chat_template=template, tokenize=False) == "system 1"


def test_jinja_strftime(get_tokenizer):
    output = get_tokenizer().apply_chat_template(CONVERSATION, chat_template='{{- strftime_now("%Y-%m-%d") }}', tokenize=False)
    assert len(output) == 10 and len(output.split("-")) == 3


@pytest.mark.parametrize("template", [IM, IM_TRIM], ids=["plain", "with_trim"])
def test_continue_final_message(get_tokenizer, template):
    """test_continue_final_message and test_continue_final_message_with_trim."""
    tokenizer = get_tokenizer()
    conversation = CONVERSATION[:2] + [{"role": "assistant", "content": "assistant message" + (" " if template is IM_TRIM else "")}]
    head = "<|im_start|>system\nsystem message<|im_end|>\n<|im_start|>user\nuser message<|im_end|>\n<|im_start|>assistant\nassistant message"
    assert tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False, continue_final_message=False) == head + "<|im_end|>\n"
    assert tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False, continue_final_message=True) == head


def test_continue_final_message_with_decoy_earlier_message(get_tokenizer):
    conversation = [{"role": "user", "content": "hi 0"}, {"role": "assistant", "content": "bye: 0"},
                    {"role": "user", "content": "hi 1"}, {"role": "assistant", "content": "bye: "}]  # fmt: skip
    output = get_tokenizer().apply_chat_template(conversation, chat_template=IM_TRIM, tokenize=False, continue_final_message=True)
    assert output == "<|im_start|>user\nhi 0<|im_end|>\n<|im_start|>assistant\nbye: 0<|im_end|>\n<|im_start|>user\nhi 1<|im_end|>\n<|im_start|>assistant\nbye:"


def test_chat_template_dict(get_tokenizer):
    tokenizer = get_tokenizer()
    tokenizer.chat_template = {"template1": "{{'a'}}", "template2": "{{'b'}}"}
    conversation = [{"role": "user", "content": "user message"}]
    for name, template in tokenizer.chat_template.items():
        assert tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False) == tokenizer.apply_chat_template(
            conversation, chat_template=name, tokenize=False
        )


def test_chat_template_dict_saving(get_tokenizer, tmp_path):
    tokenizer = get_tokenizer()
    for save_jinja_files in (True, False):
        tokenizer.chat_template = {"default": "{{'a'}}", "template2": "{{'b'}}"}
        directory = tmp_path / str(save_jinja_files)
        tokenizer.save_pretrained(directory, save_jinja_files=save_jinja_files)
        config = json.loads((directory / "tokenizer_config.json").read_text())
        if save_jinja_files:
            assert "chat_template" not in config and (directory / "chat_template.jinja").exists()
            assert os.path.exists(directory / "additional_chat_templates" / "template2.jinja")
        else:
            assert config["chat_template"] == [{"name": "default", "template": "{{'a'}}"}, {"name": "template2", "template": "{{'b'}}"}]
            assert not (directory / "chat_template.jinja").exists()
        assert OpenAIGPTTokenizer.from_pretrained(directory).chat_template == tokenizer.chat_template


def test_chat_template_file_priority(get_tokenizer, tmp_path):
    tokenizer = get_tokenizer()
    tokenizer.chat_template = "a"
    tokenizer.save_pretrained(tmp_path, save_jinja_files=False)
    Path(tmp_path, "chat_template.jinja").write_text("b")
    assert OpenAIGPTTokenizer.from_pretrained(tmp_path).chat_template == "b"


def test_a_later_save_leaves_no_stale_template_behind(get_tokenizer, tmp_path):
    """Not the reference's: a template file of an earlier save would win over the config on load."""
    tokenizer = get_tokenizer()
    tokenizer.chat_template = {"default": "a", "other": "b"}
    tokenizer.save_pretrained(tmp_path)
    tokenizer.chat_template = "c"
    tokenizer.save_pretrained(tmp_path, save_jinja_files=False)
    assert OpenAIGPTTokenizer.from_pretrained(tmp_path).chat_template == "c"
