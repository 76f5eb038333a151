"""BPE tokens back to text, as the reference's ``decode`` joins them."""
from gpt_keras.tokenization.bpe import END_OF_WORD


def tokens_to_string(tokens):
    """Joins BPE tokens into text: ``</w>`` becomes a space, ends are stripped."""
    return "".join(tokens).replace(END_OF_WORD, " ").strip()


def tokens_to_text(tokens, set_apart, separator=" "):
    """The text of ``tokens``: runs of BPE tokens joined by ``tokens_to_string``, and each token of
    ``set_apart`` (added tokens) standing alone, all joined by ``separator``.

    Args:
        tokens: list of str.
        set_apart: the tokens that stand alone.
        separator: what goes between the parts (the reference's ``spaces_between_special_tokens``).

    Returns:
        str.
    """
    texts, current = [], []
    for token in tokens:
        if token not in set_apart:
            current.append(token)
            continue
        string = tokens_to_string(current)
        if string:
            texts.append(string)
        texts.append(token)
        current = []
    if current:
        texts.append(tokens_to_string(current))
    return separator.join(texts)


# The reference's clean-up, in its order (the in-graph decoder applies the same list).
CLEAN_UP_REPLACEMENTS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
    (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip


def clean_up_tokenization(text):
    """Removes the spaces that tokenization put before punctuation and English contractions."""
    for spaced, joined in CLEAN_UP_REPLACEMENTS:
        text = text.replace(spaced, joined)
    return text
