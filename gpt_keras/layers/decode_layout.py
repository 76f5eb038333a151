"""Batch-1 decoding reads the block kernels from (out, in) copies made at the start of each long compiled decode.

Why: decoding one sequence, every projection of a step is a matrix-vector product, which XLA's CPU
runtime hands to Eigen, on one thread. For a kernel stored (in, out), the layout of Keras and of the
checkpoints, Eigen runs its column-major product; for an (out, in) kernel its row-major one, which
streams the weights faster. Measured on a 2-core AMD EPYC (Zen 5) VM, idle, full-size float32, one
model and its weights, the two programs interleaved (15 runs each, medians): a decoding step 1.06 ms
(8%) shorter with the copies, and greedy 32 -> +128 at 76.7 instead of 72.4 tokens/s (+6%; 73.6 vs
70.8 with XLA capped to AVX2). The tied LM head reads the token embedding, already (vocab, n_embd).

How: a compiled forward (inside `tf.function`, as every generation program runs) of one sequence into
a cache that has no copies and room for at least `MIN_NEW_TOKENS` new tokens, i.e. the prefill of such
a decode, appends to each layer's cache entry its block's `decode_kernels()`: the four projection
kernels transposed, in the compute dtype, LoRA included. The token loop carries them with the keys and
values, and the forwards that feed one token of one sequence read them. Forwards of several rows (the
prefill itself, batches, beams, drafted tokens) read the kernels as stored: Eigen then runs a
matrix-matrix product on every thread, which is faster from the stored layout (8 rows: the block
products ~1.4x slower from the copies). Caches are reordered (beams, contrastive candidates) by their
keys and values; the copies, shared by every row, stay as they are. A beam search of one prompt thus
carries copies that none of its forwards reads, and XLA drops them: its optimized program has none of
the transposes.

Never stale: each call's prefill makes the copies from the variables and its cache drops them, so
whatever changed the weights before a call (fit, an optimizer step, set_weights, load_weights, an
assignment, quantize, LoRA) is what the call reads, and nothing is retraced for it. A stream reads the
copies of its own prefill, as it reads its keys and values.

Cost: memory: one copy of the block kernels (340 MB for the full-size float32 model, 12 layers x 7.1M
values x 4 bytes; half that under a bfloat16 policy) exists only while such a decode runs, inside a
generate call or held by a stream between its chunks. A model that never generates holds nothing, and
nor does one between calls. Time: the transposes take ~35 ms per call, which ~35 tokens earn back
(at +20 tokens the copies made the call 4% slower): hence `MIN_NEW_TOKENS`. A stream also copies them
once per chunk (XLA copies a program's unchanged outputs). Quantized projections (int8, int4, float8,
GPTQ, AWQ) compute as they are, without a copy, and eager calls read the kernels as stored, as does
the exported `generate` signature (its prompts have no static batch or width to decide by).
"""
import tensorflow as tf

# Making the copies costs what ~35 tokens save (see above). A generation program's room for new tokens
# is a power of two, and from 64 on its decodes (33 tokens or more) earn the copies back.
MIN_NEW_TOKENS = 64


def with_decode_kernels(blocks, cache, inputs, cache_index):
    """`cache` with each layer's entry extended by its block's `decode_kernels()`, when a compiled
    program (not an eager call) starts decoding one sequence: `inputs` (1, seq, ...) written from slot
    0 (the Python int, as a prefill writes them) into a cache that carries no copies and has room for
    `MIN_NEW_TOKENS` after them. Else `cache` as it is, so that a token loop's cache keeps its structure."""
    starts = type(cache_index) is int and cache_index == 0
    if tf.executing_eagerly() or not starts or any(len(layer) > 2 for layer in cache):
        return cache
    batch, seq = tuple(inputs.shape)[:2]
    slots = cache[0][0].shape[1]
    if batch != 1 or seq is None or slots is None or slots - seq < MIN_NEW_TOKENS:
        return cache
    return tuple((keys, values, block.decode_kernels()) for (keys, values), block in zip(cache, blocks))


def map_keys_values(cache, function):
    """`cache` with `function` applied to each layer's keys and values; the decode kernels a layer's
    entry may carry after them are shared by every row and stay as they are."""
    return tuple((function(layer[0]), function(layer[1])) + tuple(layer[2:]) for layer in cache)


def reads_decode_kernels(hidden_states):
    """Whether a cached forward of `hidden_states` (batch, seq, width) reads the decode kernels: when it
    feeds one token of one sequence (a matrix-vector product per projection)."""
    batch, seq = hidden_states.shape[0], hidden_states.shape[1]
    return batch == 1 and seq == 1
