"""Checkpoint saves stopped at each of their steps, for tests/test_checkpoint_interrupted.py.

Imported by the tests (a stop is an exception), and run by them as a script (a stop is a SIGKILL of a
forked child): ``python checkpoint_save_steps.py ROOT`` prints, as JSON, what every route and layout left.
Every version of the toy checkpoint has one value per tensor, so a load that mixes two saves shows.
"""
import json
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gpt_keras import _dirs, _fs, checkpoints

ROUTES = ("exchange", "two_renames", "mount_point", "working_directory")
# Six tensors of 80 bytes: one file, or three shards of two.
LAYOUTS = {"plain": None, "sharded": 160}
CONFIG = '{"n_layer": 6}'
VOCAB = '{"a": 0}'


def subprocess_environment():
    """The environment for a Python subprocess that imports this checkout's gpt_keras and this module."""
    here = Path(__file__).resolve().parent
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}


def tensors(version):
    return {f"layer.{i}.weight": np.full((4, 5), version * 10 + i, np.float32) for i in range(6)}


def save(directory, version, layout):
    return checkpoints.save_state_dict(
        tensors(version), directory, max_shard_size=LAYOUTS[layout], extra_files={"config.json": CONFIG}
    )


def loaded_version(directory):
    """The version that loading `directory` gives; AssertionError when tensors of several are mixed."""
    state_dict, _ = checkpoints.load_state_dict(directory)
    assert sorted(state_dict) == sorted(tensors(0)), sorted(state_dict)
    versions = set()
    for name, array in state_dict.items():
        values = np.unique(array)
        assert values.size == 1, f"{name} holds {values}"
        versions.add((int(values[0]) - int(name.split(".")[1])) // 10)
    assert len(versions) == 1, f"a load mixes the tensors of versions {sorted(versions)}"
    return versions.pop()


def _renameat2_missing(source, target, flags):
    raise OSError(38, "renameat2 is not available")  # ENOSYS: the two-rename swap is used


@contextmanager
def route(name, directory):
    """Makes saves of `directory` take one route: swapped by exchange or by two renames, or in place."""
    patches = {
        "two_renames": [(_dirs, "_renameat2", _renameat2_missing)],
        "mount_point": [(os.path, "ismount", lambda path: Path(path) == directory)],
    }.get(name, [])
    saved = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in patches]
    cwd = os.getcwd()
    for owner, attribute, value in patches:
        setattr(owner, attribute, value)
    if name == "working_directory" and directory.is_dir():
        os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(cwd)
        for owner, attribute, value in saved:
            setattr(owner, attribute, value)


@contextmanager
def stopping_at(number, stop):
    """Calls `stop(step)` at the `number`-th step (0-based) a writer reports."""
    real, calls = _fs.at_step, []

    def at_step(step):
        calls.append(step)
        if len(calls) == number + 1:
            stop(step)

    _fs.at_step = at_step
    try:
        yield calls
    finally:
        _fs.at_step = real


def first_save(root, route_name, old):
    directory = root / "ckpt"
    save(directory, 1, old)
    (directory / "vocab.json").write_text(VOCAB)
    return directory


def steps_of(root, route_name, old, new):
    """The steps of saving version 2 over version 1."""
    directory = first_save(root, route_name, old)
    with route(route_name, directory), stopping_at(-1, None) as calls:
        save(directory, 2, new)
    return calls


def second_save(root, route_name, old, new, number, stop):
    """Saves version 1, then version 2 stopped at its `number`-th step by `stop(step)`."""
    directory = first_save(root, route_name, old)
    with route(route_name, directory), stopping_at(number, stop):
        save(directory, 2, new)
    return directory


def leftovers(directory):
    """Hidden entries that saves left beside `directory` or inside it."""
    return sorted(p.name for p in [*directory.parent.iterdir(), *directory.iterdir()] if p.name.startswith("."))


def state_after(directory, route_name, new):
    """What a stopped save left: the version a load gives, the vocabulary, and what the next save gives."""
    readable = _dirs.readable_directory(directory)
    state = {"loads": loaded_version(directory), "vocab": (readable / "vocab.json").read_text()}
    with route(route_name, directory):
        save(directory, 3, new)
    state.update(next_save=loaded_version(directory), vocab_after=(directory / "vocab.json").read_text())
    state["leftovers"] = leftovers(directory)
    return state


def killed_at_every_step(root):
    """For every route, layout change and step: SIGKILL a forked child saving there, then inspect."""
    results = []
    for route_name in ROUTES:
        for old in LAYOUTS:
            for new in LAYOUTS:
                case = root / f"{route_name}-{old}-{new}"
                steps = steps_of(case / "steps", route_name, old, new)
                for number, step in enumerate(steps):
                    where = case / str(number)
                    pid = os.fork()
                    if pid == 0:
                        second_save(where, route_name, old, new, number, lambda step: os.kill(os.getpid(), signal.SIGKILL))
                        os._exit(0)
                    _, status = os.waitpid(pid, 0)
                    result = {"route": route_name, "old": old, "new": new, "step": step}
                    result["killed"] = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                    try:
                        result.update(state_after(where / "ckpt", route_name, new))
                    except Exception as error:  # reported to the test, which names the case
                        result["error"] = f"{type(error).__name__}: {error}"
                    results.append(result)
    return results


if __name__ == "__main__":
    print(json.dumps(killed_at_every_step(Path(sys.argv[1]))))
