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
from gpt_keras.decoding.symbolic import is_symbolic, run_symbolic
from gpt_keras.decoding.text import decode_continuations, encode_prompts, stream_pieces, with_tokenizer_eos
from gpt_keras.decoding.unsupported import check_unsupported


class GenerationMixin:
    """Adds `generate`, `stream`, `generate_text` and `stream_text` to models that have `transformer`
    (a `TFOpenAIGPT`) and `lm_logits(hidden_states)`; reads `tokenizer` (text in `generate`) when the
    model has one, and keeps the model's default options as `generation_config`."""

    @classmethod
    def can_generate(cls):
        """Whether `generate` works for this model class: True.

        The reference answers True for its LM model only; gpt_keras's double-heads model generates too
        (its LM head is the same), so it answers True as well.
        """
        return True

    @property
    def generation_config(self):
        """The model's default generation options, a `GenerationConfig`: made from the model config's
        special-token ids on first use. `generate` reads it for every option a call does not give; set
        options on it (`model.generation_config.max_new_tokens = 40`) or assign another config (None
        goes back to the model config's defaults).

        Until it is first read or set, `generate` follows the model config as it is at each call.
        """
        held = self.__dict__.get("_generation_config")
        if held is None:
            held = GenerationConfig.from_model_config(self.config)
            self.__dict__["_generation_config"] = held
        return held

    @generation_config.setter
    def generation_config(self, value):
        if value is None:
            self.__dict__.pop("_generation_config", None)
            return
        if not isinstance(value, GenerationConfig):
            got = type(value).__name__
            raise TypeError(f"generation_config must be a gpt_keras.decoding.GenerationConfig, got {got}")
        self.__dict__["_generation_config"] = value

    def _generation_options(self, keywords, generation_config=None):
        """The `GenerationConfig` of a call: its `keywords` that are not None, then the options of
        `generation_config` that differ from the defaults, then `model.generation_config` (as the
        reference's `generate` combines them)."""
        base = self.__dict__.get("_generation_config")
        if base is None:
            base = GenerationConfig.from_model_config(self.config)
        if generation_config is not None:
            if not isinstance(generation_config, GenerationConfig):
                raise TypeError(
                    "generation_config must be a gpt_keras.decoding.GenerationConfig (it takes the reference's "
                    f"option names), got {type(generation_config).__name__}"
                )
            base = base.merged(_set_options(generation_config))
        return base.merged(keywords)

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
        input_ids=None,
        attention_mask=None,
        *,
        max_new_tokens=None,
        max_length=None,
        min_new_tokens=None,
        min_length=None,
        do_sample=None,
        temperature=None,
        top_k=None,
        top_p=None,
        num_beams=None,
        penalty_alpha=None,
        length_penalty=None,
        early_stopping=None,
        num_return_sequences=None,
        repetition_penalty=None,
        no_repeat_ngram_size=None,
        bad_words_ids=None,
        remove_invalid_values=None,
        eos_token_id=None,
        pad_token_id=None,
        bos_token_id=None,
        seed=None,
        prompt_lookup_num_tokens=None,
        max_matching_ngram_size=None,
        truncate_prompt=None,
        use_cache=None,
        return_dict_in_generate=None,
        output_scores=None,
        output_logits=None,
        output_attentions=None,
        output_hidden_states=None,
        generation_config=None,
        **kwargs,
    ):
        """Generates continuations of token-id prompts: greedy, sampling, beam or contrastive search.

        Prefill and the token loop run as one XLA program, compiled once per (prompt bucket, length
        bucket, fixed options): lengths are rounded up to powers of two (at least 8), so calls whose
        lengths share buckets reuse it. Every option is keyword-only; one that is not given (None) is
        read from `generation_config`, then `model.generation_config`, then the reference's default.

        Args:
            input_ids: (batch, seq) ints: the prompts, padded left or right where `attention_mask` is 0
                (also accepted as `inputs=`, the reference's name). Or text, a str or a list of str,
                with a tokenizer attached as `model.tokenizer` (`from_pretrained` attaches the one in
                its directory): then text is returned. None starts one sequence from `bos_token_id`.
            attention_mask: (batch, seq) 1 for real tokens, 0 for padding; all ones when None.
            max_new_tokens: How many tokens to generate (at most).
            max_length: Prompt width plus new tokens, used when `max_new_tokens` is None. With neither,
                20 new tokens (fewer when the prompt leaves less room before `n_positions`).
            min_new_tokens: EOS is banned until this many tokens were generated (takes precedence over
                `min_length`).
            min_length: EOS is banned while prompt width (padding included, as the reference counts
                it) plus new tokens is below this.
            do_sample: Sample instead of taking the most likely token (default False).
            temperature: Logits are divided by it before sampling (> 0; default 1).
            top_k: Sample among the k most likely tokens only; 0 disables (default 50, the reference's).
            top_p: Sample among the most likely tokens whose probabilities sum to top_p; 1 disables.
            num_beams: Beam search with this many beams when > 1 (sampled beams with `do_sample`).
            penalty_alpha: Contrastive search when > 0 with `top_k` > 1 and no sampling (as in the
                reference, it takes precedence over beam search): among the `top_k` most likely tokens,
                the one with the best `(1 - penalty_alpha) * probability - penalty_alpha * degeneration`
                (the largest cosine similarity of its last hidden state with those before it). `top_k`
                is then fixed in the compiled program.
            length_penalty: Beam search: finished hypotheses score `sum_logprobs / new_length ** length_penalty`.
            early_stopping: Beam search: False, True or "never", as in the reference.
            num_return_sequences: Sequences returned per prompt (<= num_beams with beam search).
            repetition_penalty: > 1 discourages tokens already present (prompt included, padding not).
            no_repeat_ngram_size: Forbid repeating any n-gram of this size; 0 disables.
            bad_words_ids: List of token-id lists never generated: a one-token list bans that token, a
                longer one bans its last token right after the others (in the prompt or generated). A
                list that is one EOS id alone is dropped, as the reference drops it.
            remove_invalid_values: After the other processors, NaN scores become 0, +inf the largest
                float32 and -inf the smallest, as the reference's `InfNanRemoveLogitsProcessor` (so a
                banned token scores float32's minimum in `output_scores`, as there).
            eos_token_id: Int or list of ints ending a sequence; `config.eos_token_id` when None.
            pad_token_id: Fills finished rows; `config.pad_token_id`, else the first EOS id, else 0. Any
                int (-1, or an added token outside the vocabulary): it is written, and fed to the model
                only when it is a vocabulary id.
            bos_token_id: The first token when `input_ids` is None; `config.bos_token_id` when None.
            seed: Seed of the stateless sampling RNG: an int, or a pair of ints (the reference TF port's
                `seed=[a, b]`); the same seed gives the same tokens. When None, drawn from TensorFlow's
                global generator, so random unless `tf.random.set_seed` was called (then repeatable, as
                in the reference TF port). The stream is gpt_keras's own, not TensorFlow's or torch's.
            prompt_lookup_num_tokens: Prompt-lookup decoding: each step drafts up to this many tokens by
                matching the text's last n-gram against the text so far, and checks them in one forward
                pass; the tokens are those of plain decoding (faster when the output repeats the input).
                Greedy or sampling only.
            max_matching_ngram_size: Prompt lookup: the longest n-gram matched (default 2).
            truncate_prompt: When prompt + max_new_tokens exceeds `n_positions`, keep each prompt's last
                tokens instead of raising.
            use_cache: Accepted for the reference's sake and changes nothing: decoding always runs over
                the key/value cache, whose tokens are those of decoding without it (the reference's
                OpenAI GPT has no cache at all).
            return_dict_in_generate: Return a `GenerateDecoderOnlyOutput` (beam search:
                `GenerateBeamDecoderOnlyOutput`) instead of the ids.
            output_scores: With `return_dict_in_generate`: also the processed scores of every step
                (beam search: and `sequences_scores`).
            output_logits: With `return_dict_in_generate`: also the raw logits of every step.
            output_attentions: With `return_dict_in_generate`: also, per step, the attention
                probabilities of every layer over the searched rows' tokens so far (rows, n_head,
                length, length), as the reference (which has no cache) returns them; computed after the
                compiled program, one forward pass per step.
            output_hidden_states: Likewise the hidden states of every layer (embeddings first), per step
                (rows, length, n_embd).
            generation_config: A `GenerationConfig` whose set options replace the model's defaults (the
                keywords above take precedence over it).
            **kwargs: `inputs` (the prompts); `token_type_ids`, (batch, seq) ids added as rows of the token
                embedding (as the model's `token_type_ids`), every new token taking its row's last one as
                the reference extends them; or the reference's keywords that gpt_keras does not
                support, at the value that turns them off (e.g. `output_attentions=False`); another
                value is a TypeError naming it.

        Inside a `tf.function` (`jit_compile` or not, an export too), `generate` runs the same compiled
        program on the symbolic tensors (`gpt_keras.decoding.symbolic`): the value checks become graph
        assertions (dropped under XLA), and the output has a static width, prompt + `max_new_tokens`,
        filled with `pad_token_id` after the last step, as the reference's XLA generation returns it.

        Returns:
            int32 tensor (batch * num_return_sequences, seq + generated): the prompts as given, then the
            new tokens; rows that ended early are filled with `pad_token_id`, and the width stops at the
            last step any row needed (as the reference returns it). With `return_dict_in_generate`, the
            output object holding those `sequences` (and what `output_scores` / `output_logits` ask).
            For text: the continuation of a str prompt as a str (a list of `num_return_sequences` str
            when that is > 1), of a list of prompts as a list (those of each prompt together), as
            `generate_text` returns them.

        Raises:
            ValueError: An argument is out of range (the message names it), a prompt is empty, or prompt
                + new tokens exceed `n_positions` without `truncate_prompt`.
            TypeError: Text was given and no tokenizer is attached, or a keyword is not supported.
            UnusedKeywordError: A keyword that is not the reference's either (a typo): a ValueError
                and a TypeError.

        Example:
            >>> model.generate(np.array([[40477, 249, 3]]), max_new_tokens=20)  # doctest: +SKIP
            >>> model.generate("the cat sat on the", max_new_tokens=20)  # doctest: +SKIP
        """
        arguments = locals()
        keywords = {name: arguments[name] for name in GenerationConfig.option_names()}
        if "inputs" in kwargs:
            if input_ids is not None:
                raise TypeError("generate() got both input_ids and inputs (the reference's name for them)")
            input_ids = kwargs.pop("inputs")
        token_type_ids = kwargs.pop("token_type_ids", None)
        check_unsupported(kwargs, "generate")
        options = self._generation_options(keywords, generation_config)
        if _is_text(input_ids):
            if token_type_ids is not None:
                raise ValueError("generate: token_type_ids are for token ids, not text prompts")
            return self._generate_from_text(input_ids, attention_mask, options)
        # Imported here: the output classes are models' outputs, and the models import this module.
        from gpt_keras.decoding.outputs import generation_output, step_outputs

        if is_symbolic(input_ids, attention_mask, token_type_ids):
            results, decoding_options = run_symbolic(
                self._compiled_programs(), self.config, input_ids, attention_mask, options, token_type_ids
            )
            if not decoding_options.return_dict_in_generate:
                return results["sequences"]
            return generation_output(results, decoding_options)
        if options.seed is None:
            # As the reference TF port's sampling, a call without a seed follows TensorFlow's global
            # seed (`tf.random.set_seed`): random unless it is set.
            options = options.merged({"seed": int(tf.random.uniform((), maxval=2**31 - 1, dtype=tf.int32))})
        request = prepare_request(self.config, input_ids, attention_mask, options, token_type_ids)
        if not request.options.return_dict_in_generate:
            return tf.constant(self._compiled_programs().generate(request))
        results = self._compiled_programs().run(request)
        if request.options.output_step_inputs:
            checked = options.validate()
            results = step_outputs(self, request, results, checked.output_attentions, checked.output_hidden_states)
        return generation_output(results, request.options)

    def compute_transition_scores(self, sequences, scores, beam_indices=None, normalize_logits=False):
        """The score of each generated token at the step that chose it, as the reference computes it.

        Args:
            sequences: (rows, prompt + new) ids, `generate(..., return_dict_in_generate=True).sequences`.
            scores: Its `scores`: one (rows searched, vocab) tensor per step.
            beam_indices: Its `beam_indices` (rows, new tokens), -1 after a hypothesis ended; None for
                greedy search and sampling (each row is its own beam).
            normalize_logits: Take `log_softmax` of each step's scores first.

        Returns:
            float32 tensor (rows, steps): the scores of the chosen tokens; 0 where a hypothesis had ended.
        """
        scores = tf.stack([tf.convert_to_tensor(step, tf.float32) for step in scores], axis=1)  # (rows, steps, vocab)
        if normalize_logits:
            scores = tf.nn.log_softmax(scores, axis=-1)
        steps = scores.shape[1]
        if beam_indices is None:
            beam_indices = tf.tile(tf.range(tf.shape(scores)[0])[:, None], (1, steps))
        beam_indices = tf.cast(beam_indices, tf.int32)
        ended = beam_indices < 0
        # The longest hypothesis: its tokens are the last ones of `sequences`.
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(~ended, tf.int32), axis=-1))
        beam_indices, ended = beam_indices[:, :longest], ended[:, :longest]
        tokens = tf.cast(tf.convert_to_tensor(sequences)[:, -longest:], tf.int32)
        step_ids = tf.broadcast_to(tf.range(longest), tf.shape(tokens))
        at = tf.stack([tf.where(ended, 0, beam_indices), step_ids, tokens], -1)
        return tf.where(ended, 0.0, tf.gather_nd(scores, at))

    def _generate_from_text(self, prompts, attention_mask, options):
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
        texts = self._texts(tokenizer, prompts, options, False, "generate")
        single = isinstance(prompts, str) and options.validate().num_return_sequences == 1
        return texts[0] if single else texts

    def stream(self, input_ids, attention_mask=None, *, chunk_size=8, **kwargs):
        """Generates like `generate` (greedy or sampling), yielding new tokens as they are produced.

        Each chunk of `chunk_size` tokens is one compiled call; the cache stays between chunks, so the
        concatenated chunks equal `generate`'s new tokens for the same arguments and seed.

        Args:
            input_ids, attention_mask: As for `generate`.
            chunk_size: Tokens per compiled call (>= 1).
            **kwargs: Any keyword of `generate` (`generation_config` too) except beam search (`num_beams`
                must be 1), contrastive search (`penalty_alpha`) and those of its output object.

        Yields:
            int32 numpy arrays (batch * num_return_sequences, n) of the next n new tokens (n <= chunk_size;
            rows that finished are filled with the pad id). Stops after max_new_tokens or when every row
            has finished.
        """
        options, chunk_size = self._streaming_options(kwargs, chunk_size, "stream")
        request = prepare_request(self.config, input_ids, attention_mask, options)
        yield from self._compiled_programs().stream(request, chunk_size)

    def generate_text(self, tokenizer, prompts, *, return_full_text=False, **kwargs):
        """Generates from text: encodes the prompts, generates, decodes.

        Args:
            tokenizer: Has `encode(text) -> list[int]` and `decode(ids, skip_special_tokens=...)`
                (e.g. `gpt_keras.tokenizer.OpenAIGPTTokenizer`); its `eos_token_id`, if any, ends
                sequences unless `eos_token_id` or the config gives one.
            prompts: A str or a list of str (batched, left-padded).
            return_full_text: Return prompt + continuation instead of the continuation only.
            **kwargs: Keywords of `generate` (not those of its output object), `generation_config` among them.

        Returns:
            list of str: len(prompts) * num_return_sequences texts, those of each prompt together.
        """
        generation_config = kwargs.pop("generation_config", None)
        options = self._generation_options(GenerationConfig.check_keywords(kwargs, "generate_text"), generation_config)
        return self._texts(tokenizer, prompts, options, return_full_text, "generate_text")

    def _texts(self, tokenizer, prompts, options, return_full_text, caller):
        """`generate_text` with the call's `GenerationConfig`."""
        _refuse_output_options(options, caller)
        input_ids, attention_mask = encode_prompts(tokenizer, prompts)
        options = options.merged(with_tokenizer_eos(self.config, tokenizer, {"eos_token_id": options.eos_token_id}))
        request = prepare_request(self.config, input_ids, attention_mask, options)
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
            **kwargs: Keywords of `generate` (greedy or sampling; one sequence; `generation_config` too).

        Yields:
            str pieces whose concatenation is the decoded continuation.

        Example:
            >>> for piece in model.stream_text(tokenizer, "it was a dark", max_new_tokens=40):  # doctest: +SKIP
            ...     print(piece, end="", flush=True)
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        options, chunk_size = self._streaming_options(kwargs, chunk_size, "stream_text")
        if options.validate().num_return_sequences != 1:
            raise ValueError("num_return_sequences must be 1 for stream_text")
        input_ids, attention_mask = encode_prompts(tokenizer, [prompt])
        options = options.merged(with_tokenizer_eos(self.config, tokenizer, {"eos_token_id": options.eos_token_id}))
        request = prepare_request(self.config, input_ids, attention_mask, options)
        chunks = self._compiled_programs().stream(request, chunk_size)
        yield from stream_pieces(tokenizer, chunks, set(request.options.eos_token_ids))

    def _streaming_options(self, kwargs, chunk_size, caller):
        """The `GenerationConfig` and the int `chunk_size` of a streaming call, checked to stream."""
        chunk_size = Bound(1, integer=True).check(chunk_size, "chunk_size")
        generation_config = kwargs.pop("generation_config", None)
        options = self._generation_options(GenerationConfig.check_keywords(kwargs, caller), generation_config)
        _refuse_output_options(options, caller)
        validated = options.validate()
        # Contrastive search takes precedence over beams, as in generate; neither streams.
        if validated.decoding_options(self.config).contrastive_top_k:
            raise ValueError(
                f"{caller} streams greedy or sampled tokens, not contrastive search (penalty_alpha="
                f"{validated.penalty_alpha} with top_k={validated.top_k}): call generate, or drop penalty_alpha"
            )
        if validated.num_beams != 1:
            raise ValueError(
                f"num_beams must be 1 for streaming (beam search decides at the end), got {validated.num_beams}"
            )
        return options, chunk_size


def _is_text(prompts):
    """Whether generate's `input_ids` are text: a str, a list of str, or a numpy array of them."""
    if isinstance(prompts, str):
        return True
    if isinstance(prompts, np.ndarray):
        return prompts.dtype.kind in "USO" and all(isinstance(p, str) for p in prompts.ravel().tolist())
    return isinstance(prompts, (list, tuple)) and bool(prompts) and all(isinstance(p, str) for p in prompts)


def _set_options(generation_config):
    """{option: value} of the options of `generation_config` that are set: not None and not the default."""
    defaults = GenerationConfig()
    return {
        name: value
        for name, value in generation_config.to_dict().items()
        if not (value is None or (type(value) is type(getattr(defaults, name)) and value == getattr(defaults, name)))
    }


def _refuse_output_options(options, caller):
    """ValueError when `options` ask for an output object, which only `generate` on ids returns."""
    asked = [name for name in GenerationConfig.option_names("output") if getattr(options, name)]
    if asked:
        raise ValueError(
            f"{caller}: {', '.join(asked)} shape generate's output for token ids; {caller} returns text or chunks"
        )
