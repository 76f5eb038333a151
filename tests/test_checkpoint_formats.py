"""Every checkpoint format of the tiny fixture reads as the same state dict; saving is atomic."""

import errno
import json
import logging
import os
import shutil
import stat
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gpt_keras import _dirs, checkpoints
from gpt_keras.checkpoints import original_release, safetensors, tf_h5

ORIGINAL_FILES = ["params_shapes.json"] + [f"params_{n}.npy" for n in range(10)]


def read_safetensors_plainly(path):
    """An independent oracle: the safetensors spec in a few lines, no validation."""
    raw = path.read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])
    header.pop("__metadata__", None)
    data = raw[8 + header_size :]
    assert {entry["dtype"] for entry in header.values()} == {"F32"}
    return {
        name: np.frombuffer(data[entry["data_offsets"][0] : entry["data_offsets"][1]], "<f4").reshape(entry["shape"])
        for name, entry in header.items()
    }


@pytest.fixture(scope="module")
def lm_tensors(tiny_dir):
    return read_safetensors_plainly(tiny_dir / "lm" / "model.safetensors")


def assert_same_state_dict(got, expected):
    assert sorted(got) == sorted(expected)
    for name, array in expected.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        assert np.array_equal(got[name], array), name


def copy_files(source_dir, names, target_dir):
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(source_dir / name, target_dir / name)
    return target_dir


@pytest.mark.parametrize(
    "fmt, source, files",
    [
        ("safetensors", "lm", ["model.safetensors"]),
        ("pytorch-bin", "lm", ["pytorch_model.bin"]),
        ("tf-h5", "lm", ["tf_model.h5"]),
        ("original-release", "lm-original-format", ORIGINAL_FILES),
    ],
)
def test_each_format_alone_reads_as_the_lm_safetensors(tiny_dir, tmp_path, lm_tensors, fmt, source, files):
    directory = copy_files(tiny_dir / source, files, tmp_path / "ckpt")
    state_dict, info = checkpoints.load_state_dict(directory)
    assert info.format == fmt == checkpoints.detect_format(directory)
    assert info.files[0] == directory / files[0]
    assert_same_state_dict(state_dict, lm_tensors)


def test_bin_holds_the_tied_lm_head_as_a_view_of_the_token_table(tiny_dir, lm_tensors):
    raw = checkpoints.torch_bin.load_torch_bin(tiny_dir / "lm" / "pytorch_model.bin")
    assert sorted(raw) == sorted([*lm_tensors, "lm_head.weight"])
    assert np.array_equal(raw["lm_head.weight"], lm_tensors["transformer.tokens_embed.weight"])


@pytest.mark.parametrize("model", ["lm", "double-heads", "seq-cls"])
def test_tf_h5_equals_the_safetensors_of_the_same_model(tiny_dir, model):
    from_h5 = tf_h5.load_tf_h5(tiny_dir / model / "tf_model.h5")
    assert_same_state_dict(from_h5, read_safetensors_plainly(tiny_dir / model / "model.safetensors"))


def test_tf_h5_heads_have_linear_layout(tiny_dir):
    config = json.loads((tiny_dir / "seq-cls" / "config.json").read_text())
    from_h5 = tf_h5.load_tf_h5(tiny_dir / "seq-cls" / "tf_model.h5")
    assert from_h5["score.weight"].shape == (len(config["id2label"]), config["n_embd"])
    double_heads = tf_h5.load_tf_h5(tiny_dir / "double-heads" / "tf_model.h5")
    assert double_heads["multiple_choice_head.summary.weight"].shape == (1, config["n_embd"])
    assert double_heads["multiple_choice_head.summary.bias"].shape == (1,)


def write_release(directory, entries, names=None):
    """Writes (shape, values) entries in the release's layout: one flat vector in ten .npy files."""
    directory.mkdir()
    (directory / "params_shapes.json").write_text(json.dumps([list(shape) for shape, _ in entries]))
    flat = np.concatenate([np.asarray(values, np.float32).reshape(-1) for _, values in entries])
    for n, piece in enumerate(np.array_split(flat, 10)):
        np.save(directory / f"params_{n}.npy", piece)
    if names is not None:
        (directory / "parameters_names.json").write_text(json.dumps(names))
    return directory


