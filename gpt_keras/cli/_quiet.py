"""A command's terminal shows the command's own lines: TensorFlow's C++ logging is off unless asked for.

TensorFlow logs from C++ through absl: on every import oneDNN's notice and the CUDA probes
(`cudart_stub.cc ... Could not find cuda drivers`), then a `cuInit` ERROR on a machine without a GPU,
XLA's service lines and an `assert_op.cc` warning per range check at every compile, about 40 lines
around a quickstart's 12. `TF_CPP_MIN_LOG_LEVEL=3` silences what is logged once absl is initialized
(ERROR too: the `cuInit` line is one; real failures still raise Python exceptions, which the command
reports). What the shared libraries log while they load comes before that, with absl's
`WARNING: All log messages before absl::InitializeLog() is called ...`, and ignores the variable:
during `import tensorflow` file descriptor 2 points at a temporary file, and whatever in it is not
such a line is written back afterwards (everything, when the import fails).

Only the command line does this: `import gpt_keras` leaves a program's logging as it is.
"""
import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"

# absl's line prefix (severity, mmdd, hh:mm:ss.micros, thread, file:line]; before InitializeLog the
# seconds count from 1970: `I0000 00:00:1796116646.179509 28917 port.cc:153] `), and absl's line before its first.
_CPP_LOG_LINE = re.compile(rb"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] |WARNING: All log messages before absl::InitializeLog\(\)")


@contextlib.contextmanager
def quiet_tensorflow(debug=False):
    """Runs the block with TensorFlow's C++ logging silenced and its import-time lines dropped.

    Nothing changes when `debug` is true or the user set `TF_CPP_MIN_LOG_LEVEL` (their choice wins);
    the variable and the import hook are removed again when the block ends.

    Args:
        debug: `--debug` was given: show everything.

    Yields:
        True when the logging is silenced.
    """
    if debug or LOG_LEVEL_VARIABLE in os.environ:
        yield False
        return
    os.environ[LOG_LEVEL_VARIABLE] = "3"
    hook = _QuietTensorFlowImport()
    sys.meta_path.insert(0, hook)
    try:
        yield True
    finally:
        sys.meta_path.remove(hook)
        os.environ.pop(LOG_LEVEL_VARIABLE, None)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the other finders would, with a loader that drops the C++ lines it logs."""

    def __init__(self):
        self._finding = False

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or self._finding:
            return None
        self._finding = True  # the lookup below goes through sys.meta_path again
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _LoaderWithoutCppLogs(spec.loader)
        return spec


class _LoaderWithoutCppLogs(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        # The module keeps the real loader: tensorflow and tools that inspect it see a plain import.
        module.__loader__ = module.__spec__.loader = self.loader
        with _cpp_log_lines_dropped():
            self.loader.exec_module(module)


@contextlib.contextmanager
def _cpp_log_lines_dropped():
    """File descriptor 2 (C++'s stderr and Python's) goes to a temporary file while the block runs; then
    its lines that are not absl's go back to stderr, or all of them when the block raised."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured if failed or not _CPP_LOG_LINE.match(line)]
            if kept:
                os.write(2, b"".join(kept))
