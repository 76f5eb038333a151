"""Every generation option in one place: `GenerationConfig` (with the one `validate()`), and what it
produces for a compiled program: `DecodingOptions` (fixed in the program) and `DecodingControls` (its
runtime tensors).

No TensorFlow here: the options can be checked before TensorFlow is imported.
"""
import dataclasses
import math
import numbers
import secrets
from typing import NamedTuple

import numpy as np

# Fed to the model in slots nobody reads (bucket padding, finished rows) instead of pad_token_id,
# which need not be a vocabulary id.
FILLER_TOKEN_ID = 0
# The reference's default length when neither max_new_tokens nor max_length is given; it counts the
# prompt too.
DEFAULT_MAX_LENGTH = 20


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
# The program's int32 top_k: a larger one keeps every token, as this does (2**32 + 2 would wrap to 2).
INT32_MAX = 2**31 - 1


def check_early_stopping(value):
    """Beam search's `early_stopping` must be True, False or "never" (not 1 or 0, which `is True` misses)."""
    if not (isinstance(value, bool) or value == "never"):
        raise ValueError(f'early_stopping must be True, False or "never", got {value!r}')


def _option(default, role, bound=None, number=True):
    """A `GenerationConfig` field. `role` says where its value goes: "program" (fixed in a compiled
    program, `DecodingOptions`), "runtime" (a tensor of the program, `DecodingControls`) or "request"
    (how the prompts are shaped before the program runs)."""
    return dataclasses.field(default=default, metadata={"role": role, "bound": bound, "number": number})


