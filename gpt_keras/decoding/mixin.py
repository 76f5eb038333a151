"""`GenerationMixin`: `generate`, `stream`, `generate_text` and `stream_text` for the LM models.

Thin: the options are a `GenerationConfig`, a call becomes a `Request` (`decoding.request`) and runs on
the model's `CompiledPrograms` (`decoding.programs`); text goes through `decoding.text`.

The compiled programs belong to the model as it is: any change of its variables (LoRA, quantization,
a merge, a resized table, layers changed by hand) makes the next call trace anew.
"""
import numpy as np
import tensorflow as tf

from gpt_keras.decoding.config import Bound, GenerationConfig
from gpt_keras.decoding.programs import CompiledPrograms
from gpt_keras.decoding.request import prepare_request
from gpt_keras.decoding.text import decode_continuations, encode_prompts, stream_pieces, with_tokenizer_eos


class GenerationMixin:
    """Adds `generate`, `stream`, `generate_text` and `stream_text` to models that have `transformer`
    (a `TFOpenAIGPT`) and `lm_logits(hidden_states)`; reads `tokenizer` (text in `generate`) when the
    model has one."""

    @property
    def generation_trace_count(self):
        """How many times a generation program was traced (each trace is followed by an XLA compile)."""
        return self._compiled_programs().trace_count

    def forget_compiled_programs(self):
        """Drops the compiled generation programs, so that the next `generate` / `stream` traces anew.

        Called after every structural change (`enable_lora`, `quantize`, `merge_lora`,
        `resize_token_embeddings`, `load_weights`, `compile`); a change of the model's variables made
        any other way is noticed by the next call.
        """
        self.__dict__.pop("_generation_programs", None)

    def _compiled_programs(self):
        # Kept out of Keras' attribute tracking; forget_compiled_programs drops it. The programs hold
        # the variables they were traced with, so no other variable can take the ids of theirs.
        variables = tuple(id(variable) for variable in self.variables)
        held = self.__dict__.get("_generation_programs")
        if held is None or held[0] != variables:
            held = (variables, CompiledPrograms(self))
            self.__dict__["_generation_programs"] = held
        return held[1]

    def generate(
        self,
        input_ids,
        attention_mask=None,
        *,
        max_new_tokens=None,
        max_length=None,
        min_new_tokens=0,
        do_sample=False,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        num_beams=1,
        length_penalty=1.0,
        early_stopping=False,
        num_return_sequences=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        eos_token_id=None,
        pad_token_id=None,
        seed=None,
        prompt_lookup_num_tokens=None,
        max_matching_ngram_size=None,
        truncate_prompt=False,
    ):
        """Generates continuations of token-id prompts: greedy, sampling or beam search.

        Prefill and the token loop run as one XLA program, compiled once per (prompt bucket, length
        bucket, fixed options): lengths are rounded up to powers of two (at least 8), so calls whose
        lengths share buckets reuse it.

        Args:
            input_ids: (batch, seq) ints: the prompts, padded left or right where `attention_mask` is 0.
                Or text, a str or a list of str, with a tokenizer attached as `model.tokenizer`
                (`from_pretrained` attaches the one in its directory): then text is returned.
            attention_mask: (batch, seq) 1 for real tokens, 0 for padding; all ones when None.
            max_new_tokens: How many tokens to generate (at most).
            max_length: Prompt width plus new tokens, used when `max_new_tokens` is None (default 20).
            min_new_tokens: EOS is banned until this many tokens were generated.
            do_sample: Sample instead of taking the most likely token.
            temperature: Logits are divided by it before sampling (> 0).
            top_k: Sample among the k most likely tokens only; 0 disables.
            top_p: Sample among the most likely tokens whose probabilities sum to top_p; 1 disables.
            num_beams: Beam search with this many beams when > 1 (sampled beams with `do_sample`).
            length_penalty: Beam search: finished hypotheses score `sum_logprobs / new_length ** length_penalty`.
            early_stopping: Beam search: False, True or "never", as in the reference.
            num_return_sequences: Sequences returned per prompt (<= num_beams with beam search).
            repetition_penalty: > 1 discourages tokens already present (prompt included, padding not).
            no_repeat_ngram_size: Forbid repeating any n-gram of this size; 0 disables.
            eos_token_id: Int or list of ints ending a sequence; `config.eos_token_id` when None.
            pad_token_id: Fills finished rows; `config.pad_token_id`, else the first EOS id, else 0. Any
                int (-1, or an added token outside the vocabulary): it is written, never fed to the model.
            seed: Int seed of the stateless sampling RNG: the same seed gives the same tokens; random
                when None.
            prompt_lookup_num_tokens: Prompt-lookup decoding: each step drafts up to this many tokens by
                matching the text's last n-gram against the text so far, and checks them in one forward
                pass; the tokens are those of plain decoding (faster when the output repeats the input).
                Greedy or sampling only.
            max_matching_ngram_size: Prompt lookup: the longest n-gram matched (default 2).
            truncate_prompt: When prompt + max_new_tokens exceeds `n_positions`, keep each prompt's last
                tokens instead of raising.

        Returns:
            int32 tensor (batch * num_return_sequences, seq + generated): the prompts as given, then the
            new tokens; rows that ended early are filled with `pad_token_id`, and the width stops at the
            last step any row needed (as the reference returns it). For text: the continuation of a str
            prompt as a str (a list of `num_return_sequences` str when that is > 1), of a list of
            prompts as a list (those of each prompt together), as `generate_text` returns them.

        Raises:
            ValueError: An argument is out of range (the message names it), a prompt is empty, or prompt
                + new tokens exceed `n_positions` without `truncate_prompt`.
            TypeError: Text was given and no tokenizer is attached.

        Example:
            >>> model.generate(np.array([[40477, 249, 3]]), max_new_tokens=20)  # doctest: +SKIP
            >>> model.generate("the cat sat on the", max_new_tokens=20)  # doctest: +SKIP
        """
        keywords = dict(
            max_new_tokens=max_new_tokens,
            max_length=max_length,
            min_new_tokens=min_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            num_beams=num_beams,
            length_penalty=length_penalty,
            early_stopping=early_stopping,
            num_return_sequences=num_return_sequences,
            repetition_penalty=repetition_penalty,
            no_repeat_ngram_size=no_repeat_ngram_size,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            seed=seed,
            prompt_lookup_num_tokens=prompt_lookup_num_tokens,
            max_matching_ngram_size=max_matching_ngram_size,
            truncate_prompt=truncate_prompt,
        )
        if _is_text(input_ids):
            return self._generate_from_text(input_ids, attention_mask, keywords)
        request = prepare_request(self.config, input_ids, attention_mask, GenerationConfig(**keywords))
        return tf.constant(self._compiled_programs().generate(request))

    def _generate_from_text(self, prompts, attention_mask, keywords):
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is None:
            raise TypeError(
                f"{type(self).__name__}.generate got text but has no tokenizer: attach one with"
                " model.tokenizer = OpenAIGPTTokenizer.from_pretrained(...) (from_pretrained attaches the one"
                " in its directory), or call model.generate_text(tokenizer, prompts, ...)"
            )
        if attention_mask is not None:
            raise ValueError("generate: attention_mask is for token ids; text prompts are padded by the tokenizer")
        if isinstance(prompts, np.ndarray):
            prompts = prompts.tolist()
        given = {name: value for name, value in keywords.items() if value is not None}
        texts = self.generate_text(tokenizer, prompts, **given)
        single = isinstance(prompts, str) and keywords["num_return_sequences"] == 1
        return texts[0] if single else texts

    def stream(self, input_ids, attention_mask=None, *, chunk_size=8, **kwargs):
        """Generates like `generate` (greedy or sampling), yielding new tokens as they are produced.

        Each chunk of `chunk_size` tokens is one compiled call; the cache stays between chunks, so the
        concatenated chunks equal `generate`'s new tokens for the same arguments and seed.

        Args:
            input_ids, attention_mask: As for `generate`.
            chunk_size: Tokens per compiled call (>= 1).
            **kwargs: Any keyword of `generate` except beam search (`num_beams` must be 1).

        Yields:
            int32 numpy arrays (batch * num_return_sequences, n) of the next n new tokens (n <= chunk_size;
            rows that finished are filled with the pad id). Stops after max_new_tokens or when every row
            has finished.
        """
        chunk_size = _check_streaming(chunk_size, kwargs)
        generation_config = GenerationConfig.from_keywords(kwargs, "stream")
        request = prepare_request(self.config, input_ids, attention_mask, generation_config)
        yield from self._compiled_programs().stream(request, chunk_size)

    def generate_text(self, tokenizer, prompts, *, return_full_text=False, **kwargs):
        """Generates from text: encodes the prompts, generates, decodes.

        Args:
            tokenizer: Has `encode(text) -> list[int]` and `decode(ids, skip_special_tokens=...)`
                (e.g. `gpt_keras.tokenizer.OpenAIGPTTokenizer`); its `eos_token_id`, if any, ends
                sequences unless `eos_token_id` or the config gives one.
            prompts: A str or a list of str (batched, left-padded).
            return_full_text: Return prompt + continuation instead of the continuation only.
            **kwargs: Keywords of `generate`.

        Returns:
            list of str: len(prompts) * num_return_sequences texts, those of each prompt together.
        """
        input_ids, attention_mask = encode_prompts(tokenizer, prompts)
        kwargs = with_tokenizer_eos(self.config, tokenizer, kwargs)
        generation_config = GenerationConfig.from_keywords(kwargs, "generate_text")
        request = prepare_request(self.config, input_ids, attention_mask, generation_config)
        sequences = self._compiled_programs().generate(request)
        return decode_continuations(tokenizer, request, sequences, input_ids, attention_mask, return_full_text)

    def stream_text(self, tokenizer, prompt, *, chunk_size=8, **kwargs):
        """Streams the continuation of one text prompt: yields text as it is produced.

        Words made of several tokens are not split: text is decoded incrementally (with the
        tokenizer's `decode_stream()` when it has one, else `gpt_keras.tokenizer.IncrementalDecoder`),
        holding back an unfinished word.

        Args:
            tokenizer: As for `generate_text`.
            prompt: A str.
            chunk_size: Tokens per compiled call.
            **kwargs: Keywords of `generate` (greedy or sampling; one sequence).

        Yields:
            str pieces whose concatenation is the decoded continuation.

        Example:
            >>> for piece in model.stream_text(tokenizer, "it was a dark", max_new_tokens=40):  # doctest: +SKIP
            ...     print(piece, end="", flush=True)
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        if kwargs.get("num_return_sequences", 1) != 1:
            raise ValueError("num_return_sequences must be 1 for stream_text")
        chunk_size = _check_streaming(chunk_size, kwargs)
        input_ids, attention_mask = encode_prompts(tokenizer, [prompt])
        kwargs = with_tokenizer_eos(self.config, tokenizer, kwargs)
        generation_config = GenerationConfig.from_keywords(kwargs, "stream_text")
        request = prepare_request(self.config, input_ids, attention_mask, generation_config)
        chunks = self._compiled_programs().stream(request, chunk_size)
        yield from stream_pieces(tokenizer, chunks, set(request.options.eos_token_ids))


def _is_text(prompts):
    """Whether generate's `input_ids` are text: a str, a list of str, or a numpy array of them."""
    if isinstance(prompts, str):
        return True
    if isinstance(prompts, np.ndarray):
        return prompts.dtype.kind in "USO" and all(isinstance(p, str) for p in prompts.ravel().tolist())
    return isinstance(prompts, (list, tuple)) and bool(prompts) and all(isinstance(p, str) for p in prompts)


def _check_streaming(chunk_size, kwargs):
    """`chunk_size` as an int, once it and the options are known to stream."""
    chunk_size = Bound(1, integer=True).check(chunk_size, "chunk_size")
    if kwargs.get("num_beams", 1) != 1:
        raise ValueError(f"num_beams must be 1 for streaming (beam search decides at the end), got {kwargs['num_beams']}")
    return chunk_size
