"""`gpt-keras quickstart --reduced` end to end through the console script: corpus, BPE, training,
perplexity against the unigram baseline, loss curve, samples, SavedModel served in a fresh process,
and a terminal that shows only the quickstart's own lines; the prose filter of its corpus."""
import importlib.util
import json
import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt_keras.quickstart_corpus import docstring_documents, load_corpus, prose_paragraphs

# What TensorFlow's C++ logging prints (absl's prefix: severity, date, time, thread, file:line]) and
# what Keras' own progress display would: none of it is the quickstart's.
NOISE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuda|Ignoring Assert|Warning:|^Epoch \d+/", re.IGNORECASE)


def test_reduced_quickstart_end_to_end(tmp_path):
    script = Path(sys.executable).with_name("gpt-keras")
    output = tmp_path / "qs"
    # As if a first run had exported already: a rerun adds the next version and keeps the old one.
    (output / "saved_model" / "1").mkdir(parents=True)
    (output / "saved_model" / "1" / "saved_model.pb").write_bytes(b"an earlier run's")
    # A newcomer's shell: none of TensorFlow's logging variables, nothing of this test run's.
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "PYTHONPATH") if name in os.environ}
    done = subprocess.run(
        # A relative --output, as a user types it (the README's command uses the default, relative too).
        [str(script), "quickstart", "--reduced", "--output", "qs"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for stage in range(1, 7):
        assert f"[{stage}/6]" in done.stdout
    lines = (done.stdout + done.stderr).splitlines()
    assert [line for line in lines if NOISE.search(line)] == []
    # Not a terminal: the training and evaluation progress each end with one plain line.
    assert len([line for line in lines if line.startswith("training: 100% in ")]) == 1
    assert len([line for line in lines if line.startswith("held-out evaluation: ")]) == 1

    figures = json.loads((output / "figures.json").read_text())
    # Even a few seconds of training beat add-one unigram frequencies on held-out text
    # (about 50 against 200 in this run's sizes).
    assert math.isfinite(figures["perplexity"]) and 1 < figures["perplexity"] < figures["unigram_perplexity"]
    assert figures["steps"] > 10
    assert len(figures["validation_losses"]) == figures["epochs"] >= 1  # one validation loss per evaluation

    curve = Path(figures["loss_curve"])
    if importlib.util.find_spec("matplotlib") is None:
        assert curve == output / "loss_curve.csv" and not (output / "loss_curve.png").exists()
        assert curve.read_text().startswith("series,step,loss\n")
    else:
        png = curve.read_bytes()
        assert curve == output / "loss_curve.png"
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert width > 100 and height > 100 and len(png) > 10_000  # drawn lines and text, not an empty canvas

    samples = figures["samples"]
    assert len(samples) == 3 and all(isinstance(sample, str) for sample in samples)
    assert isinstance(figures["served_sample"], str) and figures["served_sample"].startswith("the python interpreter ")
    saved_model = Path(figures["saved_model"])
    assert saved_model == output / "saved_model" / "2" and (saved_model / "saved_model.pb").is_file()
    assert (output / "saved_model" / "1" / "saved_model.pb").read_bytes() == b"an earlier run's"

    # The checkpoint reloads as the model that was measured: its held-out loss gives the same perplexity.
    from gpt_keras import OpenAIGPTTokenizer, TFOpenAIGPTLMHeadModel
    from gpt_keras.quickstart import REDUCED, pack_blocks

    checkpoint = Path(figures["checkpoint"])
    model = TFOpenAIGPTLMHeadModel.from_pretrained(checkpoint)
    tokenizer = OpenAIGPTTokenizer.from_pretrained(checkpoint)
    held_out = pack_blocks(tokenizer, load_corpus()[1], REDUCED["block_size"])
    losses = [float(model(blocks, labels=blocks)["loss"]) for blocks in np.array_split(held_out, 4)]
    sizes = [len(blocks) for blocks in np.array_split(held_out, 4)]
    assert math.exp(np.average(losses, weights=sizes)) == pytest.approx(figures["perplexity"], rel=1e-3)


def test_the_prose_filter_keeps_sentences_and_drops_code_tables_and_identifiers():
    text = """The "for" statement is used to iterate over the elements of a sequence, such as a list.

   for_stmt ::= "for" target_list "in" starred_list ":" suite

Objects define **__enter__()** and **__exit__()** methods that the statement calls in turn.

+----------+--------------------------+
| Operator | Description              |
+----------+--------------------------+

Return the number of items in the container, an int >= 0 or None:

>>> len([1, 2, 3]) returns three items for this list here

os.path.join(a, *p) str.format_map(mapping) dict.fromkeys(iterable[, value]) list.sort(key=None)

short sentence here.

The **PEP 572** operator binds a name in the closest containing scope, as "global" does?"""
    assert prose_paragraphs(text) == [
        'The "for" statement is used to iterate over the elements of a sequence, such as a list.',
        'The PEP 572 operator binds a name in the closest containing scope, as "global" does?',
    ]


def test_the_corpus_holds_out_every_tenth_document_and_no_paragraph_is_in_both(tmp_path):
    train, held_out = load_corpus()
    assert len(held_out) > 100 and 5 < len(train) / len(held_out) < 20
    assert not set(train) & set(held_out) and len(set(train)) == len(train)
    words = sum(len(text.split()) for text in train + held_out)
    assert words > 50_000  # the pydoc topics alone hold about 19,000 words of prose
    assert sum("_" in text for text in train) < len(train) / 10  # the sign of code that the old corpus was full of

    library = tmp_path / "lib"
    (library / "test").mkdir(parents=True)
    (library / "mod.py").write_text(
        '"""Module to read lists of files from a directory in order."""\n'
        "class Reader:\n"
        '    """A reader of the files that one directory holds, in the order of their names."""\n'
        "    def read(self):\n"
        '        """Read the next file and return its contents as a string of text."""\n'
    )
    (library / "test" / "test_mod.py").write_text('"""Tests of the module that reads the files of a directory."""\n')
    (library / "broken.py").write_text("def (:\n")
    # The test directory is skipped, and so is a file that does not parse.
    expected = [
        "Module to read lists of files from a directory in order.",
        "A reader of the files that one directory holds, in the order of their names.",
        "Read the next file and return its contents as a string of text.",
    ]
    assert docstring_documents(library) == [("mod.py", expected)]

