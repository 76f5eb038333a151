"""Loading while another process saves gives one whole saved version, or a clear error; never a mix.

Issue 19, item 2: 24 of 30 loads during a concurrent save returned tensors of several saves (up to 8).
"""
import subprocess
import sys
import time

import pytest

import checkpoint_save_steps as steps
from gpt_keras.checkpoints.safetensors import SafetensorsError

# Long enough for a few hundred loads to meet a few hundred saves on a slow machine.
LOAD_SECONDS = 4.0

SAVER = """
import sys, time
from pathlib import Path
import checkpoint_save_steps as steps

directory, layout, stop = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
deadline, version = time.monotonic() + 60, 1
while not stop.exists() and time.monotonic() < deadline:
    version += 1
    steps.save(directory, version, layout)
    (directory.parent / "last_version").write_text(str(version))
"""


@pytest.mark.parametrize("layout", list(steps.LAYOUTS))
def test_loads_during_repeated_saves_each_give_one_saved_version(tmp_path, layout):
    directory = steps.first_save(tmp_path, "exchange", layout)
    stop = tmp_path / "stop"
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(directory), layout, str(stop)],
        env=steps.subprocess_environment(),
        stderr=subprocess.PIPE,
        text=True,
    )
    versions, errors = [], []
    try:
        while not (tmp_path / "last_version").exists() and saver.poll() is None:
            time.sleep(0.01)
        deadline = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < deadline and saver.poll() is None:
            try:
                versions.append(steps.loaded_version(directory))
            except (FileNotFoundError, SafetensorsError) as error:
                assert str(directory) in str(error), error
                errors.append(error)
    finally:
        stop.touch()
        _, saver_errors = saver.communicate(timeout=60)
    assert saver.returncode == 0, saver_errors[-3000:]
    saved = int((tmp_path / "last_version").read_text())
    assert all(1 <= version <= saved for version in versions)
    # The loads really overlapped the saves, and almost all of them succeeded.
    assert len(set(versions)) >= 3, (versions, saved)
    assert len(errors) <= len(versions) // 10, errors[:5]


def test_a_lazy_state_dict_reads_the_version_it_opened(tmp_path):
    from gpt_keras import checkpoints

    for layout in steps.LAYOUTS:
        directory = tmp_path / layout
        steps.save(directory, 1, layout)
        state_dict, _ = checkpoints.load_state_dict(directory, lazy=True)
        steps.save(directory, 2, layout)
        steps.save(directory, 3, layout)  # the files the dict opened are gone from the directory now
        assert all(float(state_dict[name].flat[0]) == 10 + int(name.split(".")[1]) for name in state_dict)