@dataclasses.dataclass(frozen=True)
class DecodingOptions:
    """The settings that are fixed in a compiled generation program (one program per distinct value).

    Args:
        num_beams: 1 for greedy / sampling, more for beam search.
        num_return_sequences: Best hypotheses returned per prompt (beam search only; sampling repeats
            the prompts instead).
        length_penalty: Beam search: a finished hypothesis scores `sum_logprobs / new_length ** length_penalty`.
        early_stopping: Beam search: False (stop when no running beam can beat the finished ones, with the
            reference's heuristic), True (stop once `num_beams` hypotheses are finished) or "never".
        repetition_penalty: Logits of tokens already in the sequence are divided by it (multiplied when
            negative); 1.0 turns it off.
        no_repeat_ngram_size: Ban tokens that would repeat an n-gram of this size; 0 turns it off.
        min_new_tokens: EOS is banned until this many tokens were generated.
        eos_token_ids: Tuple of end-of-sequence ids (may be empty).
        pad_token_id: Id written after a row has finished.
        prompt_lookup_num_tokens: Prompt-lookup decoding drafts up to this many tokens per step from the
            text so far (`gpt_keras.decoding.prompt_lookup`); 0 turns it off.
        max_matching_ngram_size: Prompt lookup: the longest n-gram matched.
    """

    num_beams: int = 1
    num_return_sequences: int = 1
    length_penalty: float = 1.0
    early_stopping: object = False
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_new_tokens: int = 0
    eos_token_ids: tuple = ()
    pad_token_id: int = 0
    prompt_lookup_num_tokens: int = 0
    max_matching_ngram_size: int = 2

    @property
    def tracks_history(self):
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0


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


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Every option of `generate`, `stream`, `generate_text` and `stream_text` (and of the export).

    The arguments are those of `GenerationMixin.generate` (see its docstring for their meaning); None
    means "not set" and reads as the default, as in the reference. `validate()` does every check.

    Example:
        >>> GenerationConfig(max_new_tokens=20, do_sample=True, top_k=50).validate().top_k
        50
    """

    max_new_tokens: int = _option(None, "runtime", Bound(1, integer=True))
    max_length: int = _option(None, "request")
    min_new_tokens: int = _option(0, "program", Bound(0, integer=True))
    do_sample: bool = _option(False, "runtime", number=False)
    temperature: float = _option(1.0, "runtime", Bound(0, exclusive_minimum=True, when="do_sample"))
    top_k: int = _option(0, "runtime", Bound(0, integer=True, note="0 disables it"))
    top_p: float = _option(1.0, "runtime", Bound(0, 1, exclusive_minimum=True))
    num_beams: int = _option(1, "program", Bound(1, integer=True))
    length_penalty: float = _option(1.0, "program")
    early_stopping: object = _option(False, "program", number=False)
    num_return_sequences: int = _option(1, "program", Bound(1, integer=True))
    repetition_penalty: float = _option(1.0, "program", Bound(0, exclusive_minimum=True))
    no_repeat_ngram_size: int = _option(0, "program", Bound(0, integer=True))
    eos_token_id: object = _option(None, "program", number=False)
    pad_token_id: int = _option(None, "program", TOKEN_ID)
    seed: int = _option(None, "runtime")
    prompt_lookup_num_tokens: int = _option(None, "program", Bound(1, integer=True))
    max_matching_ngram_size: int = _option(None, "program", Bound(1, integer=True))
    truncate_prompt: bool = _option(False, "request", number=False)

    @classmethod
    def option_names(cls, role=None):
        """The option names in `generate`'s order, those of one role ("program", "runtime", "request") when given."""
        return tuple(f.name for f in dataclasses.fields(cls) if role in (None, f.metadata["role"]))

    @classmethod
    def bounds(cls, role=None):
        """{name: `Bound`} of the range-checked options (of one role when given), in `generate`'s order."""
        chosen = [f for f in dataclasses.fields(cls) if f.metadata["bound"] and role in (None, f.metadata["role"])]
        return {f.name: f.metadata["bound"] for f in chosen}

    @classmethod
    def from_keywords(cls, keywords, caller):
        """The config of `caller(**keywords)`; TypeError naming the keywords that are not options."""
        unknown = set(keywords) - set(cls.option_names())
        if unknown:
            raise TypeError(f"{caller}() got unexpected keyword arguments {sorted(unknown)}")
        return cls(**keywords)

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
        if values["eos_token_id"] is not None:
            values["eos_token_id"] = token_ids(values["eos_token_id"], "eos_token_id")
        if values["seed"] is not None:
            # 1.2 and 1.9 would sample alike if the seed were truncated.
            values["seed"] = as_integer(values["seed"], "seed")
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
        if values["prompt_lookup_num_tokens"] is not None and beams > 1:
            raise ValueError(
                f"prompt_lookup_num_tokens needs greedy search or sampling (num_beams=1), got num_beams={beams}"
            )
        return dataclasses.replace(self, **values)

    def new_token_count(self, prompt_width):
        """How many tokens to generate after prompts of `prompt_width` slots (from a validated config)."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        new_tokens = (DEFAULT_MAX_LENGTH if self.max_length is None else self.max_length) - prompt_width
        if not _is_whole(new_tokens) or new_tokens < 1:
            raise ValueError(
                f"max_length leaves {new_tokens} new tokens for a prompt of width {prompt_width}; need at least 1"
            )
        return int(new_tokens)

    @property
    def sequences_per_prompt(self):
        """Rows each prompt is repeated into before decoding (sampling several sequences per prompt)."""
        return self.num_return_sequences if self.num_beams == 1 else 1

    def decoding_options(self, model_config):
        """The `DecodingOptions` of a validated config; EOS and pad ids default to the model config's."""
        eos, pad = eos_and_pad_ids(model_config, self.eos_token_id, self.pad_token_id)
        return DecodingOptions(
            num_beams=self.num_beams,
            num_return_sequences=self.num_return_sequences if self.num_beams > 1 else 1,
            length_penalty=float(self.length_penalty),
            early_stopping=self.early_stopping,
            repetition_penalty=float(self.repetition_penalty),
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            min_new_tokens=self.min_new_tokens,
            eos_token_ids=eos,
            pad_token_id=pad,
            prompt_lookup_num_tokens=self.prompt_lookup_num_tokens or 0,
            # The reference's default when prompt lookup is on and no size is given.
            max_matching_ngram_size=self.max_matching_ngram_size or 2,
        )

    def controls(self, max_new_tokens):
        """The `DecodingControls` (Python numbers) of a validated config; a random seed when unset."""
        return DecodingControls(
            max_new_tokens=max_new_tokens,
            temperature=self.temperature if self.do_sample else 1.0,
            top_k=min(self.top_k, INT32_MAX),
            top_p=self.top_p,
            seed=secrets.randbelow(2**31) if self.seed is None else int(self.seed) % 2**31,
            do_sample=self.do_sample,
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
