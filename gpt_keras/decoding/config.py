"""Every generation option in one place: `GenerationConfig` (with the one `validate()`), and what it
produces for a compiled program: `DecodingOptions` (fixed in the program) and `DecodingControls` (its
runtime tensors).

No TensorFlow here: the options can be checked before TensorFlow is imported. Over 500 lines because
the options, their one validation and their split into program and runtime parts are read together.
"""
import dataclasses
import hashlib
import logging
import math
import numbers
import secrets
from typing import NamedTuple

import numpy as np

from gpt_keras.decoding.unsupported import UnusedKeywordError

# Fed to the model in slots nobody reads (bucket padding, finished rows) instead of pad_token_id,
# which need not be a vocabulary id.
FILLER_TOKEN_ID = 0
# The reference's default when neither max_new_tokens nor max_length is given: this many new tokens,
# fewer when the prompt leaves less room before n_positions.
DEFAULT_NEW_TOKENS = 20

logger = logging.getLogger("gpt_keras")


@dataclasses.dataclass(frozen=True)
class Bound:
    """The values a numeric option may take, checked on Python numbers and on scalar tensors alike.

    Args:
        minimum: The lowest value allowed (or the bound it must exceed, with `exclusive_minimum`).
        maximum: The highest value allowed; None for no upper bound.
        integer: The value must be a whole number.
        exclusive_minimum: The value must be greater than `minimum`.
        note: Said after the range in error messages, e.g. "0 disables it".
        when: A boolean option that must be on for the bound to apply (e.g. "do_sample").

    Example:
        >>> str(Bound(0, 1, exclusive_minimum=True))
        'in (0, 1]'
    """

    minimum: float
    maximum: float = None
    integer: bool = False
    exclusive_minimum: bool = False
    note: str = ""
    when: str = None

    def __str__(self):
        if self.maximum is not None:
            opening = "(" if self.exclusive_minimum else "["
            text = f"in {opening}{self.minimum}, {self.maximum}]"
        else:
            text = f"{'>' if self.exclusive_minimum else '>='} {self.minimum}"
        if self.integer:
            text = f"an integer {text}"
        if self.note:
            text += f" ({self.note})"
        if self.when:
            text += f" when {self.when} is true"
        return text

    def holds(self, value):
        """Whether `value` lies in the range (a bool, or a bool tensor for a tensor `value`)."""
        above = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        return above if self.maximum is None else above & (value <= self.maximum)

    def check(self, value, name):
        """`value` as a Python number (an int when `integer`), or ValueError naming `name`."""
        value = as_number(value, name)
        if not (_is_finite(value) and self.holds(value)) or (self.integer and not _is_whole(value)):
            raise ValueError(f"{name} must be {self}, got {value!r}")
        return int(value) if self.integer else value


def as_number(value, name):
    """`value` (a Python number, or a scalar numpy value or tensor) as a Python number."""
    if np.ndim(value) == 0 and not isinstance(value, (str, bytes)) and hasattr(value, "dtype"):
        value = np.asarray(value).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return value


def as_finite_number(value, name):
    """`value` as a Python number that is not infinite or NaN: no option means anything there (a NaN
    length_penalty makes every beam score NaN)."""
    value = as_number(value, name)
    if not _is_finite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def _is_finite(value):
    # An int of any size is finite (math.isfinite of a 400-digit int overflows).
    return isinstance(value, numbers.Integral) or math.isfinite(value)


def _is_whole(value):
    return isinstance(value, numbers.Integral) or float(value).is_integer()


