"""gpt_keras: the original OpenAI GPT in Keras 3 / TensorFlow."""
from gpt_keras._backend import ensure_tensorflow_backend

ensure_tensorflow_backend()

__version__ = "0.1.0"
