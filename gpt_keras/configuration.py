"""`OpenAIGPTConfig`: the hyper-parameters of a GPT model, compatible with the reference's `config.json`."""
import copy
import inspect
import json
import math
import numbers
from pathlib import Path

from gpt_keras._fs import atomic_write_text

SUMMARY_TYPES = ("last", "first", "mean", "cls_index")
# Ids and positions are int32 in every program, so no size or id may pass 2**31 - 1.
INT32_MAX = 2**31 - 1
# config.json names every label twice (id2label, label2id): 10**5 labels are ~6 MB of JSON and dicts
# (10**9, which a file once asked for, took 11 GB before failing). No GPT classifier has more.
MAX_NUM_LABELS = 100_000
SIZE_FIELDS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
DROPOUT_FIELDS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_first_dropout", "summary_last_dropout")
TOKEN_ID_FIELDS = ("pad_token_id", "bos_token_id", "eos_token_id")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# Fields of every reference config (its `PretrainedConfig`) that the models read: they are attributes
# here, checked to be booleans. `tie_word_embeddings=False` describes a checkpoint with a separate
# output layer, which the LM models refuse (their LM head is the token embedding).
MODEL_FLAGS = {"output_attentions": False, "output_hidden_states": False, "return_dict": True, "tie_word_embeddings": True}
# The reference's other `PretrainedConfig` fields with their defaults (transformers 4.57): a config
# answers them (`config.torchscript` is False) and `from_pretrained(torchscript=True)` sets one, as
# there; set ones are kept and written back, but no model here reads them. Fields of every reference
# config that this one has already (id2label, label2id, problem_type, the token ids) are not repeated.
REFERENCE_DEFAULTS = {
    "torchscript": False, "dtype": None, "pruned_heads": {}, "chunk_size_feed_forward": 0,
    "is_encoder_decoder": False, "is_decoder": False, "cross_attention_hidden_size": None,
    "add_cross_attention": False, "tie_encoder_decoder": False, "architectures": None, "finetuning_task": None,
    "task_specific_params": None, "tokenizer_class": None, "prefix": None, "sep_token_id": None,
    "decoder_start_token_id": None, "max_length": 20, "min_length": 0, "do_sample": False, "early_stopping": False,
    "num_beams": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0, "repetition_penalty": 1.0,
    "length_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None,
    "num_return_sequences": 1, "output_scores": False, "return_dict_in_generate": False, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "remove_invalid_values": False, "exponential_decay_length_penalty": None,
    "suppress_tokens": None, "begin_suppress_tokens": None, "num_beam_groups": 1, "diversity_penalty": 0.0,
    "tf_legacy_loss": False, "use_bfloat16": False,
}  # fmt: skip
# What `to_diff_dict` (and so config.json) leaves out when it holds this value. The reference also
# leaves out two labels named LABEL_0/LABEL_1 and null problem_type and token ids; config.json here has
# always stated those, and still does.
_OMITTED_DEFAULTS = {**REFERENCE_DEFAULTS, **MODEL_FLAGS}

# The reference's names for the same fields; both spellings read and write the same attribute.
ATTRIBUTE_ALIASES = {
    "hidden_size": "n_embd",
    "num_attention_heads": "n_head",
    "num_hidden_layers": "n_layer",
    "max_position_embeddings": "n_positions",
}


def _activation_names():
    # The names of the layers' activation table (the one definition). Imported when a config is
    # checked, not with this module: the table needs Keras, and so TensorFlow.
    from gpt_keras.layers.activations import ACTIVATIONS

    return tuple(ACTIVATIONS)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_num_labels(value):
    if not _is_int(value) or not 1 <= value <= MAX_NUM_LABELS:
        raise ValueError(f"OpenAIGPTConfig.num_labels must be an integer in [1, {MAX_NUM_LABELS}], got {value!r}")


