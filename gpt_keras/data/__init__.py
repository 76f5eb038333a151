"""Input pipelines for fine-tuning with `model.fit`: files -> examples -> features -> `tf.data.Dataset`.

Three tasks, each in two steps: *read* a file into examples (`readers`: every malformed row is reported
with its file and line), then *encode* the examples into a dict of numpy arrays (`features`) that the
models take as their input dict, labels included. `to_dataset` and `epoch_stream` (`pipelines`) batch
features for `fit`.

- Causal LM: `causal_lm_features(tokenizer, files=... | texts=..., block_size)`.
- Multiple choice (the double-heads model): `read_rocstories(csv)` or `read_multiple_choice_jsonl(path)`,
  then `multiple_choice_features` in the paper's layout `_start_ context _delimiter_ ending _classify_`.
- Sequence classification: `read_classification(path)`, then `classification_features`.

The readers are imported with this package; `features` and `pipelines` (which need TensorFlow) on first
use of one of their names, so that reading files (the CLI's tokenizer commands) does not import it.

Example:
    >>> examples = read_rocstories("cloze_test_val.csv")  # doctest: +SKIP
    >>> features = multiple_choice_features(examples, tokenizer, max_length=77)  # doctest: +SKIP
    >>> model.fit(to_dataset(features, batch_size=8, shuffle_seed=0), epochs=3)  # doctest: +SKIP
"""

from gpt_keras._lazy import lazy_exports
from gpt_keras.data.readers import (
    ROCSTORIES_COLUMNS,
    ClassificationExample,
    DataFormatError,
    MultipleChoiceExample,
    read_classification,
    read_lines,
    read_multiple_choice_jsonl,
    read_rocstories,
)

_LAZY = {
    "causal_lm_features": "gpt_keras.data.features",
    "multiple_choice_features": "gpt_keras.data.features",
    "classification_features": "gpt_keras.data.features",
    "to_dataset": "gpt_keras.data.pipelines",
    "steps_per_epoch": "gpt_keras.data.pipelines",
    "epoch_stream": "gpt_keras.data.pipelines",
}

__all__ = sorted([
    "ROCSTORIES_COLUMNS",
    "ClassificationExample",
    "DataFormatError",
    "MultipleChoiceExample",
    "read_classification",
    "read_lines",
    "read_multiple_choice_jsonl",
    "read_rocstories",
    *_LAZY,
])  # fmt: skip
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