def test_original_release_places_layer_parameters_by_parameters_names(tmp_path, lm_tensors):
    # Stored in another order than the release's; only the names can place them right.
    entries = [
        ((64, 32), lm_tensors["transformer.positions_embed.weight"]),
        ((1000, 32), lm_tensors["transformer.tokens_embed.weight"]),
    ]
    names = ["model/we:0"]
    for layer in range(2):
        for release_param, pytorch_param in reversed(original_release._LAYER_PARAMS):
            array = lm_tensors[f"transformer.h.{layer}.{pytorch_param}"]
            shape = (1, *array.shape) if release_param.endswith("/w") else array.shape
            entries.append((shape, array))
            names.append(f"model/h{layer}/{release_param}:0")
    directory = write_release(tmp_path / "release", entries, names)
    state_dict, info = checkpoints.load_state_dict(directory)
    assert info.format == "original-release"
    assert_same_state_dict(state_dict, lm_tensors)


def test_original_release_rejects_vectors_that_do_not_fill_the_shapes(tiny_dir, tmp_path):
    directory = copy_files(tiny_dir / "lm-original-format", ORIGINAL_FILES, tmp_path / "release")
    np.save(directory / "params_9.npy", np.load(directory / "params_9.npy")[:-1])
    with pytest.raises(original_release.OriginalReleaseError, match=r"hold 59455 values.*describes 59456"):
        checkpoints.load_state_dict(directory)


def test_original_release_names_a_missing_piece(tiny_dir, tmp_path):
    directory = copy_files(tiny_dir / "lm-original-format", ORIGINAL_FILES, tmp_path / "release")
    (directory / "params_4.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"params_4\.npy"):
        checkpoints.load_state_dict(directory)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[:-100], "not a readable .npy array"),
        (lambda data: data[:50], "not a readable .npy array"),
        (lambda data: b"not an npy file at all", "not a readable .npy array"),
        (lambda data: None, "expected float32 values, got float64"),
    ],
)
def test_original_release_names_a_damaged_piece(tiny_dir, tmp_path, damage, message):
    directory = copy_files(tiny_dir / "lm-original-format", ORIGINAL_FILES, tmp_path / "release")
    piece = directory / "params_3.npy"
    damaged = damage(piece.read_bytes())
    if damaged is None:
        np.save(piece, np.load(piece).astype(np.float64))
    else:
        piece.write_bytes(damaged)
    with pytest.raises(original_release.OriginalReleaseError, match=rf"params_3\.npy: {message}"):
        checkpoints.load_state_dict(directory)


@pytest.mark.parametrize("offset", [2048, 8192])
def test_damaged_h5_names_the_file(tiny_dir, tmp_path, offset):
    # HDF5 raises OSError/RuntimeError about heaps and symbol tables for these, naming no file.
    directory = copy_files(tiny_dir / "lm", ["tf_model.h5"], tmp_path / "ckpt")
    data = bytearray((directory / "tf_model.h5").read_bytes())
    data[offset : offset + 512] = b"\xff" * 512
    (directory / "tf_model.h5").write_bytes(bytes(data))
    with pytest.raises(tf_h5.TFH5CheckpointError, match=r"tf_model\.h5: damaged HDF5 file"):
        tf_h5.load_tf_h5(directory / "tf_model.h5")


def test_infer_config_dict_matches_the_fixture_config(tiny_dir):
    config = json.loads((tiny_dir / "lm" / "config.json").read_text())
    inferred = original_release.infer_config_dict(tiny_dir / "lm-original-format", n_head=config["n_head"])
    for key in ("n_positions", "vocab_size", "n_embd", "n_layer", "n_head", "afn", "layer_norm_epsilon"):
        assert inferred[key] == config[key], key
    with pytest.raises(ValueError, match="n_embd 32 is not divisible by n_head 12"):
        original_release.infer_config_dict(tiny_dir / "lm-original-format")


