"""The peers, timed in their own interpreters in the same run as ours: the reference (transformers) and
keras-hub. This project never imports either; each script below runs in the Python given on the command
line, reads its request as JSON on stdin and prints its figures as JSON on its last line.

The peers get the same work as ours: GPT's sizes (12 layers, 768 wide, 12 heads, vocabulary 40478,
512 positions), random weights, float32, the same shapes. Where a peer has more than one way to run (XLA
or TF graph), each is timed and the faster is the figure: the ratios are to the peer at its best.
"""
import json
import os
import subprocess

DEFAULT_REFERENCE_PYTHON = "/work/refvenv/bin/python"  # transformers + torch
DEFAULT_REFERENCE_TF_PYTHON = "/work/reftfvenv/bin/python"  # transformers + tensorflow + tf-keras
DEFAULT_KERAS_HUB_PYTHON = "/work/khvenv/bin/python"  # keras-hub + tensorflow

_STEP_TIMER = r"""
class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []
    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()
    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # wait for the step
        self.times.append(time.perf_counter() - self._start)

def tokens_per_second(timer, request):
    timed = timer.times[request["warmup"]:]
    return request["batch"] * request["seq"] * len(timed) / sum(timed)
"""

# The reference's TF port under tf-keras, trained the way its docs do: internal loss (labels in the
# input dict, no `loss=` to compile) and its own AdamWeightDecay with warm-up (`create_optimizer`).
REFERENCE_TF_FIT = r"""
import json, sys, time
import numpy as np, tensorflow as tf
import tf_keras as keras
from transformers import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel, create_optimizer
""" + _STEP_TIMER + r"""
request = json.load(sys.stdin)
steps = request["steps"] + request["warmup"]
keras.utils.set_random_seed(0)
model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig())
ids = np.random.default_rng(0).integers(0, 40478, (steps * request["batch"], request["seq"])).astype(np.int32)
optimizer, _ = create_optimizer(6.25e-5, num_train_steps=steps, num_warmup_steps=1, weight_decay_rate=0.01)
model.compile(optimizer=optimizer, jit_compile=request["jit"])
timer = StepTimes()
model.fit({"input_ids": ids, "labels": ids}, batch_size=request["batch"], epochs=1, shuffle=False, callbacks=[timer], verbose=0)
print(json.dumps({"tokens_per_second": tokens_per_second(timer, request)}))
"""

_KERAS_HUB_MODEL = r"""
import json, sys, time
import numpy as np, keras, keras_hub
request = json.load(sys.stdin)
keras.utils.set_random_seed(0)
backbone = keras_hub.models.GPT2Backbone(
    vocabulary_size=40478, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
    max_sequence_length=512,
)
model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
"""

# keras-hub's GPT-2 at GPT's sizes, trained as its docs do with preprocessing detached: next-token
# targets as y, the padding mask as sample weight, its default loss and metrics.
KERAS_HUB_FIT = _KERAS_HUB_MODEL + _STEP_TIMER + r"""
steps = request["steps"] + request["warmup"]
ids = np.random.default_rng(0).integers(0, 40478, (steps * request["batch"], request["seq"] + 1)).astype(np.int32)
x = {"token_ids": ids[:, :-1], "padding_mask": np.ones_like(ids[:, :-1], bool)}
model.compile(optimizer=keras.optimizers.AdamW(6.25e-5, weight_decay=0.01), jit_compile=request["jit"])
timer = StepTimes()
model.fit(x, ids[:, 1:], sample_weight=x["padding_mask"], batch_size=request["batch"], epochs=1, shuffle=False, callbacks=[timer], verbose=0)
print(json.dumps({"tokens_per_second": tokens_per_second(timer, request)}))
"""

# keras-hub's greedy sampler (XLA-compiled, cached) with preprocessing detached: the prompt is the
# first `prompt` tokens of a `prompt + new` row, and it generates until the row is full.
KERAS_HUB_GENERATE = _KERAS_HUB_MODEL + r"""
model.compile(sampler="greedy")
batch, prompt, new = request["batch"], request["prompt"], request["new"]
ids = np.zeros((batch, prompt + new), np.int32)
ids[:, :prompt] = np.random.default_rng(0).integers(0, 40000, (batch, prompt))
mask = np.zeros_like(ids, bool)
mask[:, :prompt] = True
inputs = {"token_ids": ids, "padding_mask": mask}
model.generate(inputs, stop_token_ids=None)
best = float("inf")
for _ in range(request["repeat"]):
    start = time.perf_counter()
    model.generate(inputs, stop_token_ids=None)
    best = min(best, time.perf_counter() - start)
print(json.dumps({"tokens_per_second": batch * new / best}))
"""


def run_peer(python, script, **request):
    """The JSON figures `script` prints when run in `python` with `request` on stdin."""
    result = subprocess.run([python, "-c", script], input=json.dumps(request), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"peer script failed in {python}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def available(python):
    """True when `python` names an interpreter that exists (an empty string means: do not time that peer)."""
    return bool(python) and os.path.exists(python)


def best_of_modes(python, script, **request):
    """The faster of XLA and TF graph for a peer that can run either: (tokens/s, mode)."""
    figures = {}
    for jit in (True, False):
        figures["xla" if jit else "graph"] = run_peer(python, script, jit=jit, **request)["tokens_per_second"]
    mode = max(figures, key=figures.get)
    return figures[mode], mode, figures
