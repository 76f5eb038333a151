"""Directory saves: `staged_directory` fills a hidden sibling, flushes it, then swaps it for the old
directory in one step, keeping the old one's other files, so a reader (or a process killed half-way)
finds the old directory or the new one, never a mix and never nothing.

Each step calls `gpt_keras._fs.at_step`, through which tests stop the writer at every point.
"""
import ctypes
import errno
import glob
import logging
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

try:
    import fcntl
except ImportError:  # Windows: no flock; see _lock
    fcntl = None

logger = logging.getLogger("gpt_keras")

from gpt_keras import _fs
from gpt_keras._fs import current_umask, fsync_path


class Staging(NamedTuple):
    """Where a `staged_directory` body writes (`path`), and the absolute `directory` it becomes."""

    path: Path
    directory: Path


@contextmanager
def staged_directory(directory, *, superseded=None, commit_order=None, replace=True):
    """Writes a directory whole: the body fills a hidden staging directory, which then takes its place.

    An existing `directory` is swapped for the staging directory in one step (``renameat2`` with
    ``RENAME_EXCHANGE`` on Linux, so the path is never empty; elsewhere two renames, which the next
    `staged_directory` or `readable_directory` of the path finishes if a kill lands between them). Its
    entries that the body did not write and `superseded` does not claim are kept: hard-linked into the
    staging directory before the swap, and whatever appeared or changed in them meanwhile is moved over
    after it. A directory that cannot be swapped (a mount point, the working directory or one above it, or
    a parent this process cannot write) is staged inside itself: the written files are renamed in one by
    one in `commit_order`, then the superseded entries not written are removed. Leftovers of killed saves
    of `directory` are removed first. An exception in the body removes the staging directory and leaves
    `directory` as it was.

    Args:
        directory: the directory to create or replace (through a symlink: its target is replaced).
        superseded: a predicate on entry names, True for old entries the new contents replace even when
            the body does not write them (weights of another format). Default: none.
        commit_order: a sort key for the names renamed in one by one; the file that makes the others count
            (an index, a config) sorts last. Default: by name.
        replace: False to refuse an existing `directory` with FileExistsError, atomically.

    Yields:
        A `Staging`: write into ``staging.path``.

    Example:
        >>> with staged_directory("export/3", replace=False) as staging:  # doctest: +SKIP
        ...     tf.saved_model.save(module, str(staging.path))
    """
    directory = Path(directory).absolute()
    directory = directory.resolve() if directory.is_symlink() else directory
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"cannot save to {directory}: it exists and is not a directory")
    directory.parent.mkdir(parents=True, exist_ok=True)
    finish_interrupted_swap(directory)
    remove_abandoned_stagings(directory)
    if not replace and os.path.lexists(directory):
        raise FileExistsError(errno.EEXIST, f"{directory} exists already", str(directory))
    save_id = uuid.uuid4().hex[:12]
    in_place = replace and directory.is_dir() and (os.path.ismount(directory) or _holds_working_directory(directory))
    try:
        staging = _make_staging(directory, save_id, inside=in_place)
    except PermissionError:
        if in_place or not directory.is_dir():
            raise
        staging = _make_staging(directory, save_id, inside=True)  # the directory is writable, its parent not
    locks = [_lock(staging)[0]]
    try:
        try:
            os.chmod(staging, directory.stat().st_mode & 0o7777 if directory.is_dir() else 0o777 & ~current_umask())
            yield Staging(staging, directory)
            _fsync_tree(staging)
            _fs.at_step("staged")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _Commit(staging, directory, save_id, superseded, commit_order, locks).run(replace)
    finally:
        for descriptor in locks:
            if descriptor is not None:
                os.close(descriptor)


def readable_directory(directory):
    """Where to read `directory` from: itself; while a save killed between two renames has left it
    missing, the hidden sibling that holds its contents (the next save puts them back); else None."""
    directory = Path(directory)
    if os.path.lexists(directory):
        return directory
    return _interrupted_swap_source(directory, abandoned_only=False)


def finish_interrupted_swap(directory):
    """Puts back the contents of `directory` when a killed save left it missing between two renames:
    the new ones when their staging directory is still there (it is complete before the old contents
    are moved aside), else the old ones."""
    directory = Path(directory)
    if os.path.lexists(directory):
        return
    source = _interrupted_swap_source(directory, abandoned_only=True)
    if source is not None:
        os.rename(source, directory)
        fsync_path(directory.parent)
        logger.warning("%s was missing after an interrupted save: moved %s into its place", directory, source.name)


