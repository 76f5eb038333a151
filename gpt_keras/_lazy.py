"""Names a package exports but imports on first use, so that importing the package stays cheap (the
tokenizer, the data readers and the decoding options never pull in TensorFlow)."""
import importlib
import sys


def lazy_exports(package, exports):
    """The module-level `__getattr__` and `__dir__` for `package` (its `__name__`).

    Args:
        package: the package's `__name__`.
        exports: name -> the module (absolute, or relative to `package` when it starts with ".") that
            defines it.

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"to_dataset": ".pipelines"})  # doctest: +SKIP
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
