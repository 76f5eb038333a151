"""`LoraWeights`: what our `Dense` and `Embedding` add to Keras' own LoRA (`enable_lora`): the low-rank
matrices are saved beside the frozen weight instead of merged into it, and `merge_lora()` folds them in.

Keras' layers merge LoRA into the saved kernel and, on loading into a LoRA layer, set both matrices to
zero: a LoRA model reloaded from a `.keras` file or a `save_weights` checkpoint then has zero
gradients for both matrices and stops learning. Keeping them apart makes a checkpoint restore the
LoRA model exactly, so an interrupted LoRA fine-tune resumes where it stopped.
"""
from keras import ops


class LoraWeights:
    """Mixin before a Keras layer with `enable_lora` (`keras.layers.Dense`, `keras.layers.Embedding`).

    Subclasses name their two LoRA matrices in `lora_weight_names` (in Keras' attribute names).
    """

    lora_weight_names = ()

    def save_own_variables(self, store):
        if not self.lora_enabled:
            return super().save_own_variables(store)
        # Keras' own save, as if LoRA were off (the frozen weight as it is), then the two matrices.
        self.lora_enabled = False
        try:
            super().save_own_variables(store)
        finally:
            self.lora_enabled = True
        start = len(list(store.keys()))
        for offset, name in enumerate(self.lora_weight_names):
            store[str(start + offset)] = getattr(self, name)

    def load_own_variables(self, store):
        if not self.lora_enabled:
            return super().load_own_variables(store)
        count = len(list(store.keys()))
        expected = len(self.weights)
        if count == expected:
            # Saved by a LoRA layer of this kind: the frozen weight, then the two matrices.
            self.lora_enabled = False
            try:
                super().load_own_variables(store)
            finally:
                self.lora_enabled = True
            for offset, name in enumerate(self.lora_weight_names):
                getattr(self, name).assign(store[str(count - len(self.lora_weight_names) + offset)])
        elif count == expected - len(self.lora_weight_names):
            # Saved without LoRA: those become the frozen weights, and the adaptation starts from zero
            # (B = 0, A kept: Keras would zero both, which leaves nothing to train).
            a_name, b_name = self.lora_weight_names
            kept = ops.convert_to_numpy(getattr(self, a_name))
            super().load_own_variables(store)
            getattr(self, a_name).assign(kept)
            getattr(self, b_name).assign(ops.zeros(getattr(self, b_name).shape))
        else:
            raise ValueError(
                f"layer {self.name!r} has LoRA enabled and {expected} weights ({expected - 2} without LoRA); "
                f"the file holds {count} for it: it was saved from a model of another structure"
            )

    def reset_lora(self):
        """Makes the adaptation zero (B = 0), keeping A: the layer computes its frozen weights alone."""
        b = getattr(self, self.lora_weight_names[1])
        b.assign(ops.zeros(b.shape, b.dtype))

    def merge_lora(self):
        """Folds the LoRA update into the layer's weights (re-quantized for a quantized layer) and
        removes the two matrices: the layer computes the same outputs without LoRA.

        Raises:
            ValueError: LoRA is not enabled on this layer.
        """
        # Imported here: gpt_keras.models imports the layers.
        from gpt_keras.models import _keras_compat

        if not self.lora_enabled:
            raise ValueError(f"layer {self.name!r} has no LoRA to merge")
        _keras_compat.merge_lora_into_weights(self, self.lora_weight_names)
