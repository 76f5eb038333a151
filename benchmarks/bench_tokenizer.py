"""Tokenizer speed: tokens/s of gpt_keras's OpenAIGPTTokenizer in both modes, against the reference, and
of the in-graph tokenizer (``OpenAIGPTTokenizerLayer``) through ``tf.data`` against the Python one.

Corpus: the paragraphs of Python's own documentation (``pydoc_data.topics``, ~0.8 MB of English prose
with code), each encoded once by a fresh tokenizer (cold cache). When a Python with ``transformers`` is
given (``--reference-python``, default ``/work/refvenv/bin/python`` if it exists), the reference
``OpenAIGPTTokenizer`` encodes the same texts in that interpreter (this project never imports it), the
ids are compared text by text and the speed ratio is printed.

The in-graph tokenizer runs in the same process as the Python one, right after it: batches of
``--batch-size`` texts through ``Dataset.map(layer.tokenize, num_parallel_calls=AUTOTUNE)``. Its clock
starts once the dataset's iterator exists (making one optimizes and instantiates the map function, a
one-time cost printed apart, like the Python tokenizer's loading); its ids are compared with the
Python tokenizer's, text by text.

    python benchmarks/bench_tokenizer.py [--vocab-dir ../shared/openai-gpt-vocab] [--repeat 3]
"""
import argparse
import hashlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VOCAB = Path(os.environ.get("GPTK_SHARED", REPO_ROOT.parent / "shared")) / "openai-gpt-vocab"
DEFAULT_REFERENCE_PYTHON = "/work/refvenv/bin/python"

# Runs in the reference's interpreter: reads the corpus and the mode from stdin, prints timing + ids.
REFERENCE_SCRIPT = r"""
import json, sys, time, hashlib, logging
logging.disable(logging.WARNING)
request = json.load(sys.stdin)
from transformers import OpenAIGPTTokenizer
import transformers.models.openai.tokenization_openai as module
if request["mode"] == "basic":
    # The reference falls back to BasicTokenizer when ftfy or spaCy cannot be imported.
    sys.modules["ftfy"] = None
best = None
for _ in range(request["repeat"]):
    tokenizer = OpenAIGPTTokenizer(request["vocab"], request["merges"])
    assert (tokenizer.fix_text is None) == (request["mode"] == "basic")
    start = time.perf_counter()
    ids = [tokenizer.encode(text) for text in request["texts"]]
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
print(json.dumps({"seconds": best, "digests": [hashlib.sha1(json.dumps(i).encode()).hexdigest() for i in ids],
                  "tokens": sum(map(len, ids))}))
"""


def corpus():
    """Paragraphs of Python's documentation topics (English prose and code), in a fixed order."""
    from pydoc_data.topics import topics

    paragraphs = []
    for name in sorted(topics):
        paragraphs.extend(p.strip() for p in topics[name].split("\n\n") if p.strip())
    return paragraphs


def digest(ids):
    return hashlib.sha1(json.dumps(ids).encode()).hexdigest()


def bench_ours(texts, vocab_dir, mode, repeat):
    from gpt_keras.tokenization import OpenAIGPTTokenizer

    best = None
    for _ in range(repeat):
        # Like the reference, which loads spaCy in its constructor, load it before the clock starts.
        tokenizer = OpenAIGPTTokenizer(vocab_dir / "vocab.json", vocab_dir / "merges.txt", pre_tokenizer=mode)
        tokenizer.preload()
        start = time.perf_counter()
        ids = [tokenizer.encode(text) for text in texts]
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, ids


def cpu_model():
    """The CPU's model name and the number of cores this process may use."""
    name = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            name = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores"


