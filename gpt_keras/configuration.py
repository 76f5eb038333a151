"""`OpenAIGPTConfig`: the hyper-parameters of a GPT model, compatible with the reference's `config.json`."""
import copy
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
        **kwargs: Any other key of a reference `config.json`; kept and written back unchanged.

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

    def __getattr__(self, name):
        # Only reached when normal lookup fails: aliases and kept extra keys.
        if name in ATTRIBUTE_ALIASES:
            return getattr(self, ATTRIBUTE_ALIASES[name])
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
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
        for name in ("summary_use_proj", "summary_proj_to_labels"):
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
        """The configuration as the reference writes it in `config.json` (extra keys included)."""
        output = copy.deepcopy(self.extra)
        for key, value in self.__dict__.items():
            if key != "extra":
                output[key] = copy.deepcopy(value)
        output["id2label"] = {str(key): value for key, value in self.id2label.items()}
        output["model_type"] = self.model_type
        return dict(sorted(output.items()))

    @classmethod
    def from_dict(cls, config_dict):
        """Builds a config from a dict such as a parsed reference `config.json`."""
        config_dict = dict(config_dict)
        config_dict.pop("model_type", None)
        return cls(**config_dict)

    def to_json_string(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path):
        """Writes `config.json` (readable by the reference); the file is replaced atomically."""
        atomic_write_text(json_file_path, self.to_json_string())

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
    def from_pretrained(cls, path):
        """Reads `config.json` from a checkpoint directory (or the file itself)."""
        path = Path(path)
        return cls.from_json_file(path / "config.json" if path.is_dir() else path)

    def save_pretrained(self, directory):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.to_json_file(Path(directory) / "config.json")

    def __eq__(self, other):
        return isinstance(other, OpenAIGPTConfig) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"{type(self).__name__} {self.to_json_string()}"
