"""The reference's accessors of a model's parts: its embeddings, its LM head and its parameter count."""
import keras
import numpy as np


class IntrospectionMixin:
    """`get_input_embeddings`, `set_input_embeddings`, `get_output_embeddings`, `set_output_embeddings`,
    `get_lm_head`, `get_bias` and `num_parameters`, as the reference's models have them.

    Reads `self.transformer` and the class attribute `has_tied_lm_head`.
    """

    def get_input_embeddings(self):
        """The token embedding layer (`transformer.embeddings.tokens_embed`), a Keras `Embedding`."""
        return self.transformer.embeddings.tokens_embed

    def set_input_embeddings(self, value):
        """Replaces the token embedding's table with the values of `value`, copied.

        Args:
            value: A (rows, n_embd) array, tensor or variable (what the reference TF port takes), or a
                Keras `Embedding` layer whose table is taken (as the PyTorch model takes a module; one
                not built yet is built first, with its own initializer). With
                other than `config.vocab_size` rows the vocabulary is resized first
                (`resize_token_embeddings`), and a tied LM head follows.

        Raises:
            ValueError: `value` is not (rows, n_embd), or the embedding is quantized or has LoRA enabled.
        """
        layer = self.get_input_embeddings()
        if isinstance(value, keras.layers.Embedding) and not value.built:
            # A Keras layer has no weights until built, a PyTorch module has them from the start: build
            # it (initialized as it says) rather than fail reading its table.
            value.build()
        table = value.embeddings if isinstance(value, keras.layers.Embedding) else value
        table = np.asarray(keras.ops.convert_to_numpy(table))
        if table.ndim != 2 or table.shape[1] != self.config.n_embd or table.shape[0] < 1:
            raise ValueError(
                f"set_input_embeddings: value must be a (rows, n_embd={self.config.n_embd}) table, got shape {table.shape}"
            )
        if layer.quantization_mode or layer.lora_enabled:
            change = "quantized" if layer.quantization_mode else "has LoRA enabled"
            raise ValueError(f"set_input_embeddings: the token embedding {change}; set it before quantize() / enable_lora()")
        self.resize_token_embeddings(table.shape[0])
        layer.embeddings.assign(table.astype(layer.embeddings.dtype))

    def get_output_embeddings(self):
        """The layer whose table the LM head multiplies by: the token embedding (tied) for a model with an
        LM head, None for the others (the base model, the sequence classifier)."""
        return self.get_input_embeddings() if self.has_tied_lm_head else None

    def set_output_embeddings(self, value):
        """For a model with an LM head, `set_input_embeddings(value)`: the head is tied to that table.

        Raises:
            ValueError: The model has no LM head.
        """
        if not self.has_tied_lm_head:
            raise ValueError(f"{type(self).__name__} has no LM head, so no output embeddings to set")
        self.set_input_embeddings(value)

    def get_lm_head(self):
        """The LM head's layer: the tied token embedding for a model with an LM head, else None."""
        return self.get_output_embeddings()

    def get_bias(self):
        """None: the LM head has no bias (the reference's models with one return a dict of them)."""
        return None

    def num_parameters(self, only_trainable=False, exclude_embeddings=False):
        """The number of parameters (the tied LM head counted once), as the reference counts them.

        Args:
            only_trainable: Count trainable variables only.
            exclude_embeddings: Leave out the token and position embedding tables.

        Returns:
            An int.
        """
        variables = self.trainable_weights if only_trainable else self.weights
        excluded = set()
        if exclude_embeddings:
            embeddings = self.transformer.embeddings
            excluded = {id(v) for v in embeddings.tokens_embed.weights + embeddings.positions_embed.weights}
        unique = {id(v): v for v in variables if id(v) not in excluded}
        return int(sum(np.prod(v.shape, dtype=np.int64) for v in unique.values()))
