"""Text generation for the LM models: KV-cached greedy, sampling and beam search decoding under XLA.

The whole decode (prefill of the prompt, then the token loop) is one `tf.function(jit_compile=True)`
over a key/value cache of fixed size. Prompts are padded (on the left) to a bucket length and the cache
to a bucket of new tokens, so calls whose lengths fall in the same buckets run the same compiled
program; the number of new tokens, temperature, top-k, top-p, the seed and greedy-versus-sampling are
tensors, not constants of the program.

Padded prompts work either way round: `attention_mask` says which cache slots are real, and each
token's position counts the real tokens before it, so a prompt gives the same tokens in any batch.

Semantics follow the reference (`transformers` 4.57 `generate`): its option names and defaults,
logits processors in its order (repetition penalty, no-repeat n-grams, bad words, minimum length, then
for sampling temperature, top-k, top-p), its output objects (`return_dict_in_generate`), its beam
search (scores of finished hypotheses divided by `new_length ** length_penalty`,
`early_stopping` False / True / "never"), finished rows filled with `pad_token_id`. Deliberate
differences: sampling draws from a counter-based hash of (seed, step) (same seed, same text; not
torch's stream); positions come from `attention_mask` (the reference counts padding as positions, so
its padded prompts differ from unpadded ones); padding tokens never count as repeated tokens, n-grams
or bad-word prefixes; `use_cache` changes nothing (decoding always uses the cache).

The rooms:

- `config`: `GenerationConfig` (every option, one `validate()`), `DecodingOptions` (fixed in a compiled
  program), `DecodingControls` (its runtime tensors). No TensorFlow.
- `unsupported`: the reference's keywords that are refused by name (accepted at their off values).
- `processors`: the logits processors and warpers, pure functions of scores.
- `loop`: the `DecodingState`, `prefill` and `run_loop`, the one token loop (while-loop and cache feed).
- `strategies`: `TokenSearch` (greedy / sampling) and `BeamSearch` over `run_loop`.
- `programs`: `build_generate_fn` (the traceable core the export wraps), `build_stream_fns`, and
  `CompiledPrograms`, a model's programs keyed by (kind, max_length, options).
- `request`: a call's checked, bucketed inputs; `text`: prompts in, text out; `outputs`: the output
  objects of `return_dict_in_generate`; `mixin`: `GenerationMixin`.

Names are imported on first use, so that `gpt_keras.decoding.config` does not import TensorFlow.
"""
from gpt_keras._lazy import lazy_exports

_EXPORTS = {
    "GenerationConfig": "config",
    "DecodingOptions": "config",
    "DecodingControls": "config",
    "Bound": "config",
    "FILLER_TOKEN_ID": "config",
    "check_early_stopping": "config",
    "eos_and_pad_ids": "config",
    "process_scores": "processors",
    "warp_scores": "processors",
    "DecodingState": "loop",
    "prefill": "loop",
    "forward_tokens": "loop",
    "run_loop": "loop",
    "TokenSearch": "strategies",
    "BeamSearch": "strategies",
    "BeamState": "strategies",
    "build_generate_fn": "programs",
    "build_stream_fns": "programs",
    "CompiledPrograms": "programs",
    "bucket_length": "request",
    "prepare_request": "request",
    "GenerationMixin": "mixin",
    "GenerateDecoderOnlyOutput": "outputs",
    "GenerateBeamDecoderOnlyOutput": "outputs",
    "record_step": "loop",
    "UnusedKeywordError": "unsupported",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {name: f".{module}" for name, module in _EXPORTS.items()})