def as_integer(value, name):
    """`value` as a Python int: a whole number (2.0 is 2; 1.2 is refused, not truncated)."""
    value = as_finite_number(value, name)
    if not _is_whole(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def token_ids(value, name):
    """An id or a list of ids (`eos_token_id`) as a tuple of ints that fit the int32 sequences."""
    if isinstance(value, (str, bytes)) or np.ndim(value) > 1:
        raise ValueError(f"{name} must be an int or a list of ints, got {value!r}")
    ids = (value,) if np.ndim(value) == 0 else tuple(np.asarray(value, dtype=object).reshape(-1))
    return tuple(TOKEN_ID.check(i, name) for i in ids)


# Generated sequences are int32: an id written into them (EOS, pad) must fit.
TOKEN_ID = Bound(-(2**31), 2**31 - 1, integer=True, note="an id of the int32 sequences")
# Ids the model may generate (bad words): the vocabulary's upper end is checked with the model's config.
TOKEN_ID_OR_ABOVE_ZERO = Bound(0, 2**31 - 1, integer=True, note="a vocabulary id")
# The program's int32 top_k: a larger one keeps every token, as this does (2**32 + 2 would wrap to 2).
INT32_MAX = 2**31 - 1


def _as_bool(value, name):
    """A bool option (a Python or numpy bool, or a scalar bool tensor) as a Python bool."""
    if np.ndim(value) == 0 and not isinstance(value, (str, bytes)) and hasattr(value, "dtype"):
        value = np.asarray(value).item()
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def bad_words(value):
    """`bad_words_ids` as a tuple of tuples of ints, or ValueError: a non-empty list of non-empty lists of
    ids >= 0, as the reference requires."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)) or len(value) == 0:
        raise ValueError(f"bad_words_ids must be a non-empty list of lists of token ids, got {value!r}")
    words = []
    for word in value:
        if isinstance(word, (str, bytes)) or not isinstance(word, (list, tuple, np.ndarray)) or len(word) == 0:
            raise ValueError(f"bad_words_ids must be a list of non-empty lists of token ids, got the entry {word!r}")
        ids = np.asarray(word, object).reshape(-1)
        words.append(tuple(TOKEN_ID_OR_ABOVE_ZERO.check(i, "bad_words_ids") for i in ids))
    return tuple(words)


def stateless_seed(seed):
    """The program's int32 seed in [0, 2**31) of an int seed, or of a pair of ints (the reference TF port's
    stateless `seed=[a, b]`), mixed by a fixed hash: the same pair always samples alike."""
    if isinstance(seed, tuple):
        digest = hashlib.blake2b(repr(seed).encode("ascii"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % 2**31
    return int(seed) % 2**31


def _seed(value):
    """`seed` as an int or a pair of ints (a list, tuple, array or tensor of two)."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, (list, tuple, np.ndarray)):
        pair = np.asarray(value, dtype=object).reshape(-1)
        if np.ndim(value) != 1 or len(pair) != 2:
            raise ValueError(f"seed must be an int or a pair of ints (the stateless seed [a, b]), got {value!r}")
        return tuple(as_integer(i, "seed") for i in pair)
    # 1.2 and 1.9 would sample alike if the seed were truncated.
    return as_integer(value, "seed")


def check_early_stopping(value):
    """Beam search's `early_stopping` must be True, False or "never" (not 1 or 0, which `is True` misses)."""
    if not (isinstance(value, bool) or value == "never"):
        raise ValueError(f'early_stopping must be True, False or "never", got {value!r}')


def _option(default, role, bound=None, number=True):
    """A `GenerationConfig` field. `role` says where its value goes: "program" (fixed in a compiled
    program, `DecodingOptions`, and in an export), "runtime" (a tensor of the program, `DecodingControls`),
    "request" (read in Python around the program: prompt shaping, lengths) or "output" (what `generate`
    returns: fixed in the program too, `DecodingOptions`, but never in an export, which returns ids)."""
    return dataclasses.field(default=default, metadata={"role": role, "bound": bound, "number": number})


