"""`TFOpenAIGPT`: the functional GPT backbone (embeddings and transformer blocks, no head)."""
import keras
from keras import ops

from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.layers import GPTEmbeddings, TransformerBlock
from gpt_keras.layers.decode_layout import map_keys_values, reads_decode_kernels, with_decode_kernels
from gpt_keras.models.lora import LoraMixin
from gpt_keras.models.quantization import QuantizationMixin, float_policy_name, model_dtype_policy
from gpt_keras.models.saving import build_model, model_config

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


def _run_stack(
    embeddings,
    blocks,
    input_ids=None,
    attention_mask=None,
    token_type_ids=None,
    position_ids=None,
    head_mask=None,
    inputs_embeds=None,
    cache=None,
    cache_index=0,
    output_hidden_states=False,
    output_attentions=False,
    training=None,
):
    """The forward pass shared by the functional graph and `TFOpenAIGPT.forward` (one definition)."""
    hidden_states = embeddings(
        input_ids,
        token_type_ids=token_type_ids,
        position_ids=position_ids,
        inputs_embeds=inputs_embeds,
        cache_index=cache_index,
        training=training,
    )
    all_hidden_states, all_attentions, new_cache = [], [], []
    reads_copies = cache is not None and reads_decode_kernels(hidden_states)
    for i, block in enumerate(blocks):
        if output_hidden_states:
            all_hidden_states.append(hidden_states)
        # A layer's cache is (keys, values), or (keys, values, decode kernels): see layers.decode_layout.
        keys_values, kernels = (None, ()) if cache is None else (tuple(cache[i][:2]), tuple(cache[i][2:]))
        outputs = block(
            hidden_states,
            padding_mask=attention_mask,
            head_mask=None if head_mask is None else head_mask[i],
            cache=keys_values,
            cache_index=cache_index,
            return_attention_probs=output_attentions,
            training=training,
            decode_kernels=kernels[0] if kernels and reads_copies else None,
        )
        if isinstance(outputs, tuple):
            hidden_states, extras = outputs[0], list(outputs[1:])
            if output_attentions:
                all_attentions.append(extras.pop(0))
            if cache is not None:
                new_cache.append(tuple(extras.pop(0)) + kernels)
        else:
            hidden_states = outputs
    result = {"last_hidden_state": hidden_states}
    if output_hidden_states:
        result["hidden_states"] = tuple(all_hidden_states + [hidden_states])
    if output_attentions:
        result["attentions"] = tuple(all_attentions)
    if cache is not None:
        result["cache"] = tuple(new_cache)
    return result