def _checked_id2label(id2label):
    """`id2label` with int keys (config.json writes them as strings), or ValueError naming it."""
    if id2label is None:
        return None
    if not isinstance(id2label, dict):
        raise ValueError(f"OpenAIGPTConfig.id2label must be a dict of label id -> name, got {type(id2label).__name__}")
    _check_num_labels(len(id2label))
    checked = {}
    for key in id2label:
        try:
            checked[int(key)] = id2label[key]
        except (TypeError, ValueError):
            raise ValueError(f"OpenAIGPTConfig.id2label keys must be label ids (integers), got {key!r}") from None
    return checked


def __getattr__(name):
    if name == "ACTIVATIONS":
        return _activation_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Over 250 lines for a reason: the reference's whole config API is this one class there (the fields and
# their checks, the dict and JSON forms, from_pretrained), and its users look for it in one place; a
# third of it is docstrings.
class OpenAIGPTConfig:
    """Configuration of an OpenAI GPT model, field for field the reference's `OpenAIGPTConfig`.

    Args:
        vocab_size: Rows of the token embedding (40478 for the released model; more after adding
            special tokens).
        n_positions: Longest sequence the learned position table covers.
        n_embd: Width of the residual stream. Must be divisible by `n_head`.
        n_layer: Number of transformer blocks.
        n_head: Number of attention heads.
        afn: MLP activation. "gelu" is the tanh approximation the released checkpoints were trained with
            (the same function as "gelu_new"); "relu", "silu" and "swish" are also accepted.
        resid_pdrop, embd_pdrop, attn_pdrop: Dropout rates after residual branches, after the
            embeddings and on attention probabilities.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: Standard deviation of the normal initializer.
        summary_type, summary_use_proj, summary_activation, summary_proj_to_labels,
        summary_first_dropout, summary_last_dropout: The multiple-choice head's sequence summary
            (see `SequenceSummary`).
        num_labels: Classes of the classification heads (defaults to 2, or to the size of `id2label`).
        id2label, label2id: Label names.
        pad_token_id, bos_token_id, eos_token_id: Special token ids, if any.
        problem_type: For sequence classification: "regression", "single_label_classification" or
            "multi_label_classification"; inferred from the labels when None.
        output_attentions, output_hidden_states: What a model's call returns when its arguments of
            these names are None (as the reference: `from_pretrained(path, output_attentions=True)`).
        return_dict: Whether a call returns a `ModelOutput` (True) or a tuple, when its `return_dict`
            is None.
        tie_word_embeddings: True: the LM head is the token embedding, as in every GPT checkpoint. A
            config.json saying false (a separate output layer) is read, but the LM models refuse it.
        **kwargs: Any other key of a reference `config.json`; kept and written back unchanged. The
            reference's other common fields (`torchscript`, `max_length`, ...) answer their defaults
            when not given (see `REFERENCE_DEFAULTS`).

    Example:
        >>> config = OpenAIGPTConfig(n_layer=2, n_embd=64, n_head=4)
        >>> config.hidden_size
        64
    """

    model_type = "openai-gpt"

    def __init__(
        self,
        vocab_size=40478,
        n_positions=512,
        n_embd=768,
        n_layer=12,
        n_head=12,
        afn="gelu",
        resid_pdrop=0.1,
        embd_pdrop=0.1,
        attn_pdrop=0.1,
        layer_norm_epsilon=1e-5,
        initializer_range=0.02,
        summary_type="cls_index",
        summary_use_proj=True,
        summary_activation=None,
        summary_proj_to_labels=True,
        summary_first_dropout=0.1,
        summary_last_dropout=0.0,
        num_labels=None,
        id2label=None,
        label2id=None,
        pad_token_id=None,
        bos_token_id=None,
        eos_token_id=None,
        problem_type=None,
        output_attentions=False,
        output_hidden_states=False,
        return_dict=True,
        tie_word_embeddings=True,
        **kwargs,
    ):
        aliased = {name: kwargs.pop(alias) for alias, name in ATTRIBUTE_ALIASES.items() if alias in kwargs}
        self.vocab_size = vocab_size
        self.n_positions = aliased.get("n_positions", n_positions)
        self.n_embd = aliased.get("n_embd", n_embd)
        self.n_layer = aliased.get("n_layer", n_layer)
        self.n_head = aliased.get("n_head", n_head)
        self.afn = afn
        self.resid_pdrop = resid_pdrop
        self.embd_pdrop = embd_pdrop
        self.attn_pdrop = attn_pdrop
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.summary_type = summary_type
        self.summary_use_proj = summary_use_proj
        self.summary_activation = summary_activation
        self.summary_proj_to_labels = summary_proj_to_labels
        self.summary_first_dropout = summary_first_dropout
        self.summary_last_dropout = summary_last_dropout
        # Checked before the label dicts are built: their size is what a bad num_labels costs.
        id2label = _checked_id2label(id2label)
        if num_labels is None:
            num_labels = len(id2label) if id2label else 2
        _check_num_labels(num_labels)
        if id2label is None or len(id2label) != num_labels:
            id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
        if label2id is None or len(label2id) != num_labels:
            label2id = {label: i for i, label in id2label.items()}
        self.id2label = id2label
        self.label2id = label2id
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.problem_type = problem_type
        self.output_attentions = output_attentions
        self.output_hidden_states = output_hidden_states
        self.return_dict = return_dict
        self.tie_word_embeddings = tie_word_embeddings
        # Keys we do not interpret (architectures, transformers_version, task_specific_params, ...)
        # survive a load/save round trip.
        self.extra = dict(kwargs)
        self.validate()

    @property
    def num_labels(self):
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value):
        _check_num_labels(value)
        if value != self.num_labels:
            self.id2label = {i: f"LABEL_{i}" for i in range(value)}
            self.label2id = {label: i for i, label in self.id2label.items()}

    @property
    def use_return_dict(self):
        """Whether calls return a `ModelOutput` by default: `return_dict`, unless `torchscript` (as the reference)."""
        return self.return_dict and not self.torchscript

    def __getattr__(self, name):
        # Only reached when normal lookup fails: aliases, kept extra keys, the reference's defaults.
        if name in ATTRIBUTE_ALIASES:
            return getattr(self, ATTRIBUTE_ALIASES[name])
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        if name in REFERENCE_DEFAULTS:
            return copy.deepcopy(REFERENCE_DEFAULTS[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name, value):
        super().__setattr__(ATTRIBUTE_ALIASES.get(name, name), value)

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def validate(self):
        """Raises ValueError naming the field when the configuration cannot describe a model."""
        for name in SIZE_FIELDS:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"OpenAIGPTConfig.{name} must be an integer >= 1, got {value!r}")
            if value > INT32_MAX:
                raise ValueError(f"OpenAIGPTConfig.{name} must be an integer in [1, {INT32_MAX}] (int32), got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"OpenAIGPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        activations = _activation_names()
        if not isinstance(self.afn, str) or self.afn not in activations:
            raise ValueError(f"OpenAIGPTConfig.afn must be one of {activations}, got {self.afn!r}")
        if not isinstance(self.summary_type, str) or self.summary_type not in SUMMARY_TYPES:
            extra = " ('attn' is not implemented by the reference either)" if self.summary_type == "attn" else ""
            raise ValueError(
                f"OpenAIGPTConfig.summary_type must be one of {SUMMARY_TYPES}, got {self.summary_type!r}{extra}"
            )
        if self.summary_activation not in (None, "tanh", "linear", ""):
            raise ValueError(
                f"OpenAIGPTConfig.summary_activation must be None or 'tanh', got {self.summary_activation!r}"
            )
        for name in ("summary_use_proj", "summary_proj_to_labels", *MODEL_FLAGS):
            if getattr(self, name) not in (True, False):
                raise ValueError(f"OpenAIGPTConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.problem_type not in (None,) + PROBLEM_TYPES:
            raise ValueError(
                f"OpenAIGPTConfig.problem_type must be None or one of {PROBLEM_TYPES}, got {self.problem_type!r}"
            )
        for name in DROPOUT_FIELDS:
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= value < 1.0:
                raise ValueError(f"OpenAIGPTConfig.{name} must be in [0, 1), got {value!r}")
        # An infinite epsilon makes every normalized value 0 (and every logit 0.0); NaN, every value NaN.
        if not _is_real(self.layer_norm_epsilon) or not 0.0 < self.layer_norm_epsilon < math.inf:
            raise ValueError(f"OpenAIGPTConfig.layer_norm_epsilon must be a finite number > 0, got {self.layer_norm_epsilon!r}")
        if not _is_real(self.initializer_range) or not 0.0 <= self.initializer_range < math.inf:
            raise ValueError(f"OpenAIGPTConfig.initializer_range must be a finite number >= 0, got {self.initializer_range!r}")
        for name in TOKEN_ID_FIELDS:
            value = getattr(self, name)
            # The reference lets eos_token_id be a list of ids.
            ids = value if name == "eos_token_id" and isinstance(value, (list, tuple)) else [value]
            if value is not None and not all(_is_int(i) and 0 <= i <= INT32_MAX for i in ids):
                expected = "an id" + (" or a list of ids" if name == "eos_token_id" else "")
                raise ValueError(f"OpenAIGPTConfig.{name} must be None or {expected} in [0, {INT32_MAX}], got {value!r}")

    def num_parameters(self):
        """The number of backbone weights this configuration describes: what building it allocates.

        Returns:
            An int: token and position tables plus `n_layer` blocks of 12 n_embd**2 + 13 n_embd (the
            attention and MLP projections with their biases, and two LayerNorms).
        """
        n = self.n_embd
        return (self.vocab_size + self.n_positions) * n + self.n_layer * (12 * n * n + 13 * n)

    def to_dict(self):
        """Every field of the configuration (extra keys included), as the reference's `to_dict`."""
        output = copy.deepcopy(self.extra)
        for key, value in self.__dict__.items():
            if key != "extra":
                output[key] = copy.deepcopy(value)
        output["id2label"] = {str(key): value for key, value in self.id2label.items()}
        output["model_type"] = self.model_type
        return dict(sorted(output.items()))

    def to_diff_dict(self):
        """`to_dict` without the reference's common fields that hold their defaults (`REFERENCE_DEFAULTS`,
        and `output_attentions=False` and the like): what `config.json` holds, as the reference writes
        it, except that the label maps, `problem_type` and the special token ids are always kept."""
        return {key: value for key, value in self.to_dict().items() if key not in _OMITTED_DEFAULTS or value != _OMITTED_DEFAULTS[key]}

    @classmethod
    def from_dict(cls, config_dict, return_unused_kwargs=False, **kwargs):
        """Builds a config from a dict such as a parsed reference `config.json`, as the reference does.

        Args:
            config_dict: The fields (any key of a reference config.json; unknown ones are kept).
            return_unused_kwargs: Also return the `kwargs` that are not config fields.
            **kwargs: Fields to set over `config_dict`'s: those of this class (aliases such as
                `hidden_size` too, and `num_labels`), of every reference config (`REFERENCE_DEFAULTS`)
                and the keys `config_dict` holds. Others are unused: returned, or else ignored (the
                reference's rule).

        Returns:
            The config, or `(config, unused_kwargs)` with `return_unused_kwargs=True`.

        Raises:
            ValueError: A field is invalid, or `num_labels` and `id2label` disagree.
        """
        fields = dict(config_dict)
        fields.pop("model_type", None)
        used = {name: kwargs.pop(name) for name in list(kwargs) if name in fields or cls._is_field(name)}
        if "num_labels" in used and "id2label" in used and len(used["id2label"] or ()) != used["num_labels"]:
            raise ValueError(
                f"num_labels={used['num_labels']} disagrees with id2label={used['id2label']!r}: pass one of them"
            )
        # New label names get their own label2id. A new num_labels needs nothing here: __init__ replaces
        # label dicts of another size and keeps the names when the number is the same.
        if "id2label" in used and "label2id" not in used:
            fields.pop("label2id", None)
        for alias, name in ATTRIBUTE_ALIASES.items():
            if alias in used or name in used:
                value = used.pop(alias, used.pop(name, None))
                fields.pop(alias, None)
                fields[name] = value
        config = cls(**{**fields, **used})
        return (config, kwargs) if return_unused_kwargs else config

    @classmethod
    def _is_field(cls, name):
        """Whether `name` is a field of every config of this class (a constructor argument, an alias,
        `num_labels`, or one of the reference's common fields)."""
        parameters = inspect.signature(cls.__init__).parameters
        named = name != "self" and name in parameters and parameters[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        return named or name in ATTRIBUTE_ALIASES or name in REFERENCE_DEFAULTS

    def update(self, config_dict):
        """Sets the fields of `config_dict` (as the reference's `update`), all or none of them.

        Args:
            config_dict: Field name -> value; names this class does not know are kept as extra keys.

        Raises:
            ValueError: The updated configuration would be invalid (naming the field); the config is
                then unchanged.
        """
        updated, unknown = type(self).from_dict(self.to_dict(), return_unused_kwargs=True, **config_dict)
        if unknown:
            updated = type(self).from_dict({**updated.to_dict(), **unknown})
        self.__dict__.clear()
        self.__dict__.update(updated.__dict__)

    def to_json_string(self, use_diff=True):
        """The configuration as JSON: `to_diff_dict` (what config.json holds), or with
        `use_diff=False` every field (`to_dict`)."""
        return json.dumps(self.to_diff_dict() if use_diff else self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path, use_diff=True):
        """Writes `config.json` (readable by the reference); the file is replaced atomically."""
        atomic_write_text(json_file_path, self.to_json_string(use_diff=use_diff))

    @classmethod
    def from_json_file(cls, json_file_path):
        """Reads a reference-style `config.json`.

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: the file is not a JSON object or describes an invalid model.
        """
        path = Path(json_file_path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            config_dict = json.loads(path.read_text(encoding="utf-8"))
        except RecursionError:
            raise ValueError(f"{path} is not a config: its JSON is nested too deeply") from None
        except ValueError as error:  # invalid JSON, not UTF-8, or an integer of more than 4300 digits
            raise ValueError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(config_dict, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(config_dict).__name__}")
        try:
            return cls.from_dict(config_dict)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, return_unused_kwargs=False, **kwargs):
        """Reads `config.json` from a checkpoint directory, the file itself, or a Hub id.

        Args:
            pretrained_model_name_or_path: A directory, a config file, or a Hub id such as
                "openai-community/openai-gpt" (found in the local Hugging Face cache, else downloaded
                when `huggingface_hub` is installed; see `gpt_keras.hub`).
            return_unused_kwargs: Also return the `kwargs` that are neither lookup options nor fields.
            **kwargs: Where to look (`cache_dir`, `revision`, `local_files_only`, `force_download`,
                `token`, `subfolder`; see `gpt_keras.hub.pop_lookup_options`), then fields to set
                over the file's (as `from_dict`).

        Returns:
            The config, or `(config, unused_kwargs)` with `return_unused_kwargs=True`.

        Raises:
            FileNotFoundError: No config.json there (an `OSError`, as the reference raises).
            ValueError: The file is not a valid config, or a field is invalid.

        Example:
            >>> config, unused = OpenAIGPTConfig.from_pretrained(  # doctest: +SKIP
            ...     "path/to/openai-gpt", output_attentions=True, foo=1, return_unused_kwargs=True)
            >>> config.output_attentions, unused  # doctest: +SKIP
            (True, {'foo': 1})
        """
        from gpt_keras.hub import pop_lookup_options, resolve_pretrained

        path = resolve_pretrained(pretrained_model_name_or_path, kind="config", **pop_lookup_options(kwargs))
        config = cls.from_json_file(path / "config.json" if path.is_dir() else path)
        return cls.from_dict(config.to_dict(), return_unused_kwargs=return_unused_kwargs, **kwargs)

    def save_pretrained(self, save_directory):
        """Writes `save_directory/config.json` (the directory is created if needed)."""
        Path(save_directory).mkdir(parents=True, exist_ok=True)
        self.to_json_file(Path(save_directory) / "config.json")

    def __eq__(self, other):
        # As the reference (equal attributes, where every config has the common fields): a field given
        # its default equals one left out.
        return isinstance(other, OpenAIGPTConfig) and self.to_diff_dict() == other.to_diff_dict()

    def __repr__(self):
        return f"{type(self).__name__} {self.to_json_string()}"
