"""The reference's model tester, for the ported model tests (tests/test_modeling_ported*.py).

transformers' `OpenAIGPTModelTester` / `TFOpenAIGPTModelTester` build a tiny config and random inputs;
`_prepare_for_class` of its tester mixins adds labels as the reference's auto-class mappings say. Both
live here once, with the reference's sizes; random draws come from a seeded generator (the reference
draws from the global one), so a failure reproduces.
"""
import copy
import json
import random
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from gpt_keras import (
    OpenAIGPTConfig,
    TFOpenAIGPTDoubleHeadsModel,
    TFOpenAIGPTForSequenceClassification,
    TFOpenAIGPTLMHeadModel,
    TFOpenAIGPTModel,
)

FIXTURE = Path(__file__).parent / "fixtures" / "reference_models.json"
ALL_MODEL_CLASSES = (TFOpenAIGPTModel, TFOpenAIGPTLMHeadModel, TFOpenAIGPTDoubleHeadsModel, TFOpenAIGPTForSequenceClassification)
# The reference's generative classes (its TF test's `all_generative_model_classes`; in its PyTorch test,
# the classes whose `can_generate()` is true): the LM model only.
GENERATIVE_MODEL_CLASSES = (TFOpenAIGPTLMHeadModel,)
# The reference's auto-class mappings: the LM model is a causal LM, the classifier a sequence
# classifier; the double-heads model is in no mapping (so its TF tests get rank-2 inputs and no labels).
TOKEN_LABEL_CLASSES = (TFOpenAIGPTLMHeadModel,)
SEQUENCE_LABEL_CLASSES = (TFOpenAIGPTForSequenceClassification,)
# The fixture's short names of the four classes.
FIXTURE_KEYS = {
    TFOpenAIGPTModel: "base",
    TFOpenAIGPTLMHeadModel: "lm",
    TFOpenAIGPTDoubleHeadsModel: "dh",
    TFOpenAIGPTForSequenceClassification: "sc",
}


def class_ids(classes):
    return [model_class.__name__ for model_class in classes]


def each_class(function):
    """Parametrizes a test over the four model classes (the reference loops over them in the test)."""
    return pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES, ids=class_ids(ALL_MODEL_CLASSES))(function)


def each_generative_class(function):
    return pytest.mark.parametrize("model_class", GENERATIVE_MODEL_CLASSES, ids=class_ids(GENERATIVE_MODEL_CLASSES))(function)


def load_fixture():
    with open(FIXTURE, encoding="utf-8") as handle:
        return json.load(handle)


