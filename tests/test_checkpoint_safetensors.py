"""The safetensors reader/writer (validation of damaged files, dtypes) and sharding."""

import json
import struct

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_keras.checkpoints import safetensors, shards
from gpt_keras.checkpoints.safetensors import SafetensorsError


def write_raw(path, header, data=b"", header_size=None):
    raw_header = json.dumps(header).encode()
    size = len(raw_header) if header_size is None else header_size
    path.write_bytes(struct.pack("<Q", size) + raw_header + data)
    return path


def entry(shape, begin, end, dtype="F32"):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


@pytest.fixture
def good_file(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4, dtype=np.float32)}
    path = tmp_path / "good.safetensors"
    safetensors.save_safetensors(tensors, path)
    return path, tensors


def test_every_dtype_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "f64": rng.normal(size=(2, 3)),
        "f32": rng.normal(size=(3, 4)).astype(np.float32),
        "f16": rng.normal(size=(5,)).astype(np.float16),
        "bf16": rng.normal(size=(2, 2)).astype(ml_dtypes.bfloat16),
        "i64": np.arange(-3, 4, dtype=np.int64),
        "i32": np.arange(3, dtype=np.int32),
        "i16": np.arange(3, dtype=np.int16),
        "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "scalar": np.float32(1.5),
        "empty": np.zeros((0, 3), np.float32),
        "fortran": np.asfortranarray(rng.normal(size=(3, 2)).astype(np.float32)),
        "big_endian": np.arange(3, dtype=">f4"),
    }
    path = tmp_path / "all.safetensors"
    written = safetensors.save_safetensors(tensors, path, metadata={"note": "x"})
    assert written == path.stat().st_size
    loaded, metadata = safetensors.load_safetensors(path)
    assert metadata == {"format": "pt", "note": "x"}
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        assert loaded[name].dtype == np.asarray(array).dtype.newbyteorder("="), name
        assert loaded[name].shape == np.shape(array), name
        assert np.array_equal(loaded[name], array), name


def test_header_is_padded_and_tensors_are_ordered_by_alignment_then_name(tmp_path):
    tensors = {
        "z16": np.zeros(3, np.float16),
        "a8": np.zeros(1, np.uint8),
        "b64": np.zeros(2, np.float64),
        "a32": np.zeros(1, np.float32),
    }
    path = tmp_path / "order.safetensors"
    safetensors.save_safetensors(tensors, path)
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    assert size % 8 == 0
    header = json.loads(raw[8 : 8 + size])
    assert list(header) == ["__metadata__", "b64", "a32", "z16", "a8"]
    assert [header[name]["data_offsets"] for name in list(header)[1:]] == [[0, 16], [16, 20], [20, 26], [26, 27]]


def test_copy_false_gives_read_only_maps(good_file):
    path, tensors = good_file
    mapped = safetensors.SafetensorsFile(path).get_tensor("a", copy=False)
    assert isinstance(mapped, np.memmap)
    assert not mapped.flags.writeable
    assert np.array_equal(mapped, tensors["a"])


def test_unknown_tensor_names_the_file(good_file):
    path, _ = good_file
    with pytest.raises(KeyError, match=r"no tensor 'c' in .*good\.safetensors"):
        safetensors.SafetensorsFile(path).get_tensor("c")


