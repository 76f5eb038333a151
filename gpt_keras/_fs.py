"""Atomic writes: the one place where gpt_keras puts bytes on disk that a user keeps.

A file is written whole to a private temporary sibling, flushed to disk, then renamed over its target,
so a reader (or a process killed half-way) sees the old file or the new one, never a truncated one.
Directory-level saves (checkpoints, exports) build on the same pieces: `fsync_path` for the entries and
`staging_dir` for a sibling to fill before it is swapped in.
"""
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


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
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    temporary = Path(temporary)
    try:
        # mkstemp creates the file 0o600; a saved file gets the permissions an ordinary open would give.
        os.chmod(temporary, 0o666 & ~current_umask())
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
