"""`gpt-keras quickstart --reduced` end to end through the console script: corpus, BPE, training,
perplexity against the unigram baseline, loss curve, samples, SavedModel served in a fresh process."""
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def test_reduced_quickstart_end_to_end(tmp_path):
    script = Path(sys.executable).with_name("gpt-keras")
    output = tmp_path / "qs"
    # As if a first run had exported already: a rerun adds the next version and keeps the old one.
    (output / "saved_model" / "1").mkdir(parents=True)
    (output / "saved_model" / "1" / "saved_model.pb").write_bytes(b"an earlier run's")
    done = subprocess.run(
        # A relative --output, as a user types it (the README's command uses the default, relative too).
        [str(script), "quickstart", "--reduced", "--output", "qs"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for stage in range(1, 7):
        assert f"[{stage}/6]" in done.stdout

    figures = json.loads((output / "figures.json").read_text())
    # Even a few seconds of training beat add-one unigram frequencies on held-out text
    # (about 60 against 200 in this run's sizes).
    assert math.isfinite(figures["perplexity"]) and 1 < figures["perplexity"] < figures["unigram_perplexity"]
    assert figures["steps"] > 10

    png = Path(figures["loss_curve"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 100 and height > 100 and len(png) > 1000

    samples = figures["samples"]
    assert len(samples) == 3 and all(isinstance(sample, str) for sample in samples)
    assert isinstance(figures["served_sample"], str) and figures["served_sample"].startswith("the python interpreter ")
    saved_model = Path(figures["saved_model"])
    assert saved_model == output / "saved_model" / "2" and (saved_model / "saved_model.pb").is_file()
    assert (output / "saved_model" / "1" / "saved_model.pb").read_bytes() == b"an earlier run's"

    # The checkpoint reloads as the model that was measured: its held-out loss gives the same perplexity.
    from gpt_keras import OpenAIGPTTokenizer, TFOpenAIGPTLMHeadModel
    from gpt_keras.quickstart import REDUCED, load_corpus, pack_blocks

    checkpoint = Path(figures["checkpoint"])
    model = TFOpenAIGPTLMHeadModel.from_pretrained(checkpoint)
    tokenizer = OpenAIGPTTokenizer.from_pretrained(checkpoint)
    held_out = pack_blocks(tokenizer, load_corpus()[1], REDUCED["block_size"])
    losses = [float(model(blocks, labels=blocks)["loss"]) for blocks in np.array_split(held_out, 4)]
    sizes = [len(blocks) for blocks in np.array_split(held_out, 4)]
    assert math.exp(np.average(losses, weights=sizes)) == pytest.approx(figures["perplexity"], rel=1e-3)
