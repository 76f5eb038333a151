"""Saves stopped between any two of their steps (by an exception, or by SIGKILL) leave one whole checkpoint,
the next save cleans up after them, and a save keeps files written into the directory while it runs."""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import checkpoint_save_steps as steps
from gpt_keras import _dirs, _fs, checkpoints

CASES = [(route, old, new) for route in steps.ROUTES for old in steps.LAYOUTS for new in steps.LAYOUTS]


class Stopped(Exception):
    pass


def stop(step):
    raise Stopped(step)


@pytest.mark.parametrize("route, old, new", CASES, ids=["-".join(case) for case in CASES])
def test_a_save_stopped_at_any_step_leaves_one_whole_checkpoint(tmp_path, route, old, new):
    names = steps.steps_of(tmp_path / "steps", route, old, new)
    writing = [name for name in names if name.startswith("wrote ") or name in ("staged", "carried over")]
    assert names[: len(writing)] == writing and names[-1] in ("swapped", "removed superseded"), names
    for number, step in enumerate(names):
        directory = tmp_path / str(number) / "ckpt"
        with pytest.raises(Stopped):
            steps.second_save(directory.parent, route, old, new, number, stop)
        state = steps.state_after(directory, route, new)
        # Stopped while writing: the old version; after the last step: the new one; in between, either.
        expected = {1} if number < len(writing) else {2} if number == len(names) - 1 else {1, 2}
        assert state["loads"] in expected, (step, state)
        assert state["vocab"] == state["vocab_after"] == steps.VOCAB, step
        assert state["next_save"] == 3 and state["leftovers"] == [], (step, state)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked children")
def test_a_save_killed_at_any_step_leaves_one_whole_checkpoint(tmp_path):
    script = Path(steps.__file__)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=steps.subprocess_environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) >= 4 * 4 * 5
    failures = [
        result
        for result in results
        if not result["killed"]
        or result.get("error")
        or result["loads"] not in (1, 2)
        or result["vocab"] != steps.VOCAB
        or (result["next_save"], result["vocab_after"], result["leftovers"]) != (3, steps.VOCAB, [])
    ]
    assert failures == []
    # A kill after the swap's first rename leaves the path empty: the load reads the complete new version.
    assert {r["loads"] for r in results if r["step"] == "moved aside"} == {2}


def test_an_interrupted_two_rename_swap_is_read_by_a_load_and_finished_by_the_next_save(tmp_path):
    # What a kill between the two renames leaves: the old contents aside, the complete new ones staged.
    directory = steps.first_save(tmp_path, "exchange", "sharded")
    new = steps.first_save(tmp_path / "elsewhere", "exchange", "sharded")
    steps.save(new, 2, "sharded")
    os.rename(directory, tmp_path / ".ckpt.old-0123456789ab")
    os.rename(new, tmp_path / ".ckpt.saving-0123456789ab-x1y2")
    assert steps.loaded_version(directory) == 2
    assert not directory.exists()  # a load only reads
    _dirs.finish_interrupted_swap(directory)  # what the next save does first
    assert steps.loaded_version(directory) == 2
    steps.save(directory, 3, "sharded")
    assert steps.loaded_version(directory) == 3 and (directory / "vocab.json").read_text() == steps.VOCAB
    assert steps.leftovers(directory) == []


def test_abandoned_stagings_are_removed_and_live_ones_kept(tmp_path):
    directory = tmp_path / "ckpt"
    steps.save(directory, 1, "plain")
    abandoned = [tmp_path / ".ckpt.saving-0123456789ab-x1", tmp_path / ".ckpt.old-0123456789ab", directory / ".ckpt.saving-ab-x2"]
    live = tmp_path / ".ckpt.saving-fedcba987654-x3"
    for path in [*abandoned, live]:
        path.mkdir()
        (path / "model.safetensors").write_bytes(b"partial")
    lock = os.open(live, os.O_RDONLY)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        steps.save(directory, 2, "plain")
        assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "ckpt"]
        assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    finally:
        os.close(lock)
    assert steps.loaded_version(directory) == 2