class ModelTester:
    """The reference tester's sizes and inputs (both of its test files use the same ones)."""

    batch_size = 13
    seq_length = 7
    is_training = True
    vocab_size = 99
    hidden_size = 32
    num_hidden_layers = 2
    num_attention_heads = 4
    max_position_embeddings = 512
    type_vocab_size = 16
    type_sequence_label_size = 2
    num_labels = 3
    num_choices = 4
    pad_token_id = vocab_size - 1

    def __init__(self, seed=0):
        self.rng = random.Random(seed)

    def ids_tensor(self, shape, vocab_size):
        """A random int32 tensor of `shape` with values in [0, vocab_size)."""
        values = [self.rng.randint(0, vocab_size - 1) for _ in range(int(np.prod(shape)))]
        return tf.constant(values, shape=shape, dtype=tf.int32)

    def random_attention_mask(self, shape):
        """Random 0/1 with the first token always attended, as the reference's helper draws it."""
        mask = self.ids_tensor(shape, 2)
        return tf.concat([tf.ones_like(mask[:, :1]), mask[:, 1:]], axis=1)

    def get_config(self):
        return OpenAIGPTConfig(
            vocab_size=self.vocab_size,
            n_embd=self.hidden_size,
            n_layer=self.num_hidden_layers,
            n_head=self.num_attention_heads,
            n_positions=self.max_position_embeddings,
            pad_token_id=self.pad_token_id,
        )

    def prepare_config_and_inputs(self):
        """(config, input_ids, input_mask, head_mask, token_type_ids, mc_token_ids, sequence_labels,
        token_labels, choice_labels), as the reference's TF tester returns them."""
        input_ids = self.ids_tensor([self.batch_size, self.seq_length], self.vocab_size)
        input_mask = self.random_attention_mask([self.batch_size, self.seq_length])
        token_type_ids = self.ids_tensor([self.batch_size, self.seq_length], self.type_vocab_size)
        mc_token_ids = self.ids_tensor([self.batch_size, self.num_choices], self.seq_length)
        sequence_labels = self.ids_tensor([self.batch_size], self.type_sequence_label_size)
        token_labels = self.ids_tensor([self.batch_size, self.seq_length], self.num_labels)
        choice_labels = self.ids_tensor([self.batch_size], self.num_choices)
        head_mask = self.ids_tensor([self.num_hidden_layers, self.num_attention_heads], 2)
        return (
            self.get_config(),
            input_ids,
            input_mask,
            head_mask,
            token_type_ids,
            mc_token_ids,
            sequence_labels,
            token_labels,
            choice_labels,
        )

    def prepare_config_and_inputs_for_common(self):
        """The TF tester's common inputs: ids, token types and a random attention mask."""
        config, input_ids, input_mask, _, token_type_ids, *_ = self.prepare_config_and_inputs()
        return config, {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": input_mask}

    def prepare_config_and_inputs_for_common_pt(self):
        """The PyTorch tester's common inputs: ids, token types and a random head mask (no attention mask)."""
        config, input_ids, _, head_mask, token_type_ids, *_ = self.prepare_config_and_inputs()
        return config, {"input_ids": input_ids, "token_type_ids": token_type_ids, "head_mask": head_mask}


def prepare_for_class(tester, inputs_dict, model_class, return_labels=False):
    """The TF mixin's `_prepare_for_class`: a copy of the inputs, plus zero labels for the classes the
    reference's mappings give labels to."""
    inputs_dict = copy.copy(inputs_dict)
    if return_labels:
        if model_class in SEQUENCE_LABEL_CLASSES:
            inputs_dict["labels"] = tf.zeros(tester.batch_size, dtype=tf.int32)
        elif model_class in TOKEN_LABEL_CLASSES:
            inputs_dict["labels"] = tf.zeros((tester.batch_size, tester.seq_length), dtype=tf.int32)
    return inputs_dict


def prepare_for_class_pt(tester, inputs_dict, model_class, return_labels=False):
    """The PyTorch mixin's `_prepare_for_class` with the openai test's override: with labels, the
    double-heads model gets (batch, choices, seq) zeros as ids, token types and LM labels, plus zero
    `mc_token_ids` and `mc_labels`."""
    inputs_dict = prepare_for_class(tester, inputs_dict, model_class, return_labels)
    if return_labels and model_class is TFOpenAIGPTDoubleHeadsModel:
        choices = tf.zeros((tester.batch_size, tester.num_choices, tester.seq_length), dtype=tf.int32)
        inputs_dict.update(
            labels=choices,
            input_ids=choices,
            token_type_ids=choices,
            mc_token_ids=tf.zeros((tester.batch_size, tester.num_choices), dtype=tf.int32),
            mc_labels=tf.zeros(tester.batch_size, dtype=tf.int32),
        )
    return inputs_dict


def first_output(outputs):
    """The first output as numpy, as the reference's checks read it (a tensor, a dict or a tuple)."""
    if isinstance(outputs, (tf.Tensor, np.ndarray)):
        return np.asarray(outputs)
    if isinstance(outputs, dict):
        return np.asarray(outputs[list(outputs.keys())[0]])
    return np.asarray(outputs[0])


def assert_outputs_same(after_outputs, outputs, atol=1e-5):
    """The TF mixin's check: first outputs of equal shape and within `atol`, NaNs left out."""
    out_1, out_2 = first_output(after_outputs), first_output(outputs)
    assert out_1.shape == out_2.shape, f"shapes differ: {out_1.shape} != {out_2.shape}"
    out_1, out_2 = out_1[~np.isnan(out_1)], out_2[~np.isnan(out_2)]
    assert np.amax(np.abs(out_1 - out_2)) <= atol


def fingerprint_positions(size, count=16):
    """The flat positions the fixture script samples (its `fingerprint`)."""
    return np.linspace(0, size - 1, num=min(size, count)).astype(int)


def projection_signs(size, index):
    """The fixture script's random +-1 weights of projection `index`."""
    return np.random.RandomState(1000 + index).randint(0, 2, size) * 2.0 - 1.0


def assert_fingerprint(actual, recorded, name, atol):
    """`actual` has the recorded shape, values within `atol` at the recorded positions, a sum of
    absolute values within `atol` per element, and random-sign projections within 3 * atol * sqrt(n)
    (what independent errors of `atol` add up to; a single value off by more than that fails)."""
    actual = np.asarray(actual, dtype=np.float64)
    assert list(actual.shape) == recorded["shape"], f"{name}: shape {list(actual.shape)} != {recorded['shape']}"
    flat = actual.ravel()
    for position, expected in zip(fingerprint_positions(flat.size), recorded["values"]):
        if expected is None:
            assert not np.isfinite(flat[position]), f"{name}[{position}]: {flat[position]} where the reference has -inf"
        else:
            assert abs(flat[position] - expected) <= atol, f"{name}[{position}]: {flat[position]} != {expected}"
    finite = np.isfinite(flat)
    assert abs(np.abs(flat[finite]).sum() - recorded["abs_sum"]) <= atol * max(flat.size, 1), f"{name}: sum of |values|"
    zeroed = np.where(finite, flat, 0.0)
    tolerance = 3 * atol * np.sqrt(max(flat.size, 1))
    for index, expected in enumerate(recorded["projections"]):
        got = zeroed @ projection_signs(flat.size, index)
        assert abs(got - expected) <= tolerance, f"{name}: projection {index} is {got}, the reference's {expected}"