@keras.saving.register_keras_serializable(package="gpt_keras")
class TFOpenAIGPT(QuantizationMixin, LoraMixin, keras.Model):
    """The GPT backbone as a functional Keras model.

    Called on a dict of int32 tensors `{"input_ids", "attention_mask", "token_type_ids",
    "position_ids"}` (only `input_ids` is required; the others may be omitted or None) it returns
    `{"last_hidden_state": (batch, seq, n_embd)}`. `forward(...)` runs the same layers with the extra
    options of the reference (`head_mask`, `inputs_embeds`, hidden states, attentions) and the
    key/value cache used by generation. `quantize(mode)` and `enable_lora(rank)` work on it as on
    the model classes (see `gpt_keras.models.quantization`, `gpt_keras.models.lora`).

    Args:
        config: An `OpenAIGPTConfig` (or its dict).
        dtype: Optional dtype policy name, e.g. "mixed_bfloat16"; a quantized one ("int8_from_float32")
            builds the quantized layout, for weights to be loaded.

    Example:
        >>> backbone = TFOpenAIGPT(OpenAIGPTConfig(n_layer=2, n_embd=32, n_head=4, vocab_size=100))
        >>> backbone({"input_ids": np.array([[1, 2, 3]])})["last_hidden_state"].shape
        TensorShape([1, 3, 32])
    """

    def __init__(self, config, *cloned_graph, dtype=None, **kwargs):
        # === Layers ===
        if cloned_graph:
            # keras.models.clone_model rebuilds a functional model as cls(inputs, outputs, name=...)
            # from clones of its layers: this model is assembled again around those.
            config, embeddings, blocks = _cloned_layers(config, *cloned_graph)
            dtype = float_policy_name(embeddings.dtype_policy)
        else:
            if isinstance(config, dict):
                config = OpenAIGPTConfig.from_dict(config)
            dtype = model_dtype_policy(dtype)
            embeddings = GPTEmbeddings(
                config.vocab_size,
                config.n_positions,
                config.n_embd,
                dropout=config.embd_pdrop,
                initializer_range=config.initializer_range,
                dtype=dtype,
                name="embeddings",
            )
            blocks = [
                TransformerBlock(
                    num_heads=config.n_head,
                    intermediate_dim=4 * config.n_embd,
                    activation=config.afn,
                    attention_dropout=config.attn_pdrop,
                    residual_dropout=config.resid_pdrop,
                    layer_norm_epsilon=config.layer_norm_epsilon,
                    initializer_range=config.initializer_range,
                    dtype=dtype,
                    name=f"h_{i}",
                )
                for i in range(config.n_layer)
            ]

        # === Functional Model ===
        inputs = {
            "input_ids": keras.Input(shape=(None,), dtype="int32", name="input_ids"),
            "attention_mask": keras.Input(shape=(None,), dtype="int32", name="attention_mask", optional=True),
            "token_type_ids": keras.Input(shape=(None,), dtype="int32", name="token_type_ids", optional=True),
            "position_ids": keras.Input(shape=(None,), dtype="int32", name="position_ids", optional=True),
        }
        outputs = _run_stack(embeddings, blocks, **inputs)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        if dtype is not None:
            # Functional models do not take their policy from `dtype`; get_config and the decoding
            # cache read it from here.
            self.dtype_policy = dtype

        # === Config ===
        self.config = config
        self.embeddings = embeddings
        self.blocks = blocks

    def __call__(self, inputs, *args, **kwargs):
        # Optional inputs must still be present as None for Keras' input check.
        if not isinstance(inputs, dict):
            inputs = {"input_ids": inputs}
        unknown = set(inputs) - set(INPUT_NAMES)
        if unknown:
            raise ValueError(f"TFOpenAIGPT got unknown inputs {sorted(unknown)}; expected keys {INPUT_NAMES}")
        return super().__call__({name: inputs.get(name) for name in INPUT_NAMES}, *args, **kwargs)

    def compute_output_spec(self, inputs, training=None, mask=None):
        # Keras' own spec pass cannot follow optional inputs left as None (a symbolic call in a
        # user's functional model with only some inputs).
        ids = inputs["input_ids"] if isinstance(inputs, dict) else inputs
        shape = tuple(ids.shape) + (self.config.n_embd,)
        return {"last_hidden_state": keras.KerasTensor(shape, dtype=self.compute_dtype)}

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        cache=None,
        cache_index=0,
        output_hidden_states=False,
        output_attentions=False,
        training=False,
    ):
        """Runs the backbone with every option of the reference plus the decoding cache.

        Inputs are validated by the model classes (`gpt_keras.models`); this is the raw pass.

        Args:
            input_ids: (batch, seq) int token ids, or None when `inputs_embeds` is given.
            attention_mask: (batch, key_len) 1 for real tokens, 0 for padding.
            token_type_ids, position_ids: (batch, seq) ints.
            head_mask: (n_layer, n_head) multipliers of each head's attention probabilities.
            inputs_embeds: (batch, seq, n_embd) used instead of looking up `input_ids`.
            cache: Per-layer (key_cache, value_cache) pairs, each (batch * n_head, max_len, head_dim),
                from `init_cache`. Compiled, the prefill of a long enough decode of one sequence (written
                from `cache_index` 0) appends each block's kernels in the layout batch-1 decoding reads
                (see `gpt_keras.layers.decode_layout`): the cache it returns holds (key_cache,
                value_cache, kernels) per layer, and later forwards keep them.
            cache_index: Slot of the first input position in the cache.
            output_hidden_states, output_attentions: Also return these.

        Returns:
            A dict with "last_hidden_state" and, when asked, "hidden_states", "attentions", "cache".
        """
        if cache is not None:
            inputs = input_ids if input_ids is not None else inputs_embeds
            cache = with_decode_kernels(self.blocks, cache, inputs, cache_index)
        return _run_stack(
            self.embeddings,
            self.blocks,
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            head_mask=head_mask,
            inputs_embeds=inputs_embeds,
            cache=cache,
            cache_index=cache_index,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            training=training,
        )

    def get_config(self):
        return model_config(self, {"config": self.config.to_dict(), "name": self.name})

    @classmethod
    def from_config(cls, config):
        return build_model(cls, config)

    def _backbone(self):
        return self

    def _structure_changed(self):
        # Traced train/predict functions captured the old variables; the models that own this
        # backbone find out by themselves (see GenerationMixin._compiled_programs).
        self.train_function = self.test_function = self.predict_function = None

    def init_cache(self, batch_size, max_length, dtype=None):
        """An empty key/value cache for decoding `batch_size` sequences of up to `max_length` tokens.

        The layout is (batch * n_head, slots, head_dim), the one the attention's batched matmuls read
        without a reshape, which lets XLA update the cache in place inside the decoding loop (see
        `CausalSelfAttention._split_heads`).

        Args:
            batch_size: Number of sequences (an int or a scalar tensor).
            max_length: Slots per sequence: prompt plus every new token (an int: shapes stay static).
            dtype: Dtype of the cache; the backbone's compute dtype when None.

        Returns:
            Per layer a (key_cache, value_cache) pair of zeros, each (batch_size * n_head, max_length, head_dim).
        """
        shape = (batch_size * self.config.n_head, max_length, self.config.head_dim)
        dtype = dtype or self.compute_dtype
        return tuple((ops.zeros(shape, dtype), ops.zeros(shape, dtype)) for _ in range(self.config.n_layer))

    def reorder_cache(self, cache, indices):
        """The cache of sequences `indices` of `cache`, in that order (beam search: each beam takes the
        keys and values of the beam it continues).

        Args:
            cache: From `init_cache` (or a forward pass fed with one).
            indices: (new_batch,) int32 sequence indices into the cache's batch.

        Returns:
            The reordered cache, each tensor (new_batch * n_head, slots, head_dim); decode kernels
            (see `forward`) as they are.
        """
        heads = self.config.n_head

        def reorder(x):
            slots_and_width = tuple(ops.shape(x)[1:])
            per_sequence = ops.reshape(x, (-1, heads) + slots_and_width)  # (batch, heads, slots, head_dim)
            return ops.reshape(ops.take(per_sequence, indices, axis=0), (-1,) + slots_and_width)

        return map_keys_values(cache, reorder)


def _cloned_layers(inputs, outputs):
    """`(config, embeddings, blocks)` of the functional graph `inputs` -> `outputs` that
    `keras.models.clone_model` made of a backbone's cloned layers.

    The config is read from those layers: the architecture is the original's, fields the backbone
    does not use (heads, token ids) are `OpenAIGPTConfig`'s defaults.
    """
    layers = keras.Model(inputs, outputs).layers
    embeddings = next(layer for layer in layers if isinstance(layer, GPTEmbeddings))
    blocks = [layer for layer in layers if isinstance(layer, TransformerBlock)]
    block = blocks[0]
    config = OpenAIGPTConfig(
        vocab_size=embeddings.vocab_size,
        n_positions=embeddings.n_positions,
        n_embd=embeddings.n_embd,
        embd_pdrop=embeddings.dropout,
        initializer_range=embeddings.initializer_range,
        n_layer=len(blocks),
        n_head=block.num_heads,
        afn=block.activation,
        attn_pdrop=block.attention_dropout,
        resid_pdrop=block.residual_dropout,
        layer_norm_epsilon=block.layer_norm_epsilon,
    )
    return config, embeddings, blocks
