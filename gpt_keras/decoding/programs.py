"""The compiled generation programs: prefill and the token loop as one XLA function of tensors.

The token loop is `run_loop`, or `run_prompt_lookup` when `options.prompt_lookup_num_tokens` is set.
`build_generate_fn` is the traceable core that the export wraps (`tf.Module` / SavedModel);
`build_stream_fns` splits it into a prefill and a decode-a-chunk function for streaming.
`CompiledPrograms` keeps one model's programs, keyed by (kind, max_length, options), and runs requests.
"""
import tensorflow as tf

from gpt_keras.decoding.config import DecodingControls, DecodingOptions
from gpt_keras.decoding.loop import cast_controls, prefill, run_loop
from gpt_keras.decoding.prompt_lookup import PromptLookupSearch, run_prompt_lookup
from gpt_keras.decoding.strategies import TokenSearch, search_strategy


def _search(options, controls, stream=False):
    """`(strategy, run)`: the search of `options` and the loop that runs it (`run_loop` unless prompt lookup)."""
    if options.prompt_lookup_num_tokens:
        return PromptLookupSearch(options, controls), run_prompt_lookup
    return (TokenSearch(options, controls) if stream else search_strategy(options, controls)), run_loop


def build_generate_fn(model, max_length, options=DecodingOptions(), jit_compile=True, on_trace=None):
    """The generation program: prefill and the whole token loop, as one function of tensors.

    Args:
        model: A `TFOpenAIGPTLMHeadModel` or `TFOpenAIGPTDoubleHeadsModel`.
        max_length: Cache / output slots: the prompt width plus room for every new token.
        options: `DecodingOptions` (fixed in the program).
        jit_compile: Wrap in `tf.function(jit_compile=True)`; False returns the plain Python function,
            which runs eagerly (same results, e.g. for debugging).
        on_trace: Optional callable run each time the function is traced (counts compilations).

    Returns:
        `fn(input_ids, attention_mask, max_new_tokens, temperature, top_k, top_p, seed, do_sample,
        min_new_tokens=0, token_type_ids=None)` taking int32 (batch, prompt_len) ids and mask (every row with a real token,
        prompt_len + max_new_tokens <= max_length), int32 scalars `max_new_tokens`, `top_k`, `seed`,
        `min_new_tokens`, float32 `temperature`, `top_p`, bool `do_sample` and optional int32
        (batch, prompt_len) `token_type_ids` (with `options.token_types`); returning
        `{"sequences": (rows, max_length) int32, "num_generated": int32 scalar, "num_steps": int32
        scalar}`, rows = batch * num_return_sequences for beam search. Slots `[prompt_len, prompt_len +
        num_generated)` hold the new tokens. With `options.return_dict_in_generate`, also what the
        options ask for: `scores` / `logits` (rows searched, max_length - prompt_len, vocab) float32 of
        the first `num_steps` steps, and for beam search `beam_indices` and `sequences_scores`.

    Example:
        >>> fn = build_generate_fn(model, 64)
        >>> out = fn(ids, mask, tf.constant(20), tf.constant(1.0), tf.constant(0), tf.constant(1.0),
        ...          tf.constant(0), tf.constant(False))
    """

    def generate_fn(
        input_ids,
        attention_mask,
        max_new_tokens,
        temperature,
        top_k,
        top_p,
        seed,
        do_sample,
        min_new_tokens=0,
        token_type_ids=None,
    ):
        if on_trace is not None:
            on_trace()
        controls = DecodingControls(max_new_tokens, temperature, top_k, top_p, seed, do_sample, min_new_tokens)
        controls = cast_controls(controls)
        strategy, run = _search(options, controls)
        if token_type_ids is not None:
            token_type_ids = tf.cast(token_type_ids, tf.int32)
        state = prefill(
            model, tf.cast(input_ids, tf.int32), tf.cast(attention_mask, tf.int32), max_length, options, token_type_ids
        )
        state = run(model, strategy.start(model, state), strategy, controls.max_new_tokens)
        sequences, num_generated = strategy.finish(state)
        return {"sequences": sequences, "num_generated": num_generated, **strategy.extra_outputs(state)}

    return tf.function(generate_fn, jit_compile=True) if jit_compile else generate_fn


