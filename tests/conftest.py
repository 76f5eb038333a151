import os
from pathlib import Path

import pytest

import gpt_keras  # noqa: F401  (pins the Keras backend before tests import keras)

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_path():
    """Where ../shared lives: $GPTK_SHARED, else beside the repository."""
    return Path(os.environ.get("GPTK_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state (Python, numpy, TensorFlow and Keras), whatever
    ran before it in its process: the processes of a parallel run take different files, in an order
    that changes from run to run."""
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def shared_dir():
    path = shared_path()
    if not (path / "fixtures").is_dir():
        pytest.fail(
            f"shared material not found at {path} (expected fixtures/ and openai-gpt-vocab/ there); "
            "set GPTK_SHARED to its location",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def tiny_dir(shared_dir):
    return shared_dir / "fixtures" / "tiny-openai-gpt"


@pytest.fixture(scope="session")
def vocab_dir(shared_dir):
    return shared_dir / "openai-gpt-vocab"


@pytest.fixture(scope="session")
def expected(tiny_dir):
    import numpy as np

    with np.load(tiny_dir / "expected.npz") as data:
        return {key: data[key] for key in data.files}


# TensorFlow keeps the machine code of every XLA program a process compiled mapped until the process
# ends (a few hundred memory maps per generation program), and Linux caps a process's maps at
# vm.max_map_count (65530 by default): past it the next compile crashes the process. The suite runs in
# several processes (pytest-xdist, `-n` in setup.cfg) to stay well below; this check turns a crash
# into a clear failure should one process still come near the cap.
_MAPS = Path("/proc/self/maps")
_MAX_MAPS = Path("/proc/sys/vm/max_map_count")
_MAP_CAP = int(_MAX_MAPS.read_text()) if _MAX_MAPS.exists() and _MAPS.exists() else None  # None: not Linux
_MAPS_HEADROOM = 4000  # more than the largest test here adds


def pytest_runtest_setup(item):
    if _MAP_CAP is None:
        return
    with open(_MAPS, "rb") as maps:
        count = sum(1 for _ in maps)
    if count > _MAP_CAP - _MAPS_HEADROOM:
        pytest.fail(
            f"this test process holds {count} memory maps, near the kernel's cap of {_MAP_CAP} "
            "(vm.max_map_count); TensorFlow keeps every compiled XLA program mapped until the process "
            "ends, so the next compile could crash it. Run the tests in more processes (pytest -n N) "
            "or fewer test files at a time.",
            pytrace=False,
        )
