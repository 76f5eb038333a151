"""Helpers of the text-serving tests: a fresh Python that cannot import gpt_keras, and a tokenizer learned
from the shared fixture texts (small enough for the fixture models' 1000 ids)."""
import json
import os
import sys

from gpt_keras.tokenization.bpe_training import train_tokenizer

# The first lines of a script run by `isolated_python`: a meta-path hook refuses gpt_keras before anything
# is imported, so what the script serves comes from the SavedModel alone.
REFUSE_GPT_KERAS = """
import sys


class RefuseGptKeras:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "gpt_keras":
            raise ModuleNotFoundError(f"No module named {name!r} (refused in this process)", name=name)
        return None


sys.meta_path.insert(0, RefuseGptKeras())
"""


def isolated_python(script, *arguments):
    """The argv and environment of a fresh Python (isolated mode, no PYTHONPATH) running ``script``
    after ``REFUSE_GPT_KERAS``."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME")}
    return [sys.executable, "-I", "-c", REFUSE_GPT_KERAS + script, *map(str, arguments)], env


def learn_tokenizer(shared_dir, vocab_size, directory):
    """Learns a basic-mode BPE of ``vocab_size`` tokens from the fixture cases' texts into ``directory``."""
    with open(shared_dir / "fixtures" / "tokenizer" / "cases.jsonl", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    return train_tokenizer(texts, vocab_size, directory)
