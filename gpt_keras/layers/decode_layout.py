"""Batch-1 decoding reads the block kernels from (out, in) copies that each compiled decode makes at its start.

Why: decoding one sequence, every projection of a step is a matrix-vector product, which XLA's CPU
runtime hands to Eigen, on one thread. For a kernel stored (in, out), the layout of Keras and of the
checkpoints, Eigen runs its column-major product; for an (out, in) kernel its row-major one, which
reads GPT's block kernels (768 x 768 to 3072 x 768) ~1.5x faster on the machine measured (2-core AMD
EPYC Zen 5 VM: the 48 block products of a step at 32 vs 22 GB/s). Whole decodes, full-size float32,
32 -> +128 greedy, same run, idle machine: 71 -> 82 tokens/s with the copies made per call as below
(+14%; 68 -> 77 at +20 tokens). The tied LM head reads the token embedding, already (vocab, n_embd).

How: a compiled forward (inside `tf.function`, as every generation program runs) of one sequence into
a cache that has no copies, i.e. the prefill, appends to each layer's cache entry its block's
`decode_kernels()`: the four projection kernels transposed, in the compute dtype, LoRA included. The
token loop carries them with the keys and values, and the forwards that feed one token of one sequence
read them. Forwards of several rows (the prefill itself, batches, beams, drafted tokens) read the
kernels as stored: Eigen then runs a matrix-matrix product on every thread, and that one is faster
from the stored layout (8 rows: the block products at 17 vs 15 GB/s).

Never stale: each call's prefill makes the copies from the variables and its cache drops them, so
whatever changed the weights before a call (fit, an optimizer step, set_weights, load_weights, an
assignment, quantize, LoRA) is what the call reads, and nothing is retraced for it. A stream reads the
copies of its own prefill, as it reads its keys and values.

Cost: memory: one copy of the block kernels (340 MB for the full-size float32 model, 12 layers x 7.1M
values x 4 bytes; half that under a bfloat16 policy) exists only while a batch-1 decode runs, inside a
generate call or held by a stream between its chunks. A model that never generates holds nothing, and
nor does one between calls. Time: the transposes take ~20-45 ms per call (two to four tokens' worth
with the stored layout), which the first tokens earn back; a stream also copies them once per chunk
(XLA copies a program's unchanged outputs), which 8-token chunks about earn back. Quantized projections
(int8, int4, float8, GPTQ, AWQ) compute as they are, without a copy, and eager calls read the kernels
as stored.
"""
import tensorflow as tf


def with_decode_kernels(blocks, cache, inputs):
    """`cache` with each layer's entry extended by its block's `decode_kernels()`, when a compiled
    program (not an eager call) starts decoding one sequence (`inputs` (1, seq, ...)) into a cache that
    carries none yet; else `cache` as it is."""
    batch = inputs.shape[0] if hasattr(inputs, "shape") else None
    if tf.executing_eagerly() or batch != 1 or any(len(layer) > 2 for layer in cache):
        return cache
    return tuple((keys, values, block.decode_kernels()) for (keys, values), block in zip(cache, blocks))


def reads_decode_kernels(hidden_states):
    """Whether a cached forward of `hidden_states` (batch, seq, width) reads the decode kernels: when it
    feeds one token of one sequence (a matrix-vector product per projection)."""
    batch, seq = hidden_states.shape[0], hidden_states.shape[1]
    return batch == 1 and seq == 1