def test_preference_order_and_its_log(tiny_dir, tmp_path, caplog):
    directory = copy_files(tiny_dir / "lm", ["model.safetensors", "tf_model.h5", "pytorch_model.bin"], tmp_path / "all")
    copy_files(tiny_dir / "lm-original-format", ORIGINAL_FILES, directory)
    expected_order = [
        ("safetensors", "model.safetensors"),
        ("tf-h5", "tf_model.h5"),
        ("pytorch-bin", "pytorch_model.bin"),
        ("original-release", "params_shapes.json"),
    ]
    for position, (fmt, marker) in enumerate(expected_order):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="gpt_keras"):
            _, info = checkpoints.load_state_dict(directory)
        assert info.format == fmt
        assert info.other_formats == tuple(other for other, _ in expected_order[position + 1 :])
        assert any(fmt in record.getMessage() and record.name == "gpt_keras" for record in caplog.records)
        (directory / marker).unlink()


def test_sharded_safetensors_is_preferred_to_h5(tiny_dir, tmp_path, lm_tensors):
    directory = tmp_path / "ckpt"
    checkpoints.save_state_dict(lm_tensors, directory, max_shard_size=100_000)
    shutil.copyfile(tiny_dir / "lm" / "tf_model.h5", directory / "tf_model.h5")
    state_dict, info = checkpoints.load_state_dict(directory)
    assert (info.format, info.other_formats) == ("safetensors-sharded", ("tf-h5",))
    assert_same_state_dict(state_dict, lm_tensors)


@pytest.mark.parametrize(
    "name, fmt", [("model.safetensors", "safetensors"), ("tf_model.h5", "tf-h5"), ("pytorch_model.bin", "pytorch-bin")]
)
def test_a_single_file_path_is_read_as_its_format(tiny_dir, lm_tensors, name, fmt):
    state_dict, info = checkpoints.load_state_dict(tiny_dir / "lm" / name)
    assert info.format == fmt
    assert_same_state_dict(state_dict, lm_tensors)


