"""Chat templates: conversations rendered to text by a Jinja template, then tokenized, as the reference's
``apply_chat_template`` does (the same sandbox, ``tojson`` filter and ``raise_exception`` /
``strftime_now`` globals, ``loopcontrols``).

The original GPT was not trained on chats, so it ships no template: this is for code written against the
reference's tokenizer API, and for fine-tuning on a chat layout of your own. jinja2 (a dependency of
spaCy) is imported only when a template is rendered. ``return_assistant_tokens_mask`` needs character
offsets, which only the reference's fast tokenizers have: it is refused, and a ``{% generation %}``
block renders its body.
"""
import copy
import functools
import json
from datetime import datetime

CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHAT_TEMPLATE_DIR = "additional_chat_templates"
# Appended to the final message to find where it ends in the rendered text (the reference's marker).
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


@functools.lru_cache(maxsize=16)
def _compile(template):
    try:
        import jinja2
        from jinja2.ext import Extension, loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise ImportError("apply_chat_template needs jinja2: pip install jinja2") from None

    class GenerationBlock(Extension):
        """``{% generation %}...{% endgeneration %}`` renders its body (no assistant-token tracking)."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # Jinja's own tojson escapes HTML characters; the reference's (and this) does not.
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, loopcontrols])
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = lambda format: datetime.now().strftime(format)
    return environment.from_string(template)


def _final_text(message):
    """The text to continue in a final message: its content, or the last text block of a list content."""
    content = message["content"]
    if isinstance(content, (list, tuple)):
        for block in reversed(content):
            if "text" in block:
                return block
        raise ValueError("continue_final_message is set but we could not find any text to continue in the final message!")
    return message


def render(conversations, template, continue_final_message=False, **variables):
    """Renders each conversation (a list of ``{"role", "content"}`` messages) with ``template``.

    Args:
        conversations: a list of conversations.
        template: the Jinja source.
        continue_final_message: end the text inside the final message (no end-of-turn after it).
        **variables: what the template reads (``add_generation_prompt``, ``tools``, the special tokens, ...).

    Returns:
        list of str.
    """
    compiled = _compile(template)
    rendered = []
    for chat in conversations:
        chat = getattr(chat, "messages", chat)
        if continue_final_message:
            chat = copy.deepcopy(chat)
            holder = _final_text(chat[-1])
            key = "text" if holder is not chat[-1] else "content"
            final = holder[key]
            holder[key] = final + _CONTINUE_TAG
        text = compiled.render(messages=chat, **variables)
        if continue_final_message:
            if final.strip() not in text or _CONTINUE_TAG.strip() not in text:
                raise ValueError(
                    "continue_final_message is set but the final message does not appear in the chat after applying "
                    "the chat template! This can happen if the chat template deletes portions of the final message."
                )
            end = text.rindex(_CONTINUE_TAG.strip())
            # A template that trims the message also trimmed the marker's space: trim the cut too.
            text = text[:end] if text[end : end + len(_CONTINUE_TAG)] == _CONTINUE_TAG else text[:end].rstrip()
        rendered.append(text)
    return rendered


class ChatTemplateMixin:
    """The reference's chat-template calls, for a tokenizer with a ``chat_template`` attribute (a
    template, ``{name: template}`` or None), ``special_tokens_map`` and ``__call__``."""

    def get_chat_template(self, chat_template=None, tools=None):
        """The template to render: ``chat_template`` itself, or its entry in a dict of named templates
        ("tool_use" when ``tools`` are given, else "default"), or the tokenizer's own.

        Raises:
            ValueError: when there is no template to use, saying what to set.
        """
        templates = self.chat_template
        if isinstance(templates, dict):
            if chat_template is not None:
                return templates.get(chat_template, chat_template)
            if tools is not None and "tool_use" in templates:
                return templates["tool_use"]
            if "default" in templates:
                return templates["default"]
            raise ValueError(
                "This tokenizer has several chat templates and none is named 'default': pass one, or its name, "
                f"as chat_template= (names: {sorted(templates)})"
            )
        if chat_template is not None:
            return chat_template
        if templates is None:
            raise ValueError(
                "Cannot use chat template functions because tokenizer.chat_template is not set and no template "
                "argument was passed! (The original GPT has no chat format: set tokenizer.chat_template to yours.)"
            )
        return templates

    def apply_chat_template(self, conversation, tools=None, documents=None, chat_template=None, add_generation_prompt=False,
                            continue_final_message=False, tokenize=True, padding=False, truncation=False, max_length=None,
                            return_tensors=None, return_dict=False, return_assistant_tokens_mask=False, tokenizer_kwargs=None,
                            **kwargs):  # fmt: skip
        """Renders a conversation (or a batch of them) with a chat template and, by default, tokenizes it.

        Args:
            conversation: a list of ``{"role": ..., "content": ...}`` messages, or a list of such lists.
            tools, documents: lists of dicts the template may read (tools as JSON schemas).
            chat_template: a template, or the name of one of the tokenizer's (default: the tokenizer's).
            add_generation_prompt: ask the template for the header of a new assistant turn.
            continue_final_message: end inside the final message, for the model to continue it.
            tokenize: return ids (else the rendered text).
            padding, truncation, max_length, return_tensors, tokenizer_kwargs: passed to ``__call__``
                (which adds no special tokens).
            return_dict: return the whole ``BatchEncoding`` rather than its ``input_ids``.
            return_assistant_tokens_mask: refused (it needs a fast tokenizer's character offsets).
            **kwargs: more variables for the template.

        Returns:
            ids (list, or list of lists for a batch), a ``BatchEncoding`` with ``return_dict``, or the text.

        Example:
            >>> tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
            ...                               chat_template="{{ messages[0]['content'] }}", tokenize=False)
            'hi'
        """
        if return_dict and not tokenize:
            raise ValueError("`return_dict=True` is incompatible with `tokenize=False`, because there is no dict of tokenizer outputs to return.")
        if return_assistant_tokens_mask:
            raise NotImplementedError(
                "return_assistant_tokens_mask needs character offsets, which only the reference's Rust-backed fast "
                "tokenizers give; this tokenizer is the python one"
            )
        if continue_final_message and add_generation_prompt:
            raise ValueError("continue_final_message and add_generation_prompt are not compatible: the first continues "
                             "the final message, the second starts a new assistant message")
        if tools is not None and not all(isinstance(tool, dict) for tool in tools):
            raise ValueError("tools must be JSON schemas (dicts); the reference's conversion of python functions is not provided")
        template = self.get_chat_template(chat_template, tools)
        batched = isinstance(conversation, (list, tuple)) and bool(conversation) and (
            isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
        )  # fmt: skip
        variables = {**self.special_tokens_map, **kwargs}
        rendered = render(conversation if batched else [conversation], template, continue_final_message, tools=tools,
                          documents=documents, add_generation_prompt=add_generation_prompt, **variables)  # fmt: skip
        if not batched:
            rendered = rendered[0]
        if not tokenize:
            return rendered
        out = self(rendered, padding=padding, truncation=truncation, max_length=max_length, add_special_tokens=False,
                   return_tensors=return_tensors, **(tokenizer_kwargs or {}))  # fmt: skip
        return out if return_dict else out["input_ids"]