@dataclasses.dataclass(frozen=True)
class DecodingOptions:
    """The settings that are fixed in a compiled generation program (one program per distinct value).

    Args:
        num_beams: 1 for greedy / sampling, more for beam search.
        penalty_alpha: Contrastive search's weight of the degeneration penalty (with `contrastive_top_k`).
        contrastive_top_k: Contrastive search with this many candidates per step when > 1 (the
            reference's mode for `penalty_alpha > 0`, `top_k > 1` and no sampling); 0 otherwise.
        num_return_sequences: Best hypotheses returned per prompt (beam search only; sampling repeats
            the prompts instead).
        length_penalty: Beam search: a finished hypothesis scores `sum_logprobs / new_length ** length_penalty`.
        early_stopping: Beam search: False (stop when no running beam can beat the finished ones, with the
            reference's heuristic), True (stop once `num_beams` hypotheses are finished) or "never".
        repetition_penalty: Logits of tokens already in the sequence are divided by it (multiplied when
            negative); 1.0 turns it off.
        no_repeat_ngram_size: Ban tokens that would repeat an n-gram of this size; 0 turns it off.
        bad_words_ids: Tuple of token-id tuples never generated (a longer one: its last token is banned
            right after the others).
        remove_invalid_values: After the other processors, NaN scores become 0, +inf the largest
            float32 and -inf the smallest (the reference's `InfNanRemoveLogitsProcessor`).
        eos_token_ids: Tuple of end-of-sequence ids (may be empty).
        pad_token_id: Id written after a row has finished.
        return_dict_in_generate: The program also returns what `GenerateDecoderOnlyOutput` /
            `GenerateBeamDecoderOnlyOutput` hold (beam search: the beam of every token).
        output_scores: ... and each step's processed scores (beam search: the scores of the sequences).
        output_logits: ... and each step's raw logits.
        output_step_inputs: ... and the tokens of every searched row at each step (for the attentions
            and hidden states of `output_attentions` / `output_hidden_states`, computed afterwards).
        token_types: The program takes token-type ids (the prompts', then one per row for new tokens).
        prompt_lookup_num_tokens: Prompt-lookup decoding drafts up to this many tokens per step from the
            text so far (`gpt_keras.decoding.prompt_lookup`); 0 turns it off.
        max_matching_ngram_size: Prompt lookup: the longest n-gram matched.
    """

    num_beams: int = 1
    penalty_alpha: float = 0.0
    contrastive_top_k: int = 0
    num_return_sequences: int = 1
    length_penalty: float = 1.0
    early_stopping: object = False
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    bad_words_ids: tuple = ()
    remove_invalid_values: bool = False
    eos_token_ids: tuple = ()
    pad_token_id: int = 0
    return_dict_in_generate: bool = False
    output_scores: bool = False
    output_logits: bool = False
    output_step_inputs: bool = False
    token_types: bool = False
    prompt_lookup_num_tokens: int = 0
    max_matching_ngram_size: int = 2

    @property
    def tracks_history(self):
        """Whether a processor reads each row's past tokens (`DecodingState.history`)."""
        longer_bad_words = any(len(word) > 1 for word in self.bad_words_ids)
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0 or longer_bad_words


class DecodingControls(NamedTuple):
    """The runtime inputs of a compiled generation program: one program serves every value.

    Python numbers from `GenerationConfig.controls`, scalar tensors inside a program
    (`gpt_keras.decoding.loop.cast_controls`). The names are those of `GenerationConfig`'s "runtime" options.
    """

    max_new_tokens: object  # int32
    temperature: object  # float32, 1 when not sampling
    top_k: object  # int32, 0 keeps every token
    top_p: object  # float32, 1 keeps every token
    seed: object  # int32 in [0, 2**31)
    do_sample: object  # bool
    # Last, with a default, so that the six controls above still make a complete set. A runtime value,
    # not part of the program: min_length counts the caller's prompt width, which varies within a bucket.
    min_new_tokens: object = 0  # int32: EOS is banned while fewer tokens were generated


