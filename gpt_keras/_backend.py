"""Pins Keras to the TensorFlow backend before anything imports Keras.

The package relies on TensorFlow for XLA-compiled generation, tf.data pipelines, SavedModel export and
tf.distribute, so another backend would not fail loudly on its own: it would fail deep in a trace.
"""
import os
import sys
import warnings


def ensure_tensorflow_backend():
    requested = os.environ.get("KERAS_BACKEND")
    if "keras" in sys.modules:
        import keras

        active = keras.backend.backend()
        if active != "tensorflow":
            raise ImportError(
                f"gpt_keras needs the Keras 'tensorflow' backend, but Keras was already imported with "
                f"backend {active!r}. Set KERAS_BACKEND=tensorflow (or import gpt_keras before keras)."
            )
        return
    if requested and requested != "tensorflow":
        warnings.warn(
            f"KERAS_BACKEND={requested!r} is not supported by gpt_keras; using 'tensorflow' instead.",
            stacklevel=3,
        )
    os.environ["KERAS_BACKEND"] = "tensorflow"
