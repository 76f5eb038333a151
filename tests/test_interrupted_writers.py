"""Tokenizer saves, exports and `ResumableCheckpoint` saves stopped between any two of their steps (by an
exception, or by SIGKILL) leave the previous version or the new one whole and loadable, and the next
write succeeds. (Checkpoint saves: tests/test_checkpoint_interrupted.py.)"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import interrupted_writers as writers


class Stopped(Exception):
    pass


def stop(step):
    raise Stopped(step)


def run_script(*arguments, timeout=300):
    return subprocess.run(
        [sys.executable, str(Path(writers.__file__)), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=writers.subprocess_environment(),
    )


# === Tokenizer saves ===


def test_a_tokenizer_save_reports_a_step_after_each_write_and_the_swap(tmp_path):
    steps = writers.tokenizer_steps(tmp_path)
    written = len(writers.TOKENIZER_FILES)
    assert steps[:written] == [f"wrote {name}" for name in writers.TOKENIZER_FILES]
    assert "swapped" in steps[written:], steps


def stopped_tokenizer_states(tmp_path):
    """(step, what is left) for a tokenizer save stopped by an exception at each of its steps."""
    steps = writers.tokenizer_steps(tmp_path / "steps")
    assert len(steps) > len(writers.TOKENIZER_FILES), steps
    for number, step in enumerate(steps):
        where = tmp_path / str(number)
        with pytest.raises(Stopped):
            writers.stopped_tokenizer_save(where, number, stop)
        yield step, where, writers.tokenizer_state(where / "tokenizer", writers.saved_versions(where))


def test_a_tokenizer_save_stopped_at_any_step_leaves_every_file_whole(tmp_path):
    for step, where, state in stopped_tokenizer_states(tmp_path):
        # Every file is one version's, whole; before the swap all are the old ones.
        assert None not in state["files"].values() and state["leftovers"] == [], (step, state)
        if step.startswith("wrote ") or step == "staged":
            assert state["set"] == 1 and state["loads"] is True, (step, state)
        writers.tokenizer(2, where).save_pretrained(where / "tokenizer")
        again = writers.tokenizer_state(where / "tokenizer", writers.saved_versions(where))
        assert again["set"] == 2 and again["loads"] is True, step


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked children")
def test_a_tokenizer_save_killed_at_any_step_leaves_every_file_whole(tmp_path):
    done = run_script("tokenizer", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert [r["step"] for r in results] == writers.tokenizer_steps(tmp_path / "steps")
    assert [r for r in results if not r["killed"] or r.get("error") or None in r["files"].values()] == []
    assert all(r["set"] == 1 and r["loads"] is True for r in results if r["step"].startswith("wrote "))
    assert all(r["set"] in (1, 2) and r["loads"] is True for r in results), results


def test_a_tokenizer_save_stopped_at_any_step_leaves_the_old_or_the_new_tokenizer(tmp_path):
    for step, _, state in stopped_tokenizer_states(tmp_path):
        assert state["set"] in (1, 2) and state["loads"] is True, (step, state)


# === Exports ===


@pytest.fixture(scope="module")
def export_model():
    return writers.export_model()


def test_an_export_stopped_at_any_step_leaves_every_version_whole(tmp_path, export_model):
    inputs = writers.export_inputs()
    _, steps = writers.export_version(export_model, tmp_path / "steps")
    assert steps == list(writers.EXPORT_STEPS[1:])
    expected = np.asarray(export_model(**inputs)["last_hidden_state"]).tolist()
    for step in writers.EXPORT_STEPS:
        export_dir = tmp_path / step.replace(" ", "-")
        writers.export_version(export_model, export_dir)
        with pytest.raises(Stopped):
            writers.export_version(export_model, export_dir, stop_at=step, stop=stop)
        state = writers.export_state(export_dir, inputs)
        # Version 1 always; version 2 only once it was renamed in, and then whole.
        want = ["1", "2"] if step == "renamed into place" else ["1"]
        assert sorted(state["versions"]) == want and state["others"] == [], (step, state)
        assert all(np.allclose(outputs, expected, atol=1e-5) for outputs in state["versions"].values()), step
        path, _ = writers.export_version(export_model, export_dir)
        assert path.name == str(len(want) + 1)
        assert sorted(p.name for p in export_dir.iterdir()) == [str(v) for v in range(1, len(want) + 2)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals")
@pytest.mark.parametrize("step", ["wrote saved model", "staged"])
def test_an_export_killed_before_its_rename_leaves_the_old_versions_and_the_next_export_cleans_up(tmp_path, export_model, step):
    done = run_script("export", tmp_path, step)
    assert done.returncode == -9, done.stderr[-3000:]
    export_dir = tmp_path / "exports"
    hidden = [p.name for p in export_dir.iterdir() if p.name.startswith(".")]
    assert hidden, "a killed export leaves its staging directory"
    state = writers.export_state(export_dir, writers.export_inputs())
    assert sorted(state["versions"]) == ["1"]
    path, _ = writers.export_version(export_model, export_dir)
    assert path.name == "2" and sorted(p.name for p in export_dir.iterdir()) == ["1", "2"]


# === ResumableCheckpoint saves ===


def test_a_training_checkpoint_stopped_at_any_step_leaves_a_checkpoint_that_loads(tmp_path):
    steps = writers.training_run(tmp_path / "steps")
    per_save = ["wrote weights", "renamed weights", "wrote state", "removed old weights"]
    assert steps == per_save * 3  # after steps 2 and 4, and at the end of the epoch
    for number, step in enumerate(per_save):
        directory = tmp_path / str(number)
        with pytest.raises(Stopped):
            writers.training_run(directory, len(per_save) + number, stop)  # during the second save
        state = writers.training_state(directory)
        # The state names the first save's weights until it is replaced, then the second's.
        assert state["global_step"] == (4 if step in ("wrote state", "removed old weights") else 2), (step, state)
        writers.training_run(directory)  # resumes from it, and its saves clean up after the stopped one
        assert writers.training_state(directory)["files"] == ["state.json", "step-000000004.weights.h5"], step


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals")
def test_a_training_checkpoint_killed_between_its_weights_and_its_state_resumes(tmp_path):
    done = run_script("training", tmp_path, 4 + 1)  # the second save, after renaming its weights in
    assert done.returncode == -9, done.stderr[-3000:]
    state = writers.training_state(tmp_path / "ckpt")
    assert state["global_step"] == 2 and state["files"] == ["state.json", "step-000000002.weights.h5", "step-000000004.weights.h5"]
    writers.training_run(tmp_path / "ckpt")
    assert writers.training_state(tmp_path / "ckpt")["files"] == ["state.json", "step-000000004.weights.h5"]