def bench_in_graph(texts, vocab_dir, repeat, batch_size):
    """Best seconds of the in-graph tokenizer through tf.data, its ids, and the seconds its iterator took."""
    import tensorflow as tf

    from gpt_keras.tokenization import OpenAIGPTTokenizer, OpenAIGPTTokenizerLayer

    tokenizer = OpenAIGPTTokenizer(vocab_dir / "vocab.json", vocab_dir / "merges.txt", pre_tokenizer="basic")
    layer = OpenAIGPTTokenizerLayer(tokenizer)
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(batch_size)
    dataset = dataset.map(layer.tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    best = setup = None
    for _ in range(repeat + 1):  # the first pass traces and warms up
        started = time.perf_counter()
        iterator = iter(dataset)
        ready = time.perf_counter()
        batches = list(iterator)
        elapsed = time.perf_counter() - ready
        setup = ready - started if setup is None else min(setup, ready - started)
        best = elapsed if best is None else min(best, elapsed)
    ids = [row for batch in batches for row in batch.to_list()]
    return best, ids, setup


def bench_reference(python, texts, vocab_dir, mode, repeat):
    request = {
        "texts": texts,
        "mode": mode,
        "repeat": repeat,
        "vocab": str(vocab_dir / "vocab.json"),
        "merges": str(vocab_dir / "merges.txt"),
    }
    result = subprocess.run(
        [python, "-c", REFERENCE_SCRIPT], input=json.dumps(request), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-dir", type=Path, default=DEFAULT_VOCAB)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    parser.add_argument("--modes", nargs="+", default=["basic", "spacy_ftfy"])
    parser.add_argument("--batch-size", type=int, default=1024, help="texts per batch of the in-graph tokenizer")
    parser.add_argument("--no-in-graph", action="store_true", help="do not time the in-graph tokenizer")
    parser.add_argument(
        "--reference-python",
        default=DEFAULT_REFERENCE_PYTHON if os.path.exists(DEFAULT_REFERENCE_PYTHON) else None,
        help="a Python with transformers installed (omit to skip the comparison)",
    )
    args = parser.parse_args(argv)
    texts = corpus()
    print(f"corpus: {len(texts)} paragraphs of pydoc_data.topics, {sum(map(len, texts)) / 1e6:.2f} M characters")
    print(f"CPU: {cpu_model()}")
    rows = []
    for mode in args.modes:
        seconds, ids = bench_ours(texts, args.vocab_dir, mode, args.repeat)
        tokens = sum(map(len, ids))
        line = f"{mode:>10}: ours {tokens / seconds:>9,.0f} tokens/s ({tokens} tokens in {seconds:.2f} s)"
        row = dict(benchmark="tokenizer (cold cache)", setting=mode, tokens_per_second=tokens / seconds, limit="")
        if args.reference_python:
            reference = bench_reference(args.reference_python, texts, args.vocab_dir, mode, args.repeat)
            same = sum(a == b for a, b in zip(map(digest, ids), reference["digests"]))
            line += (
                f" | reference {reference['tokens'] / reference['seconds']:>9,.0f} tokens/s"
                f" | {reference['seconds'] / seconds:.2f}x | identical ids on {same}/{len(texts)} texts"
            )
            row["reference"] = f"{reference['seconds'] / seconds:.2f}x, identical on {same}/{len(texts)}"
        print(line, flush=True)
        rows.append(row)
        if mode == "basic" and not args.no_in_graph:
            rows.append(report_in_graph(texts, ids, seconds, args))
    return rows


def report_in_graph(texts, python_ids, python_seconds, args):
    """Times the in-graph tokenizer (same run, right after the Python one) and prints its line."""
    seconds, ids, setup = bench_in_graph(texts, args.vocab_dir, args.repeat, args.batch_size)
    tokens = sum(map(len, ids))
    same = sum(a == b for a, b in zip(ids, python_ids))
    ratio = python_seconds / seconds
    print(
        f"  in-graph: {tokens / seconds:>9,.0f} tokens/s through tf.data ({tokens} tokens in {seconds:.2f} s; "
        f"iterator setup {setup:.2f} s) | {ratio:.2f}x the Python tokenizer in basic mode | identical ids on "
        f"{same}/{len(texts)} texts",
        flush=True,
    )
    return dict(
        benchmark="tokenizer, in-graph via tf.data",
        setting=f"basic, batches of {args.batch_size}",
        tokens_per_second=tokens / seconds,
        limit="",
        reference=f"{ratio:.2f}x the Python tokenizer, identical on {same}/{len(texts)}",
    )


if __name__ == "__main__":
    main()