def build_stream_fns(model, max_length, options=DecodingOptions(), on_trace=None):
    """Compiled prefill and decode-a-chunk functions for streaming (greedy / sampling only).

    Chunks continue exactly where the last one stopped (cache, positions and the RNG stream), so the
    concatenated chunks equal one `generate` call.

    Returns:
        `(prefill_fn(input_ids, attention_mask) -> state, decode_fn(state, num_steps, controls) -> state)`
        with `DecodingState` states and `DecodingControls` of tensors;
        `state.tokens[:, prompt_len:prompt_len + state.step]` are the tokens so far.
    """

    def prefill_fn(input_ids, attention_mask):
        if on_trace is not None:
            on_trace()
        strategy, _ = _search(options, None, stream=True)
        return strategy.start(model, prefill(model, input_ids, attention_mask, max_length, options))

    def decode_fn(state, num_steps, controls):
        if on_trace is not None:
            on_trace()
        stop = tf.minimum(state.step + num_steps, controls.max_new_tokens)
        strategy, run = _search(options, controls, stream=True)
        return run(model, state, strategy, stop)

    return tf.function(prefill_fn, jit_compile=True), tf.function(decode_fn, jit_compile=True)


class CompiledPrograms:
    """The compiled generation programs of one model, keyed by (kind, max_length, options); counts traces.

    Args:
        model: The model the programs run.
    """

    def __init__(self, model):
        self.model = model
        self.functions = {}
        self.trace_count = 0

    def count_trace(self):
        self.trace_count += 1

    def _program(self, kind, max_length, options):
        key = (kind, max_length, options)
        if key not in self.functions:
            build = build_generate_fn if kind == "generate" else build_stream_fns
            self.functions[key] = build(self.model, max_length, options, on_trace=self.count_trace)
        return self.functions[key]

    def program(self, kind, max_length, options):
        """The compiled program of `kind` ("generate" or "stream") for a cache of `max_length` slots."""
        return self._program(kind, max_length, options)

    def generate(self, request):
        """Runs a `Request`; numpy (rows, prompt width + new tokens) int32 sequences."""
        return self.run(request)["sequences"]

    def run(self, request):
        """Runs a `Request`; {"sequences": as `generate` returns them, and with `return_dict_in_generate`
        numpy "scores" / "logits" (steps, rows searched, vocab), "beam_indices" (rows, new tokens) and
        "sequences_scores" (rows,) as the options ask}."""
        generate_fn = self._program("generate", request.max_length, request.options)
        types = () if request.token_type_ids is None else (tf.constant(request.token_type_ids),)
        controls = cast_controls(request.controls)
        outputs = generate_fn(tf.constant(request.input_ids), tf.constant(request.attention_mask), *controls, *types)
        prompt_bucket, generated = request.input_ids.shape[1], int(outputs["num_generated"])
        first = prompt_bucket - request.prompt_width
        results = {"sequences": outputs["sequences"].numpy()[:, first : prompt_bucket + generated]}
        for name in ("scores", "logits", "inputs"):
            if name in outputs:
                results[name] = outputs[name].numpy()[:, : int(outputs["num_steps"])].swapaxes(0, 1)
        if "beam_indices" in outputs:
            results["beam_indices"] = outputs["beam_indices"].numpy()[:, :generated]
        if "sequences_scores" in outputs:
            results["sequences_scores"] = outputs["sequences_scores"].numpy()
        return results

    def stream(self, request, chunk_size):
        """Yields the new tokens of a `Request`, `chunk_size` steps per compiled call."""
        prefill_fn, decode_fn = self._program("stream", request.max_length, request.options)
        state = prefill_fn(tf.constant(request.input_ids), tf.constant(request.attention_mask))
        controls = cast_controls(request.controls)
        prompt_bucket, done = request.input_ids.shape[1], 0
        num_steps = tf.constant(int(chunk_size), tf.int32)
        while done < request.max_new_tokens:
            state = decode_fn(state, num_steps, controls)
            step = int(state.step)
            if step == done:
                return
            yield state.tokens.numpy()[:, prompt_bucket + done : prompt_bucket + step]
            done = step
            if bool(tf.reduce_all(state.finished)):
                return
