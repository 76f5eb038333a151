"""Encoding examples into features: dicts of int32 numpy arrays that the models take as input dicts,
labels included. Padding is the tokenizer's (`gpt_keras.tokenization.packing`).

- Causal LM: `causal_lm_features(tokenizer, files=... | texts=..., block_size)` packs the token ids
  of all texts into fixed blocks; `labels` are the inputs (the model shifts them).
- Multiple choice (the double-heads model): `multiple_choice_features` in the paper's layout
  `_start_ context _delimiter_ ending _classify_`.
- Sequence classification: `classification_features`.

Tokenizing shows its progress on stderr (`quiet=True` to silence it).
"""
import numbers
from pathlib import Path

import numpy as np

from gpt_keras.configuration import MAX_NUM_LABELS
from gpt_keras.data.readers import read_lines
from gpt_keras.losses import IGNORE_INDEX
from gpt_keras.progress import Progress
from gpt_keras.tokenization import packing


def _pad_id(tokenizer):
    # Without a pad token any id will do: padding is masked, and the classifier finds the last real
    # token from attention_mask.
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def causal_lm_features(tokenizer, block_size, files=None, texts=None, separator_id=None, quiet=False):
    """Tokenizes texts and packs all their ids into blocks of `block_size` tokens for causal LM.

    Texts are the non-empty lines of `files` (read as UTF-8, in order) or the strings of `texts`.
    Their ids are concatenated (with `separator_id` after each text when given, e.g. an end-of-text
    token) and cut into consecutive blocks; the last partial block is dropped.

    Args:
        tokenizer: An `OpenAIGPTTokenizer`.
        block_size: Tokens per block (at most the model's `n_positions`).
        files: A path or a list of paths of text files.
        texts: An iterable of str, instead of `files`.
        separator_id: Optional id appended after each text.
        quiet: No progress display.

    Returns:
        A dict of int32 arrays, each (blocks, block_size): `input_ids`, `attention_mask` (ones) and
        `labels` (= input_ids).

    Raises:
        ValueError: neither or both of `files`/`texts`, or fewer than `block_size` tokens in all.
    """
    if (files is None) == (texts is None):
        raise ValueError("pass exactly one of files= and texts=")
    if not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an int >= 2, got {block_size!r}")
    if files is not None:
        files = [files] if isinstance(files, (str, Path)) else list(files)
        total = sum(Path(f).stat().st_size for f in files if Path(f).is_file())
        progress = Progress(f"tokenizing {len(files)} file(s)", total, "bytes", quiet)
        source = (line for line in read_lines(files, progress) if line.strip())
        where = ", ".join(str(f) for f in files)
    else:
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of str, not one str (wrap it in a list)")
        progress = Progress("tokenizing texts", len(texts) if hasattr(texts, "__len__") else None, "texts", quiet)
        source = texts
        where = "texts"
    ids = []
    for index, text in enumerate(source):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}")
        ids.extend(tokenizer.encode(text))
        if separator_id is not None:
            ids.append(int(separator_id))
        if texts is not None:
            progress.update()
    progress.close()
    blocks = len(ids) // block_size
    if blocks == 0:
        raise ValueError(f"{where}: {len(ids)} tokens in all, fewer than one block of block_size={block_size}")
    input_ids = np.asarray(ids[: blocks * block_size], dtype=np.int32).reshape(blocks, block_size)
    return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids), "labels": input_ids.copy()}


def multiple_choice_features(examples, tokenizer, max_length=None, quiet=False):
    """Encodes multiple-choice examples for the double-heads model in the paper's layout.

    Each choice is `_start_ context _delimiter_ ending _classify_` (the tokenizer needs
    `add_paper_special_tokens()`); a context too long for `max_length` is cut from the left. All rows
    are padded on the right to the longest one.

    Args:
        examples: `MultipleChoiceExample`s, all with the same number of endings.
        tokenizer: An `OpenAIGPTTokenizer` with the paper's special tokens.
        max_length: Longest row in tokens (the model's `n_positions` at most); None for no limit.
        quiet: No progress display.

    Returns:
        A dict of int32 arrays: `input_ids`, `attention_mask`, `labels` (LM labels: the ids, -100 on
        padding), each (examples, choices, seq); `mc_token_ids` (examples, choices), the position
        of `_classify_`; and `mc_labels` (examples,) when every example has a label.
    """
    if not examples:
        raise ValueError("no examples to encode")
    choices = len(examples[0].endings)
    progress = Progress("encoding multiple-choice examples", len(examples), quiet=quiet)
    rows = []
    for example in examples:
        if len(example.endings) != choices:
            raise ValueError(f"{example.source}: {len(example.endings)} endings, but the first example has {choices}")
        try:
            encoded = tokenizer.encode_multiple_choice(example.context, example.endings, max_length=max_length)
        except ValueError as error:
            raise ValueError(f"{example.source or 'example'}: {error}") from None
        # Each choice up to its _classify_: the tokenizer padded to this example's longest choice only.
        rows.append([ids[: position + 1] for ids, position in zip(encoded["input_ids"], encoded["mc_token_ids"])])
        progress.update()
    progress.close()
    batch = packing.multiple_choice_batch(rows, _pad_id(tokenizer), return_tensors="np")
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    features = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "mc_token_ids": batch["mc_token_ids"],
        "labels": np.where(attention_mask == 1, input_ids, IGNORE_INDEX).astype(np.int32),
    }
    labels = [example.label for example in examples]
    if all(label is not None for label in labels):
        features["mc_labels"] = np.asarray(labels, dtype=np.int32)
    return features


def classification_features(examples, tokenizer, max_length=None, quiet=False):
    """Encodes classification examples: the text's ids (followed by the pair's), right-padded.

    Args:
        examples: `ClassificationExample`s.
        tokenizer: An `OpenAIGPTTokenizer`; padding uses its pad token (id 0 without one; padding is
            masked and the classifier reads the last real token, found from `attention_mask`).
        max_length: Truncate longer sequences (longest text first); None for no limit.
        quiet: No progress display.

    Returns:
        A dict of int32 arrays: `input_ids`, `attention_mask` (examples, seq) and `labels` (examples,)
        when every example has a label.
    """
    if not examples:
        raise ValueError("no examples to encode")
    progress = Progress("encoding classification examples", len(examples), quiet=quiet)
    rows = []
    for example in examples:
        ids = tokenizer.encode(example.text, example.text_pair, truncation=max_length is not None, max_length=max_length)
        if not ids:
            raise ValueError(f"{example.source or 'example'}: the text encodes to no tokens")
        rows.append(ids)
        progress.update()
    progress.close()
    input_ids, attention_mask = packing.pad(rows, _pad_id(tokenizer))
    features = packing.as_tensors({"input_ids": input_ids, "attention_mask": attention_mask}, "np")
    labels = [example.label for example in examples]
    if all(label is not None for label in labels):
        for example in examples:
            label = example.label
            if isinstance(label, bool) or not isinstance(label, numbers.Integral) or not 0 <= label < MAX_NUM_LABELS:
                raise ValueError(
                    f"{example.source or 'example'}: label {example.label!r} is not a class index in [0, {MAX_NUM_LABELS})"
                )
        features["labels"] = np.asarray(labels, dtype=np.int32)
    return features