def test_sharded_bin_is_read_through_its_index(tiny_dir, tmp_path, lm_tensors):
    directory = tmp_path / "ckpt"
    directory.mkdir()
    shard = "pytorch_model-00001-of-00001.bin"
    shutil.copyfile(tiny_dir / "lm" / "pytorch_model.bin", directory / shard)
    names = [*lm_tensors, "lm_head.weight"]
    (directory / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": dict.fromkeys(names, shard)}))
    state_dict, info = checkpoints.load_state_dict(directory)
    assert info.format == "pytorch-bin-sharded"
    assert info.files == (directory / "pytorch_model.bin.index.json", directory / shard)
    assert_same_state_dict(state_dict, lm_tensors)


def make_hub_cache(tiny_dir, root, commit="0123abcd"):
    blobs, snapshot = root / "blobs", root / "snapshots" / commit
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name, blob in (("model.safetensors", "b1"), ("config.json", "b2")):
        shutil.copyfile(tiny_dir / "lm" / name, blobs / blob)
        os.symlink(os.path.join("..", "..", "blobs", blob), snapshot / name)
    return snapshot


def test_hub_cache_snapshot_and_root(tiny_dir, tmp_path, lm_tensors):
    root = tmp_path / "models--openai-community--openai-gpt"
    snapshot = make_hub_cache(tiny_dir, root)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("0123abcd")
    (root / "snapshots" / "ffff0000").mkdir()  # an older snapshot that refs/main does not point to
    for path in (snapshot, root):
        state_dict, info = checkpoints.load_state_dict(path)
        assert info.directory == snapshot
        assert_same_state_dict(state_dict, lm_tensors)


def test_hub_cache_root_without_refs_uses_its_only_snapshot(tiny_dir, tmp_path, lm_tensors):
    root = tmp_path / "models--x"
    snapshot = make_hub_cache(tiny_dir, root)
    state_dict, info = checkpoints.load_state_dict(root)
    assert info.directory == snapshot
    assert_same_state_dict(state_dict, lm_tensors)


def test_missing_path_and_empty_directory_say_what_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoints.load_state_dict(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("no weights")
    with pytest.raises(FileNotFoundError) as error:
        checkpoints.load_state_dict(tmp_path / "empty")
    for looked_for in ("model.safetensors", "tf_model.h5", "pytorch_model.bin", "params_shapes.json", "README.md"):
        assert looked_for in str(error.value)
    assert str(tmp_path / "empty") in str(error.value)


def test_base_model_names_get_the_transformer_prefix(tmp_path, lm_tensors):
    base = {name[len("transformer.") :]: array for name, array in lm_tensors.items()}
    safetensors.save_safetensors(base, tmp_path / "model.safetensors")
    state_dict, _ = checkpoints.load_state_dict(tmp_path)
    assert_same_state_dict(state_dict, lm_tensors)


def test_base_and_prefixed_copies_of_one_tensor_conflict(tmp_path, lm_tensors):
    both = {**lm_tensors, "h.0.ln_1.weight": lm_tensors["transformer.h.0.ln_1.weight"]}
    safetensors.save_safetensors(both, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"both stand for 'transformer\.h\.0\.ln_1\.weight'") as error:
        checkpoints.load_state_dict(tmp_path)
    assert "'h.0.ln_1.weight'" in str(error.value) and str(tmp_path / "model.safetensors") in str(error.value)


def test_lazy_state_dict_knows_shapes_without_reading(tiny_dir, lm_tensors, monkeypatch):
    state_dict, _ = checkpoints.load_state_dict(tiny_dir / "lm", lazy=True)
    assert isinstance(state_dict, checkpoints.LazyStateDict)
    assert_same_state_dict(state_dict, lm_tensors)
    assert not isinstance(state_dict["transformer.h.0.ln_1.weight"], np.memmap)

    def no_reads(*args, **kwargs):
        raise AssertionError("tensor data was read")

    monkeypatch.setattr(safetensors.SafetensorsFile, "get_tensor", no_reads)
    expected_shapes = {name: array.shape for name, array in lm_tensors.items()}
    assert state_dict.shapes() == expected_shapes
    assert checkpoints.check_state_dict(state_dict, expected_shapes) == []


def test_check_state_dict_lists_missing_mismatched_and_unexpected(lm_tensors):
    expected = {name: array.shape for name, array in lm_tensors.items()}
    expected["transformer.tokens_embed.weight"] = (1003, 32)
    expected["multiple_choice_head.summary.weight"] = (1, 32)
    expected["lm_head.weight"] = (1000, 32)
    state_dict = {**lm_tensors, "extra.weight": np.zeros(2)}
    del state_dict["transformer.h.1.ln_2.bias"]
    with pytest.warns(UserWarning, match=r"unexpected tensors: \['extra\.weight'\]"):
        with pytest.raises(checkpoints.CheckpointMismatchError) as error:
            checkpoints.check_state_dict(state_dict, expected, optional=("lm_head.weight",), source="ckpt-x")
    message = str(error.value)
    assert "ckpt-x" in message
    assert "missing 2 tensors: ['multiple_choice_head.summary.weight', 'transformer.h.1.ln_2.bias']" in message
    assert "transformer.tokens_embed.weight: checkpoint has (1000, 32), model expects (1003, 32)" in message
    assert "lm_head.weight" not in message


def test_check_state_dict_passes_a_fitting_state_dict_and_returns_unexpected(lm_tensors):
    expected = {name: array.shape for name, array in lm_tensors.items() if "h.1." not in name}
    with pytest.warns(UserWarning, match="ignoring 12 unexpected tensors"):
        unexpected = checkpoints.check_state_dict(lm_tensors, expected)
    assert unexpected == sorted(name for name in lm_tensors if "h.1." in name)


def test_saved_file_has_the_fixture_header_and_data(tiny_dir, tmp_path, lm_tensors):
    info = checkpoints.save_state_dict(lm_tensors, tmp_path / "ckpt", extra_files={"config.json": "{}"})
    ours = (tmp_path / "ckpt" / "model.safetensors").read_bytes()
    theirs = (tiny_dir / "lm" / "model.safetensors").read_bytes()
    our_size, their_size = struct.unpack("<Q", ours[:8])[0], struct.unpack("<Q", theirs[:8])[0]
    assert our_size % 8 == 0
    our_header, their_header = json.loads(ours[8 : 8 + our_size]), json.loads(theirs[8 : 8 + their_size])
    assert our_header == their_header
    assert list(our_header) == list(their_header)
    assert ours[8 + our_size :] == theirs[8 + their_size :]
    assert info.files == (tmp_path / "ckpt" / "model.safetensors",)
    assert (tmp_path / "ckpt" / "config.json").read_text() == "{}"


def test_save_load_round_trip(tmp_path, lm_tensors):
    checkpoints.save_state_dict(lm_tensors, tmp_path / "ckpt", metadata={"written_by": "test"})
    state_dict, info = checkpoints.load_state_dict(tmp_path / "ckpt")
    assert info.metadata == {"format": "pt", "written_by": "test"}
    assert_same_state_dict(state_dict, lm_tensors)


def test_sharded_save_load_round_trip(tmp_path, lm_tensors):
    limit = 60_000
    info = checkpoints.save_state_dict(lm_tensors, tmp_path / "ckpt", max_shard_size=limit)
    directory = tmp_path / "ckpt"
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    shard_names = sorted(set(index["weight_map"].values()))
    count = len(shard_names)
    assert shard_names == [f"model-{n:05d}-of-{count:05d}.safetensors" for n in range(1, count + 1)]
    assert index["metadata"]["total_size"] == sum(array.nbytes for array in lm_tensors.values())
    assert sorted(index["weight_map"]) == sorted(lm_tensors)
    for shard in shard_names:
        sizes = [lm_tensors[name].nbytes for name, where in index["weight_map"].items() if where == shard]
        assert sum(sizes) <= limit or len(sizes) == 1
    assert info.format == "safetensors-sharded"
    assert info.files == (directory / "model.safetensors.index.json", *(directory / name for name in shard_names))
    state_dict, loaded_info = checkpoints.load_state_dict(directory)
    assert loaded_info.files == info.files
    assert_same_state_dict(state_dict, lm_tensors)


def directory_snapshot(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.mark.parametrize("route", ["rename", "mount_point"])
@pytest.mark.parametrize("max_shard_size", [None, 60_000])
def test_interrupted_save_leaves_the_previous_checkpoint_untouched(tmp_path, lm_tensors, monkeypatch, max_shard_size, route):
    directory = tmp_path / "ckpt"
    checkpoints.save_state_dict(lm_tensors, directory, extra_files={"config.json": '{"n_layer": 2}'})
    if route == "mount_point":
        monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == directory)
    before = directory_snapshot(directory)
    real_save, calls = safetensors.save_file, []
    failing_call = 1 if max_shard_size is None else 2  # the only file; the second shard, after a whole first one

    def failing_save(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == failing_call:
            Path(filename).write_bytes(b"\0" * 1000)  # the disk filled up part of the way through
            raise OSError(28, "No space left on device")
        real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors, "save_file", failing_save)
    changed = {name: array + 1 for name, array in lm_tensors.items()}
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save_state_dict(
            changed, directory, max_shard_size=max_shard_size, extra_files={"config.json": "{}"}
        )
    assert len(calls) == failing_call
    assert directory_snapshot(directory) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_overwriting_replaces_weights_and_keeps_other_files(tiny_dir, tmp_path, lm_tensors):
    directory = copy_files(tiny_dir / "lm", ["pytorch_model.bin", "tf_model.h5", "config.json"], tmp_path / "ckpt")
    (directory / "vocab.json").write_text('{"a": 0}')
    changed = {name: array * 2 for name, array in lm_tensors.items()}
    checkpoints.save_state_dict(changed, directory, max_shard_size=60_000, extra_files={"config.json": "{}"})
    names = sorted(p.name for p in directory.iterdir())
    assert "pytorch_model.bin" not in names and "tf_model.h5" not in names
    assert (directory / "vocab.json").read_text() == '{"a": 0}'
    assert (directory / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert stat.S_IMODE(directory.stat().st_mode) & 0o055 == 0o055
    state_dict, _ = checkpoints.load_state_dict(directory)
    assert_same_state_dict(state_dict, changed)
    checkpoints.save_state_dict(lm_tensors, directory)
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]


def refuse_renames_of(directory, monkeypatch):
    """Makes `directory` refuse to be renamed or swapped, as a mount point the checks miss does (EBUSY)."""
    real_rename, real_renameat2 = os.rename, _dirs._renameat2

    def rename(source, target):
        if Path(source) == directory:
            raise OSError(errno.EBUSY, "Device or resource busy")
        real_rename(source, target)

    def renameat2(source, target, flags):
        if directory in (Path(source), Path(target)):
            raise OSError(errno.EBUSY, "Device or resource busy")
        real_renameat2(source, target, flags)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(_dirs, "_renameat2", renameat2)


@pytest.mark.parametrize("how", ["mount_point", "working_directory", "unforeseen_rename_failure", "unwritable_parent"])
def test_a_directory_that_cannot_be_renamed_gets_its_saved_files_renamed_in(tmp_path, lm_tensors, monkeypatch, how):
    # A mount point (a container's volume) refuses rename with EBUSY; renaming the working directory
    # away would leave the process in a deleted directory. Only the saved files are replaced there:
    # other files keep their inode (a log another process is writing stays the same file).
    directory = tmp_path / "ckpt"
    checkpoints.save_state_dict(lm_tensors, directory, max_shard_size=60_000, extra_files={"config.json": "{}"})
    (directory / "train.log").write_text("epoch 1\n")
    (directory / "runs").mkdir()
    (directory / "runs" / "big.bin").write_bytes(b"x" * 1000)
    inode = (directory / "train.log").stat().st_ino
    if how == "mount_point":
        monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == directory)
    elif how == "working_directory":
        monkeypatch.chdir(directory)
    elif how == "unwritable_parent":
        real_mkdtemp = tempfile.mkdtemp

        def mkdtemp(prefix=None, dir=None):
            if Path(dir) == tmp_path:
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real_mkdtemp(prefix=prefix, dir=dir)

        monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    else:
        refuse_renames_of(directory, monkeypatch)
    changed = {name: array * 3 for name, array in lm_tensors.items()}
    target = Path(".") if how == "working_directory" else directory
    checkpoints.save_state_dict(changed, target, extra_files={"config.json": "[]"})
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors", "runs", "train.log"]
    assert (directory / "config.json").read_text() == "[]"
    assert (directory / "train.log").stat().st_ino == inode and (directory / "runs" / "big.bin").stat().st_size == 1000
    assert_same_state_dict(checkpoints.load_state_dict(directory)[0], changed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no staging left behind
    assert Path.cwd().exists()


def test_a_failed_copy_into_an_unrenamable_directory_leaves_it_untouched(tmp_path, lm_tensors, monkeypatch):
    # The saved files are all copied in (and flushed) before the first one replaces an old one.
    directory = tmp_path / "ckpt"
    checkpoints.save_state_dict(lm_tensors, directory, max_shard_size=60_000, extra_files={"config.json": "{}"})
    before = directory_snapshot(directory)
    real_copy, copies = shutil.copyfile, []

    def copyfile(source, target):
        copies.append(source)
        if len(copies) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(source, target)

    refuse_renames_of(directory, monkeypatch)
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    changed = {name: -array for name, array in lm_tensors.items()}
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save_state_dict(changed, directory, max_shard_size=60_000, extra_files={"config.json": "[]"})
    assert directory_snapshot(directory) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_saving_through_a_symlink_replaces_its_target(tmp_path, lm_tensors):
    target = tmp_path / "real"
    checkpoints.save_state_dict(lm_tensors, target)
    os.symlink(target, tmp_path / "link")
    changed = {name: -array for name, array in lm_tensors.items()}
    checkpoints.save_state_dict(changed, tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert_same_state_dict(checkpoints.load_state_dict(target)[0], changed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_extra_files_cannot_shadow_weights(tmp_path, lm_tensors):
    with pytest.raises(ValueError, match="weights file name"):
        checkpoints.save_state_dict(lm_tensors, tmp_path / "ckpt", extra_files={"pytorch_model.bin": b""})
    with pytest.raises(ValueError, match="plain file name"):
        checkpoints.save_state_dict(lm_tensors, tmp_path / "ckpt", extra_files={"../config.json": "{}"})
    assert list(tmp_path.iterdir()) == []
