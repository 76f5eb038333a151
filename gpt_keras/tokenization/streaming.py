"""Streaming decoding: text as the ids of a generation come in, adding up to one ``decode`` at the end."""
from gpt_keras.tokenization.inputs import to_id_list


class IncrementalDecoder:
    """Decodes ids one step at a time for streaming generation.

    ``step(ids)`` returns the text that the new ids add, so that the concatenation of every ``step``'s
    result and of ``flush()`` equals ``tokenizer.decode(all_ids)``. Text is held back while it may still
    change (a word is only complete once its ``</w>`` token arrives).

    Args:
        tokenizer: an ``OpenAIGPTTokenizer``, or any object with ``decode(ids, skip_special_tokens=...)``.
        skip_special_tokens: as in ``decode``.

    Example:
        >>> stream = tokenizer.decode_stream()
        >>> "".join(stream.step(i) for i in ids) + stream.flush() == tokenizer.decode(ids)
        True
    """

    def __init__(self, tokenizer, skip_special_tokens=False):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self._ids = []
        self._emitted = ""

    def step(self, ids):
        """Adds an id or a sequence of ids.

        Args:
            ids: int or sequence of int.

        Returns:
            The newly completed text (possibly "").
        """
        self._ids.extend(to_id_list(ids))
        text = self.tokenizer.decode(self._ids, skip_special_tokens=self.skip_special_tokens)
        # The last word may still grow (or a "</w>" may still appear across tokens): hold it back.
        stable = text[: text.rfind(" ") + 1]
        if stable.startswith(self._emitted) and len(stable) > len(self._emitted):
            new, self._emitted = stable[len(self._emitted) :], stable
            return new
        return ""

    def flush(self):
        """Returns the rest of the text, once no more ids will come."""
        text = self.tokenizer.decode(self._ids, skip_special_tokens=self.skip_special_tokens)
        rest = text[len(self._emitted) :] if text.startswith(self._emitted) else ""
        self._emitted = text
        return rest