def test_truncated_data_is_reported(good_file):
    path, _ = good_file
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(SafetensorsError, match=r"truncated.*describes 40 bytes.*holds only 37") as error:
        safetensors.SafetensorsFile(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("keep", [0, 5])
def test_file_shorter_than_the_length_field(tmp_path, keep):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\x01" * keep)
    with pytest.raises(SafetensorsError, match=rf"tiny\.safetensors: truncated.*at least 8 bytes.*got {keep}"):
        safetensors.SafetensorsFile(path)


def test_truncated_header(good_file):
    path, _ = good_file
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    path.write_bytes(raw[: 8 + size // 2])
    with pytest.raises(SafetensorsError, match=rf"truncated.*says {size} bytes, but only {size // 2} bytes follow"):
        safetensors.SafetensorsFile(path)


def test_absurd_header_length(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(SafetensorsError, match=r"huge\.safetensors: corrupted.*1099511627776 bytes"):
        safetensors.SafetensorsFile(path)


def test_corrupted_header_json(good_file):
    path, _ = good_file
    raw = bytearray(path.read_bytes())
    raw[8:12] = b"\xff\xfe{["
    path.write_bytes(bytes(raw))
    with pytest.raises(
        SafetensorsError, match=r"good\.safetensors: corrupted safetensors header: not valid UTF-8 JSON"
    ):
        safetensors.SafetensorsFile(path)


@pytest.mark.parametrize(
    "header, data_size, message",
    [
        ({"x": entry([2], 0, 8), "y": entry([2], 4, 12)}, 12, r"tensor 'y'.*start at 4, expected 8 \(overlaps"),
        ({"x": entry([2], 0, 8), "y": entry([2], 12, 20)}, 20, r"tensor 'y'.*start at 12, expected 8 \(leaves a gap"),
        ({"x": entry([3], 0, 8)}, 8, r"tensor 'x': F32 \[3\] needs 12 bytes, but data_offsets \[0, 8\] span 8"),
        ({"x": entry([2], 8, 0)}, 8, r"tensor 'x'.*span -8"),
        ({"x": entry([2], 0, 8)}, 12, r"describes 8 bytes.*holds 12 \(trailing bytes\)"),
        ({"x": entry([2], 0, 8, dtype="F8")}, 8, r"tensor 'x': unknown dtype 'F8'"),
        ({"x": entry([2, -1], 0, 8)}, 8, r"tensor 'x': shape must be a list of non-negative ints"),
        (
            {"x": {"dtype": "F32", "shape": [2]}},
            8,
            r"tensor 'x': expected an object with dtype, shape and data_offsets",
        ),
        ({"x": entry([2], 0, 8), "__metadata__": {"a": 1}}, 8, r"__metadata__ must be an object of strings"),
        ([1, 2], 0, r"expected a JSON object, got list"),
    ],
)
def test_inconsistent_headers_are_refused(tmp_path, header, data_size, message):
    path = write_raw(tmp_path / "bad.safetensors", header, b"\x00" * data_size)
    with pytest.raises(SafetensorsError, match=message) as error:
        safetensors.SafetensorsFile(path)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.safetensors"):
        safetensors.SafetensorsFile(tmp_path / "nope.safetensors")


@pytest.mark.parametrize(
    "size, expected",
    [
        (123, 123),
        ("200MB", 200 * 10**6),
        ("2GB", 2 * 10**9),
        ("5kb", 5000),
        ("1MiB", 2**20),
        ("2GiB", 2**31),
        ("77", 77),
    ],
)
def test_parse_shard_size(size, expected):
    assert shards.parse_shard_size(size) == expected


@pytest.mark.parametrize("size", ["12 parsecs", "MB", 0, -5, "1.5GB"])
def test_parse_shard_size_refuses_nonsense(size):
    with pytest.raises(ValueError, match="max_shard_size"):
        shards.parse_shard_size(size)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=20), st.integers(1, 120))
def test_plan_shards_keeps_order_and_respects_the_limit(sizes, limit):
    tensors = {f"t{i}": np.zeros(size, np.uint8) for i, size in enumerate(sizes)}
    planned = shards.plan_shards(tensors, limit)
    assert [name for shard in planned for name in shard] == list(tensors)
    for shard in planned:
        total = sum(tensors[name].nbytes for name in shard)
        assert total <= limit or len(shard) == 1
    for previous, following in zip(planned, planned[1:]):
        # A shard is closed only when the next tensor would not fit.
        assert sum(tensors[name].nbytes for name in previous) + tensors[following[0]].nbytes > limit


def test_sharding_that_fits_one_shard_writes_a_single_file(tmp_path):
    written = shards.save_sharded_safetensors({"a": np.zeros(4, np.float32)}, tmp_path, max_shard_size="1MB")
    assert written == ["model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


@pytest.fixture
def sharded_dir(tmp_path):
    tensors = {f"t{i}": np.full((10,), i, np.float32) for i in range(5)}
    written = shards.save_sharded_safetensors(tensors, tmp_path, max_shard_size=80)
    assert written[-1] == "model.safetensors.index.json" and len(written) == 4
    return tmp_path, tensors


def test_open_sharded_reads_every_tensor(sharded_dir):
    directory, tensors = sharded_dir
    locations = shards.open_sharded(directory / "model.safetensors.index.json")
    assert list(locations) == sorted(tensors)
    for name, (reader, stored_name) in locations.items():
        assert np.array_equal(reader.get_tensor(stored_name), tensors[name])


def test_missing_shard_is_named(sharded_dir):
    directory, _ = sharded_dir
    (directory / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"lists shard 'model-00002-of-00003\.safetensors'"):
        shards.open_sharded(directory / "model.safetensors.index.json")


def test_index_and_shard_must_agree(sharded_dir):
    directory, _ = sharded_dir
    index_path = directory / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["t0"] = "model-00003-of-00003.safetensors"
    index_path.write_text(json.dumps(index))
    with pytest.raises(
        SafetensorsError, match=r"00003\.safetensors: the index .* puts tensors here that the shard lacks: \['t0'\]"
    ):
        shards.open_sharded(index_path)


def test_corrupted_index(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text('{"weight_map": [1]}')
    with pytest.raises(SafetensorsError, match="expected an object with a 'weight_map'"):
        shards.read_index(tmp_path / "model.safetensors.index.json")
    (tmp_path / "model.safetensors.index.json").write_text('{"weight_map": {"a": "../x.safetensors"}}')
    with pytest.raises(SafetensorsError, match="must be a file name beside the index"):
        shards.read_index(tmp_path / "model.safetensors.index.json")


def test_unsupported_dtype_names_the_tensor(tmp_path):
    with pytest.raises(TypeError, match=r"tensor 'c'.*complex64"):
        safetensors.save_safetensors({"c": np.zeros(2, np.complex64)}, tmp_path / "x.safetensors")
