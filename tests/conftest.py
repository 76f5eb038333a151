import os
from pathlib import Path

import pytest

import gpt_keras  # noqa: F401  (pins the Keras backend before tests import keras)

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_path():
    """Where ../shared lives: $GPTK_SHARED, else beside the repository."""
    return Path(os.environ.get("GPTK_SHARED", REPO_ROOT.parent / "shared"))


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