def test_files_written_into_the_directory_during_a_save_are_kept(tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    steps.save(directory, 1, "sharded")
    (directory / "vocab.json").write_text("old vocabulary")
    (directory / "runs").mkdir()
    real = _fs.at_step

    def write_meanwhile(step):
        real(step)
        if step == "carried over":
            (directory / "train.log").write_text("epoch 1\n")
            (directory / "runs" / "events.1").write_text("loss 3.2\n")
            _fs.atomic_write_text(directory / "vocab.json", "new vocabulary")

    monkeypatch.setattr(_fs, "at_step", write_meanwhile)
    steps.save(directory, 2, "sharded")
    assert (directory / "train.log").read_text() == "epoch 1\n"
    assert (directory / "runs" / "events.1").read_text() == "loss 3.2\n"
    assert (directory / "vocab.json").read_text() == "new vocabulary"
    assert steps.loaded_version(directory) == 2 and steps.leftovers(directory) == []


def test_repeated_saves_keep_every_file_another_thread_writes(tmp_path):
    # Issue 19, item 7: 310 of 888 files written during repeated saves vanished.
    directory = tmp_path / "ckpt"
    steps.save(directory, 1, "plain")
    stop_writing, written = threading.Event(), []

    def writer():
        while not stop_writing.is_set():
            path = directory / f"log-{len(written)}.txt"
            try:
                path.write_text(path.name)
            except FileNotFoundError:  # the path was being swapped: try again
                continue
            written.append(path)
            time.sleep(0.001)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for version in range(2, 30):
            steps.save(directory, version, "plain")
    finally:
        stop_writing.set()
        thread.join()
    assert len(written) > 20
    assert [p.name for p in written if not p.is_file() or p.read_text() != p.name] == []


def _save_killed_after(tmp_path, rename, condition, *, in_place=False, max_shard_size=None):
    """Saves version 2 into tmp_path/ckpt in a fresh interpreter that SIGKILLs itself right after the first
    call of `rename` ("os.rename" or "os.replace") for which `condition` (on `source`, `target`) holds."""
    code = f"""
        import os, signal
        from pathlib import Path
        import numpy as np
        from gpt_keras import _dirs, _fs, checkpoints

        directory = Path("ckpt").absolute()

        def renameat2_missing(*args):
            raise OSError(38, "renameat2 is not available")

        _dirs._renameat2 = renameat2_missing  # the two-rename swap, whose middle a kill can hit
        if {in_place}:
            os.path.ismount = lambda path: Path(path) == directory
        real = {rename}

        def killing(source, target):
            real(source, target)
            if {condition}:
                os.kill(os.getpid(), signal.SIGKILL)

        {rename} = killing
        tensors = {{f"layer.{{i}}.weight": np.full((4, 5), 20 + i, np.float32) for i in range(6)}}
        checkpoints.save_state_dict(tensors, directory, max_shard_size={max_shard_size}, extra_files={{"config.json": "{{}}"}})
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=steps.subprocess_environment(),
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def test_a_kill_between_the_two_renames_of_a_plain_save_leaves_a_checkpoint(tmp_path):
    # Issue 19, item 6: only the hidden .ckpt.old-XXXX and .ckpt.saving-XXXX were left.
    directory = steps.first_save(tmp_path, "exchange", "plain")
    _save_killed_after(tmp_path, "os.rename", "Path(source) == directory")
    assert steps.loaded_version(directory) in (1, 2)
    steps.save(directory, 3, "plain")
    assert steps.loaded_version(directory) == 3 and steps.leftovers(directory) == []
    assert (directory / "vocab.json").read_text() == steps.VOCAB


def test_a_kill_during_an_in_place_sharded_save_never_leaves_a_mixed_set(tmp_path):
    # Issue 19, item 3: shard 1 new, shards 2-5 + index + config old, and it loaded.
    directory = steps.first_save(tmp_path, "mount_point", "sharded")
    _save_killed_after(
        tmp_path,
        "os.replace",
        "Path(target).parent == directory and Path(target).name.startswith('model-')",
        in_place=True,
        max_shard_size=160,
    )
    assert steps.loaded_version(directory) == 1


def test_a_mixed_set_of_shards_is_refused_naming_the_shard(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    steps.save(first, 1, "sharded")
    steps.save(second, 2, "sharded")
    shard = "model-00002-of-00003.safetensors"
    (first / shard).write_bytes((second / shard).read_bytes())
    with pytest.raises(checkpoints.safetensors.CheckpointChangedError, match=rf"{shard}: written by save .* different saves"):
        checkpoints.load_state_dict(first)


def test_shards_written_by_other_tools_load_by_their_standard_names(tmp_path):
    directory = tmp_path / "ckpt"
    steps.save(directory, 1, "sharded")
    index_path = directory / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    del index["metadata"]["save_id"]  # the reference's index has no save id
    index_path.write_text(json.dumps(index))
    assert sorted(set(index["weight_map"].values())) == [f"model-0000{n}-of-00003.safetensors" for n in (1, 2, 3)]
    assert steps.loaded_version(directory) == 1


def test_a_save_over_shards_names_the_new_shards_by_its_save_id(tmp_path):
    directory = tmp_path / "ckpt"
    steps.save(directory, 1, "sharded")
    info = steps.save(directory, 2, "sharded")
    save_id = info.metadata["save_id"]
    assert [p.name for p in info.files[1:]] == [f"model-{save_id}-0000{n}-of-00003.safetensors" for n in (1, 2, 3)]
    assert json.loads((directory / "model.safetensors.index.json").read_text())["metadata"]["save_id"] == save_id
    assert sorted(p.name for p in directory.iterdir()) == sorted(["config.json", "model.safetensors.index.json", *(p.name for p in info.files[1:])])


def test_a_directory_is_never_swapped_over_an_existing_one_when_replace_is_false(tmp_path):
    target = tmp_path / "3"
    with _dirs.staged_directory(target, replace=False) as staging:
        (staging.path / "saved_model.pb").write_bytes(b"v1")
    assert (target / "saved_model.pb").read_bytes() == b"v1"
    with pytest.raises(FileExistsError):
        with _dirs.staged_directory(target, replace=False) as staging:
            pass
    with pytest.raises(FileExistsError, match="appeared during the save"):
        with _dirs.staged_directory(tmp_path / "4", replace=False) as staging:
            (tmp_path / "4").mkdir()
            (staging.path / "saved_model.pb").write_bytes(b"v2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3", "4"]
    assert list((tmp_path / "4").iterdir()) == []


# renameat2 is Linux's; elsewhere the two-rename swap runs, tested above with renameat2 made to fail.
LINUX_ONLY = pytest.mark.skipif(sys.platform != "linux", reason="renameat2(RENAME_EXCHANGE) is a Linux call")


@LINUX_ONLY
def test_the_exchange_never_leaves_the_path_empty(tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    steps.save(directory, 1, "plain")
    seen = []
    real = _fs.at_step
    monkeypatch.setattr(_fs, "at_step", lambda step: (seen.append((step, directory.is_dir())), real(step)))
    steps.save(directory, 2, "plain")
    # On Linux the swap is one exchange: the two-rename fallback ("moved aside") must not have run.
    assert "moved aside" not in dict(seen), seen
    assert all(present for _, present in seen), seen


@LINUX_ONLY
def test_renameat2_errors_name_both_paths(tmp_path):
    with pytest.raises(OSError) as raised:
        _dirs._renameat2(tmp_path / "missing", tmp_path / "other", _dirs._RENAME_EXCHANGE)
    assert raised.value.errno == errno.ENOENT and "missing" in str(raised.value) and "other" in str(raised.value)