def remove_abandoned_stagings(directory):
    """Removes the hidden directories that killed saves of `directory` left beside it or inside it;
    those of a save still running are locked by it (``flock``) and kept."""
    directory = Path(directory)
    removed = []
    for pattern in (_sibling_pattern(directory, "saving"), _sibling_pattern(directory, "old"), _inside_pattern(directory)):
        for leftover in sorted(glob.glob(pattern)):
            if _is_abandoned(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(Path(leftover).name)
    if removed:
        logger.info("Removed %s, left by interrupted saves of %s", removed, directory)


def _holds_working_directory(directory):
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    return cwd == directory.resolve() or directory.resolve() in cwd.parents


def _sibling_pattern(directory, kind, save_id="*"):
    return str(directory.parent / f".{glob.escape(directory.name)}.{kind}-{save_id}")


def _inside_pattern(directory):
    return str(directory / f".{glob.escape(directory.name)}.saving-*")


def _make_staging(directory, save_id, *, inside):
    return Path(tempfile.mkdtemp(prefix=f".{directory.name}.saving-{save_id}-", dir=directory if inside else directory.parent))


def _interrupted_swap_source(directory, *, abandoned_only):
    asides = [Path(p) for p in glob.glob(_sibling_pattern(directory, "old")) if not abandoned_only or _is_abandoned(p)]
    if not asides:
        return None
    aside = max(asides, key=lambda path: path.stat().st_mtime_ns if path.exists() else -1)
    save_id = glob.escape(aside.name.rsplit(".old-", 1)[1])
    complete = sorted(glob.glob(_sibling_pattern(directory, "saving", f"{save_id}-*")))
    return Path(complete[0]) if complete else aside


def _lock(path):
    """Opens `path` and takes an exclusive ``flock`` on it until the descriptor is closed. Returns
    ``(descriptor or None when path cannot be opened, False when a running save holds the lock)``;
    where there is no flock, every leftover counts as abandoned."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None, False
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return descriptor, False
    except OSError:
        pass
    return descriptor, True


def _is_abandoned(path):
    descriptor, taken = _lock(path)
    if descriptor is not None:
        os.close(descriptor)
    return taken


def _fsync_tree(root):
    for parent, directories, files in os.walk(root, topdown=False):
        for name in files:
            if not os.path.islink(os.path.join(parent, name)):
                fsync_path(os.path.join(parent, name))
        fsync_path(parent)


def _is_real_dir(path):
    return os.path.isdir(path) and not os.path.islink(path)


def _remove(path):
    if _is_real_dir(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


# renameat2(2) flags: fail if the target exists; swap the two paths.
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
# What renameat2 answers where it cannot do the job at all (no such call, or a file system without it).
_RENAME_UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP)


def _renameat2(source, target, flags):
    """Linux's renameat2(2) through the C library; OSError(ENOSYS) where the C library lacks it."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        raise OSError(errno.ENOSYS, "renameat2 is not available") from None
    at_cwd = -100  # AT_FDCWD: paths relative to the working directory
    if function(at_cwd, os.fsencode(source), at_cwd, os.fsencode(target), ctypes.c_uint(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(source), None, str(target))


class _CannotRename(Exception):
    """The existing directory refused to be renamed (a mount point the checks missed, permissions)."""


class _Commit:
    """Puts a complete staging directory in place: the second half of `staged_directory`."""

    def __init__(self, staging, directory, save_id, superseded, commit_order, locks):
        self.staging, self.directory, self.save_id, self.locks = staging, directory, save_id, locks
        self.superseded, self.commit_order = superseded or (lambda name: False), commit_order
        self.written = sorted(os.listdir(staging))

    def run(self, replace):
        if self.staging.parent == self.directory:
            self._rename_in(self.staging)
        elif replace and os.path.lexists(self.directory):
            self._swap()
        else:
            try:
                self._rename_new(replace)
            except BaseException:
                shutil.rmtree(self.staging, ignore_errors=True)
                raise
            fsync_path(self.directory.parent)
            _fs.at_step("renamed into place")

    def _rename_new(self, replace):
        if replace:
            os.rename(self.staging, self.directory)
            return
        try:
            _renameat2(self.staging, self.directory, _RENAME_NOREPLACE)
            return
        except OSError as error:
            if error.errno not in (*_RENAME_UNSUPPORTED, errno.EEXIST):
                raise
        # rename(2) would replace an empty directory that appeared meanwhile; refuse that here.
        if os.path.lexists(self.directory):
            raise FileExistsError(errno.EEXIST, f"{self.directory} appeared during the save", str(self.directory))
        os.rename(self.staging, self.directory)

    def _swap(self):
        try:
            self._carry_over()
            fsync_path(self.staging)
            _fs.at_step("carried over")
            self.locks.append(_lock(self.directory)[0])
            old = self._exchange()
        except _CannotRename as error:
            logger.info("Cannot swap %s in one rename (%s): replacing its saved files in place", self.directory, error)
            self._rename_in(self._copy_in())
            return
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise
        _fs.at_step("swapped")
        try:
            self._keep_leftovers(old)
        except OSError as error:
            logger.warning("Saved %s, but kept its previous contents in %s: %s", self.directory, old, error)
            return
        shutil.rmtree(old, ignore_errors=True)
        if old.exists():
            logger.warning("Saved %s, but could not remove its previous contents kept in %s", self.directory, old)

    def _exchange(self):
        """Swaps the staging directory with the old one; returns where the old contents are now."""
        try:
            _renameat2(self.staging, self.directory, _RENAME_EXCHANGE)
            fsync_path(self.directory.parent)
            return self.staging
        except OSError as error:
            if error.errno not in _RENAME_UNSUPPORTED:
                raise _CannotRename(error) from error
        aside = self.directory.parent / f".{self.directory.name}.old-{self.save_id}"
        try:
            os.rename(self.directory, aside)
        except OSError as error:
            raise _CannotRename(error) from error
        try:
            _fs.at_step("moved aside")
            os.rename(self.staging, self.directory)
        except BaseException:
            os.rename(aside, self.directory)
            raise
        fsync_path(self.directory.parent)
        return aside

    def _kept(self, name):
        """Whether an entry of the old contents belongs in the new ones (not written, superseded or a staging)."""
        return name not in self.written and not self.superseded(name) and not name.startswith(f".{self.directory.name}.saving-")

    def _carry_over(self):
        carried = [name for name in sorted(os.listdir(self.directory)) if self._kept(name)]
        for name in carried:
            if _is_real_dir(self.directory / name):
                shutil.copytree(self.directory / name, self.staging / name, symlinks=True, copy_function=_link_or_copy)
            else:
                _link_or_copy(self.directory / name, self.staging / name)
        if carried:
            logger.debug("Kept %s from the previous contents of %s", carried, self.directory)

    def _keep_leftovers(self, old):
        """Moves into the new directory whatever appeared or changed in the old one after `_carry_over`."""
        moved = [path for name in sorted(os.listdir(old)) if self._kept(name) for path in _move_if_changed(old / name, self.directory / name)]
        if moved:
            logger.info("Kept %s, written into %s during the save", [p.name for p in moved], self.directory)

    def _copy_in(self):
        """Copies the written files into a staging directory inside the directory (renames do not cross
        file systems), all flushed before the first one replaces an old file."""
        try:
            local = _make_staging(self.directory, self.save_id, inside=True)
            self.locks.append(_lock(local)[0])
            try:
                for name in self.written:
                    copy = shutil.copytree if _is_real_dir(self.staging / name) else shutil.copyfile
                    copy(self.staging / name, local / name)
                _fsync_tree(local)
            except BaseException:
                shutil.rmtree(local, ignore_errors=True)
                raise
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
        return local

    def _rename_in(self, staging):
        """Renames the written files over their namesakes, in `commit_order`, then removes the superseded
        entries that were not written; other entries are not touched."""
        try:
            for name in sorted(self.written, key=self.commit_order):
                os.replace(staging / name, self.directory / name)
                _fs.at_step(f"renamed {name}")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for name in os.listdir(self.directory):
            if name not in self.written and self.superseded(name):
                _remove(self.directory / name)
        fsync_path(self.directory)
        _fs.at_step("removed superseded")
        shutil.rmtree(staging, ignore_errors=True)


def _link_or_copy(source, target):
    source = Path(source)
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _move_if_changed(source, target):
    """Moves `source` over `target` unless it is the file `target` links to; directories entry by entry."""
    if _is_real_dir(source) and _is_real_dir(target):
        return [moved for name in sorted(os.listdir(source)) for moved in _move_if_changed(source / name, target / name)]
    if os.path.lexists(target):
        if os.path.samestat(os.lstat(source), os.lstat(target)):
            return []
        if _is_real_dir(source) or _is_real_dir(target):
            _remove(target)
    os.replace(source, target)
    return [target]
