"""Atomic writes: the one place where gpt_keras puts bytes on disk that a user keeps.

A file is written whole to a private temporary sibling, flushed to disk, then renamed over its target,
so a reader (or a process killed half-way) sees the old file or the new one, never a truncated one.
Directories (checkpoints, exports) are written the same way by `gpt_keras._dirs.staged_directory`.

Writers call `at_step` between their steps; it does nothing, and tests replace it to stop a writer at
each point in turn (by an exception, or by killing the process) and check what is left on disk.
"""
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def at_step(step):
    """Marks that a writer has finished `step` (a short name such as ``"swapped"``); does nothing."""


def fsync_path(path):
    """Flushes a file, or a directory's entries, to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def current_umask():
    """The process's umask (read without changing it for longer than one call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_identity(path):
    """Which file `path` names now, ``(device, inode)``, or None. A save never rewrites a file in place,
    so two equal identities of one path are one version of it."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _temporary_sibling(path):
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        # mkstemp creates the file 0o600; a saved file gets the permissions an ordinary open would give.
        os.chmod(temporary, 0o666 & ~current_umask())
    except BaseException:
        os.close(descriptor)
        os.unlink(temporary)
        raise
    return descriptor, Path(temporary)


@contextmanager
def atomic_file(path, mode="wb", encoding=None):
    """Opens a temporary sibling of `path` for writing; on success it replaces `path` in one rename.

    On any exception the temporary file is removed and `path` is left as it was.

    Args:
        path: the file to write.
        mode: ``"wb"`` or ``"w"``.
        encoding: the text encoding for ``mode="w"`` (default UTF-8).

    Example:
        >>> with atomic_file("vocab.json", "w") as handle:  # doctest: +SKIP
        ...     json.dump(vocab, handle)
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode: expected 'w' or 'wb', got {mode!r}")
    path = Path(path)
    descriptor, temporary = _temporary_sibling(path)
    try:
        text = mode == "w"
        with os.fdopen(descriptor, mode, encoding=(encoding or "utf-8") if text else None, newline="" if text else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


@contextmanager
def atomic_path(path):
    """Yields a temporary sibling of `path` for a library that writes by file name; on success it
    replaces `path` in one rename (see `atomic_replace`), on an exception it is removed.

    Example:
        >>> with atomic_path("model.safetensors") as temporary:  # doctest: +SKIP
        ...     safetensors.numpy.save_file(tensors, temporary)
    """
    path = Path(path)
    descriptor, temporary = _temporary_sibling(path)
    os.close(descriptor)
    try:
        yield temporary
        atomic_replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically."""
    with atomic_file(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path, text, encoding="utf-8"):
    """Writes `text` to `path` atomically."""
    with atomic_file(path, "w", encoding=encoding) as handle:
        handle.write(text)


def atomic_write_json(path, value, **dump_options):
    """Writes `value` as JSON to `path` atomically; `dump_options` go to `json.dump`."""
    with atomic_file(path, "w") as handle:
        json.dump(value, handle, **dump_options)


def atomic_replace(temporary, path):
    """Renames a finished `temporary` file (written by a library that needs a path) over `path`."""
    fsync_path(temporary)
    os.replace(temporary, path)
    fsync_path(Path(path).parent)
