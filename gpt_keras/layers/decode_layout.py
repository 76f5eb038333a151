"""Batch-1 decoding reads the block kernels from (out, in) copies that a compiled decode makes at its start.

PLACEHOLDER docstring: measurements go here.
"""
import tensorflow as tf


def with_decode_kernels(blocks, cache, inputs):
    """`cache` with each layer's entry extended by its block's `decode_kernels()`, when a compiled
    program (not an eager call) starts decoding one sequence (`inputs` (1, seq, ...)) into a cache that
    carries none yet; else `cache` as it is."""
    if tf.executing_eagerly() or inputs.shape[0] != 1 or any(len(layer) > 2 for layer in cache):
        return cache
    return tuple((keys, values, block.decode_kernels()) for (keys, values), block in zip(cache, blocks))


def reads_decode_kernels(hidden_states):
    """Whether a cached forward of `hidden_states` (batch, seq, width) reads the decode kernels: when it
    feeds one token of one sequence (a matrix-vector product per projection)."""
    batch, seq = hidden_states.shape[0], hidden_states.shape[1]
    return batch == 1 and seq == 1