@dataclasses.dataclass
class GenerationConfig:
    """Every option of `generate`, `stream`, `generate_text` and `stream_text` (and of the export).

    The fields are the reference's names (its `GenerationConfig`), with its defaults; None means "not
    set" and reads as the default, as in the reference, except `max_length`: unset, `generate` makes
    20 new tokens (fewer when the prompt leaves less room before `n_positions`), as the reference does
    by default. Options may be set as attributes (`model.generation_config.max_new_tokens = 40`); an
    unknown name is refused. `validate()` does every check.

    Example:
        >>> GenerationConfig(max_new_tokens=20, do_sample=True, top_k=50).validate().top_k
        50
    """

    max_new_tokens: int = _option(None, "runtime", Bound(1, integer=True))
    max_length: int = _option(None, "request")
    min_new_tokens: int = _option(None, "runtime", Bound(0, integer=True))
    min_length: int = _option(0, "request", Bound(0, integer=True))
    do_sample: bool = _option(False, "runtime", number=False)
    temperature: float = _option(1.0, "runtime", Bound(0, exclusive_minimum=True, when="do_sample"))
    top_k: int = _option(50, "runtime", Bound(0, integer=True, note="0 disables it"))
    top_p: float = _option(1.0, "runtime", Bound(0, 1, exclusive_minimum=True))
    num_beams: int = _option(1, "program", Bound(1, integer=True))
    penalty_alpha: float = _option(None, "program", Bound(0, 1))
    length_penalty: float = _option(1.0, "program")
    early_stopping: object = _option(False, "program", number=False)
    num_return_sequences: int = _option(1, "program", Bound(1, integer=True))
    repetition_penalty: float = _option(1.0, "program", Bound(0, exclusive_minimum=True))
    no_repeat_ngram_size: int = _option(0, "program", Bound(0, integer=True))
    bad_words_ids: tuple = _option(None, "program", number=False)
    remove_invalid_values: bool = _option(False, "program", number=False)
    eos_token_id: object = _option(None, "program", number=False)
    pad_token_id: int = _option(None, "program", TOKEN_ID)
    bos_token_id: int = _option(None, "request", TOKEN_ID_OR_ABOVE_ZERO)
    seed: object = _option(None, "runtime", number=False)
    prompt_lookup_num_tokens: int = _option(None, "program", Bound(1, integer=True))
    max_matching_ngram_size: int = _option(None, "program", Bound(1, integer=True))
    truncate_prompt: bool = _option(False, "request", number=False)
    use_cache: bool = _option(True, "request", number=False)
    return_dict_in_generate: bool = _option(False, "output", number=False)
    output_scores: bool = _option(False, "output", number=False)
    output_logits: bool = _option(False, "output", number=False)
    output_attentions: bool = _option(False, "output", number=False)
    output_hidden_states: bool = _option(False, "output", number=False)

    def __setattr__(self, name, value):
        if name not in self.__dataclass_fields__:
            options = list(self.option_names())
            raise AttributeError(f"GenerationConfig has no option {name!r}; the options are {options}")
        super().__setattr__(name, value)

    @classmethod
    def option_names(cls, role=None):
        """The option names in `generate`'s order, those of one role ("program", "runtime", "request",
        "output") when given."""
        return tuple(f.name for f in dataclasses.fields(cls) if role in (None, f.metadata["role"]))

    @classmethod
    def bounds(cls, role=None):
        """{name: `Bound`} of the range-checked options (of one role when given), in `generate`'s order."""
        chosen = [f for f in dataclasses.fields(cls) if f.metadata["bound"] and role in (None, f.metadata["role"])]
        return {f.name: f.metadata["bound"] for f in chosen}

    @classmethod
    def check_keywords(cls, keywords, caller):
        """`keywords` (of `caller(**keywords)`), or `UnusedKeywordError` (a TypeError and a ValueError)
        naming those that are not options."""
        unknown = set(keywords) - set(cls.option_names())
        if unknown:
            raise UnusedKeywordError(f"{caller}() got unexpected keyword arguments {sorted(unknown)}")
        return keywords

    @classmethod
    def from_keywords(cls, keywords, caller):
        """The config of `caller(**keywords)`; TypeError naming the keywords that are not options."""
        return cls(**cls.check_keywords(keywords, caller))

    @classmethod
    def from_model_config(cls, model_config):
        """The defaults a model generates with: its config's special-token ids, as the reference's
        `GenerationConfig.from_model_config` takes them."""
        return cls(
            eos_token_id=model_config.eos_token_id,
            pad_token_id=model_config.pad_token_id,
            bos_token_id=model_config.bos_token_id,
        )

    def to_dict(self):
        """{option: value} of every option."""
        return {name: getattr(self, name) for name in self.option_names()}

    def update(self, **kwargs):
        """Sets the given options that are fields, as the reference's `update`; returns the others."""
        for name in set(kwargs) & set(self.option_names()):
            setattr(self, name, kwargs[name])
        return {name: value for name, value in kwargs.items() if name not in self.option_names()}

    def merged(self, keywords):
        """A copy with the `keywords` that are not None set (they take precedence, as in `generate`)."""
        return dataclasses.replace(self, **{name: value for name, value in keywords.items() if value is not None})

    def validate(self, exported=False):
        """Checks every option; returns the config with unset options at their defaults and numbers as
        Python numbers (a scalar tensor or numpy value is read).

        Args:
            exported: Check for an exported program, whose runtime options are request tensors: there
                sampling is chosen per request, so several sequences per prompt need beam search.

        Returns:
            The checked `GenerationConfig`.

        Raises:
            ValueError: An option is out of range or of the wrong type (the message names it).
        """
        fields = dataclasses.fields(self)
        values = {f.name: f.default if getattr(self, f.name) is None else getattr(self, f.name) for f in fields}
        values["do_sample"] = bool(values["do_sample"])
        for f in fields:
            value, bound = values[f.name], f.metadata["bound"]
            if value is None or not f.metadata["number"]:
                continue
            applies = bound is not None and (bound.when is None or values[bound.when])
            values[f.name] = bound.check(value, f.name) if applies else as_finite_number(value, f.name)
        check_early_stopping(values["early_stopping"])
        for name in ("truncate_prompt", "use_cache", "remove_invalid_values") + self.option_names("output"):
            values[name] = _as_bool(values[name], name)
        if values["eos_token_id"] is not None:
            values["eos_token_id"] = token_ids(values["eos_token_id"], "eos_token_id")
        if values["bad_words_ids"] is not None:
            values["bad_words_ids"] = bad_words(values["bad_words_ids"])
        if values["seed"] is not None:
            values["seed"] = _seed(values["seed"])
        beams, returned = values["num_beams"], values["num_return_sequences"]
        if beams > 1 and returned > beams:
            raise ValueError(f"num_return_sequences ({returned}) must be <= num_beams ({beams}) in beam search")
        if beams == 1 and returned > 1 and exported:
            raise ValueError(
                f"num_return_sequences={returned} needs num_beams > 1 in an export; to sample "
                "several sequences per prompt, repeat the prompt in the request"
            )
        if beams == 1 and returned > 1 and not values["do_sample"]:
            raise ValueError(
                f"num_return_sequences={returned} needs sampling (do_sample=True) or beam search "
                "(num_beams > 1): greedy search returns one sequence per prompt"
            )
        if not values["return_dict_in_generate"]:
            ignored = [name for name in self.option_names("output")[1:] if values[name]]
            if ignored:
                # As the reference: the flags only shape the output object.
                verb = "is" if len(ignored) == 1 else "are"
                logger.warning("return_dict_in_generate is not True, so %s %s ignored", " and ".join(ignored), verb)
        if values["prompt_lookup_num_tokens"] is not None and beams > 1:
            raise ValueError(
                f"prompt_lookup_num_tokens needs greedy search or sampling (num_beams=1), got num_beams={beams}"
            )
        if values["prompt_lookup_num_tokens"] is not None:
            clashing = [name for name in ("penalty_alpha", "return_dict_in_generate") if values.get(name)]
            if clashing:
                raise ValueError(f"prompt_lookup_num_tokens cannot be combined with {', '.join(clashing)}")
        return dataclasses.replace(self, **values)

    def new_token_count(self, prompt_width, n_positions=None):
        """How many tokens to generate after prompts of `prompt_width` slots (from a validated config).

        `max_new_tokens` when set, else `max_length - prompt_width`; with neither, 20, or what is left
        before `n_positions` when that is fewer (and at least one), as the reference does.
        """
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        if self.max_length is None:
            room = DEFAULT_NEW_TOKENS if n_positions is None else n_positions - prompt_width
            return min(DEFAULT_NEW_TOKENS, room) if room >= 1 else DEFAULT_NEW_TOKENS
        new_tokens = self.max_length - prompt_width
        if not _is_whole(new_tokens) or new_tokens < 1:
            raise ValueError(
                f"max_length leaves {new_tokens} new tokens for a prompt of width {prompt_width}; need at least 1"
            )
        return int(new_tokens)

    def min_new_token_count(self, prompt_width):
        """New tokens before EOS may end a row: `min_new_tokens`, else `min_length` minus the prompt's
        width (padding included, as the reference counts it); from a validated config."""
        if self.min_new_tokens is not None:
            return self.min_new_tokens
        return max(0, self.min_length - prompt_width)

    @property
    def sequences_per_prompt(self):
        """Rows each prompt is repeated into before decoding (sampling several sequences per prompt)."""
        return self.num_return_sequences if self.num_beams == 1 else 1

    def decoding_options(self, model_config):
        """The `DecodingOptions` of a validated config; EOS and pad ids default to the model config's.

        Raises:
            ValueError: A bad word holds an id outside the model's vocabulary.
        """
        eos, pad = eos_and_pad_ids(model_config, self.eos_token_id, self.pad_token_id)
        # As the reference, a bad word that is one EOS id alone is dropped: EOS still ends a row.
        words = tuple(word for word in self.bad_words_ids or () if not (len(word) == 1 and word[0] in eos))
        outside = sorted({i for word in words for i in word if i >= model_config.vocab_size})
        if outside:
            raise ValueError(f"bad_words_ids must be ids in [0, {model_config.vocab_size}), got {outside}")
        with_outputs = self.return_dict_in_generate
        # The reference's contrastive mode takes precedence over beam search.
        contrastive = bool(self.penalty_alpha) and self.top_k > 1 and not self.do_sample
        if contrastive and self.num_return_sequences > 1:
            raise ValueError(
                f"num_return_sequences must be 1 in contrastive search (penalty_alpha={self.penalty_alpha}), "
                f"got {self.num_return_sequences}"
            )
        num_beams = 1 if contrastive else self.num_beams
        return DecodingOptions(
            num_beams=num_beams,
            penalty_alpha=float(self.penalty_alpha) if contrastive else 0.0,
            contrastive_top_k=min(self.top_k, model_config.vocab_size) if contrastive else 0,
            num_return_sequences=self.num_return_sequences if num_beams > 1 else 1,
            length_penalty=float(self.length_penalty),
            early_stopping=self.early_stopping,
            repetition_penalty=float(self.repetition_penalty),
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            bad_words_ids=words,
            remove_invalid_values=self.remove_invalid_values,
            eos_token_ids=eos,
            pad_token_id=pad,
            return_dict_in_generate=with_outputs,
            output_scores=with_outputs and self.output_scores,
            output_logits=with_outputs and self.output_logits,
            output_step_inputs=with_outputs and (self.output_attentions or self.output_hidden_states),
            prompt_lookup_num_tokens=self.prompt_lookup_num_tokens or 0,
            # The reference's default when prompt lookup is on and no size is given.
            max_matching_ngram_size=self.max_matching_ngram_size or 2,
        )

    def controls(self, max_new_tokens, min_new_tokens=0):
        """The `DecodingControls` (Python numbers) of a validated config; a random seed when unset."""
        return DecodingControls(
            max_new_tokens=max_new_tokens,
            temperature=self.temperature if self.do_sample else 1.0,
            top_k=min(self.top_k, INT32_MAX),
            top_p=self.top_p,
            seed=secrets.randbelow(2**31) if self.seed is None else stateless_seed(self.seed),
            do_sample=self.do_sample,
            min_new_tokens=min_new_tokens,
        )


def eos_and_pad_ids(config, eos_token_id=None, pad_token_id=None):
    """The EOS ids (a tuple; `config.eos_token_id` when None) and the pad id (`config.pad_token_id`,
    else the first EOS id, else 0) that generation uses."""
    eos = _eos_tuple(config.eos_token_id if eos_token_id is None else eos_token_id)
    if pad_token_id is None:
        pad_token_id = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
    return eos, int(pad_token_id)


def _eos_tuple(eos_token_id):
    if eos_token_id is None:
        return ()
    ids = (eos_token_id,) if np.ndim(eos_token_id) == 0 else tuple(np.asarray(eos_token_id).reshape(-1))
    return tuple(int(i) for i in ids)
