"""What a layer asks while it is traced: is this an XLA program for the CPU? Some computations are
faster there in another form (see `gpt_keras.layers.products` and `gpt_keras.layers.dropout`)."""
import tensorflow as tf

from gpt_keras import _cpu

try:  # TensorFlow's XLA ops and its XLA-context test: in every TensorFlow build, not its public API.
    from tensorflow.compiler.tf2xla.python.xla import optimization_barrier as _optimization_barrier
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext as _in_xla_context
except ImportError:  # pragma: no cover - the layers then keep their plain forms
    _optimization_barrier = _in_xla_context = None


def tracing_xla_for_cpu():
    """True while tracing an XLA program (`jit_compile=True`) with no GPU or TPU visible."""
    if _optimization_barrier is None or not _in_xla_context(tf.compat.v1.get_default_graph()):
        return False
    return not _cpu.accelerators_visible()


def barrier(tensor):
    """`tensor`, computed where it stands: XLA neither folds it into its consumers nor moves it."""
    return _optimization_barrier(tensor)[0]
