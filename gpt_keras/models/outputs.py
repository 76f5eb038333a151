"""`ModelOutput`: what the models return, a dict whose keys also read as attributes."""
from gpt_keras.models._keras_compat import register_tree_node_class


# Registered so that Keras (predict, fit, tf.function) treats outputs as dicts, not opaque leaves.
@register_tree_node_class
class ModelOutput(dict):
    """A dict of model outputs whose keys also read as attributes, as the reference's outputs do.

    Fields that were not computed (e.g. `loss` without labels) are absent as keys and read as None.
    Integer indexing and slices give the values in order: `outputs[0]` is the loss when there is one,
    else logits; `outputs[:2]` is a tuple.
    """

    FIELDS = ("loss", "mc_loss", "logits", "mc_logits", "last_hidden_state", "hidden_states", "attentions")

    def __getattr__(self, name):
        if name in self:
            return self[name]
        if name in self.FIELDS:
            return None
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self):
        return tuple(self.values())

    def tree_flatten(self):
        keys = tuple(self.keys())
        return tuple(self.values()), keys, keys

    @classmethod
    def tree_unflatten(cls, keys, values):
        return cls(zip(keys, values))


def optional_outputs(outputs):
    """The backbone outputs returned only when asked: `hidden_states` and `attentions`."""
    return {name: outputs[name] for name in ("hidden_states", "attentions") if name in outputs}
