"""Hub ids resolve from the local Hugging Face cache with no network (HF_HOME, HF_HUB_CACHE, revision,
local_files_only), for tokenizers and models; a download goes through huggingface_hub when it is there
(a stand-in module here: no network), and without either the error says where it looked and what to run."""
import shutil
import sys
import types

import pytest

from gpt_keras import hub
from gpt_keras.tokenization import OpenAIGPTTokenizer

REPO = "openai-community/openai-gpt"
COMMIT = "a" * 40
OTHER_COMMIT = "b" * 40


def fake_cache(root, files, commit=COMMIT, branch="main"):
    """A hub cache holding ``files`` ({name: source path}) as the snapshot ``commit`` of ``REPO``."""
    folder = root / "models--openai-community--openai-gpt"
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        shutil.copy(source, snapshot / name)
    if branch is not None:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / branch).write_text(commit)
    return snapshot


@pytest.fixture
def no_hub_env(monkeypatch, tmp_path):
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def vocab_files(vocab_dir):
    return {"vocab.json": vocab_dir / "vocab.json", "merges.txt": vocab_dir / "merges.txt"}


def test_cache_location_follows_the_references_variables(no_hub_env, monkeypatch, tmp_path):
    assert hub.hub_cache_dir() == tmp_path / "home" / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hub.hub_cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hub.hub_cache_dir() == tmp_path / "cache"
    assert hub.hub_cache_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_tokenizer_from_a_hub_id_in_the_cache(no_hub_env, monkeypatch, tmp_path, vocab_files, vocab_dir):
    snapshot = fake_cache(tmp_path / "hf" / "hub", vocab_files)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    tokenizer = OpenAIGPTTokenizer.from_pretrained(REPO, pre_tokenizer="basic", padding_side="left")
    direct = OpenAIGPTTokenizer.from_pretrained(vocab_dir, pre_tokenizer="basic")
    assert tokenizer.encode("Hello, world!") == direct.encode("Hello, world!") and tokenizer.padding_side == "left"
    assert hub.resolve_pretrained(REPO, kind="tokenizer", local_files_only=True) == snapshot


def test_revision_is_a_branch_via_refs_or_a_commit(no_hub_env, tmp_path, vocab_files):
    cache = tmp_path / "cache"
    main = fake_cache(cache, vocab_files)
    other = fake_cache(cache, vocab_files, commit=OTHER_COMMIT, branch="v2")
    assert hub.resolve_pretrained(REPO, cache_dir=cache, kind="tokenizer") == main
    assert hub.resolve_pretrained(REPO, cache_dir=cache, revision="v2", kind="tokenizer") == other
    assert hub.resolve_pretrained(REPO, cache_dir=cache, revision=OTHER_COMMIT, kind="tokenizer") == other
    with pytest.raises(FileNotFoundError, match="refs/v3"):
        hub.resolve_pretrained(REPO, cache_dir=cache, revision="v3", kind="tokenizer", local_files_only=True)


def test_model_from_a_hub_id_in_the_cache(no_hub_env, monkeypatch, tmp_path, tiny_dir):
    from gpt_keras import TFOpenAIGPTLMHeadModel

    lm = tiny_dir / "lm"
    fake_cache(tmp_path / "cache", {"config.json": lm / "config.json", "model.safetensors": lm / "model.safetensors"})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    model = TFOpenAIGPTLMHeadModel.from_pretrained(REPO, revision="main", local_files_only=True)
    direct = TFOpenAIGPTLMHeadModel.from_pretrained(lm)
    assert model.count_params() == direct.count_params()
    assert all((a == b).all() for a, b in zip(model.get_weights(), direct.get_weights()))


def test_without_the_files_or_huggingface_hub_the_error_says_where_and_what_to_run(no_hub_env, tmp_path):
    assert "huggingface_hub" not in sys.modules  # not installed here
    with pytest.raises(FileNotFoundError) as error:
        OpenAIGPTTokenizer.from_pretrained(REPO, cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert str(tmp_path / "cache" / "models--openai-community--openai-gpt") in message
    assert "huggingface_hub is not installed" in message and "pip install 'gpt-keras[hub]'" in message
    assert f"huggingface-cli download {REPO}" in message


def test_local_files_only_and_offline_never_download(no_hub_env, monkeypatch, tmp_path):
    calls = install_fake_huggingface_hub(monkeypatch, tmp_path, {})
    with pytest.raises(FileNotFoundError, match="downloads are off"):
        hub.resolve_pretrained(REPO, cache_dir=tmp_path / "cache", local_files_only=True, kind="tokenizer")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="downloads are off"):
        hub.resolve_pretrained(REPO, cache_dir=tmp_path / "cache", kind="tokenizer")
    assert calls == []


def install_fake_huggingface_hub(monkeypatch, tmp_path, files):
    """A stand-in ``huggingface_hub`` whose ``snapshot_download`` records its arguments and lays ``files`` out."""
    calls = []

    def snapshot_download(repo_id, revision=None, cache_dir=None, force_download=False, token=None, allow_patterns=None):
        calls.append({"repo_id": repo_id, "revision": revision, "allow_patterns": allow_patterns, "token": token})
        target = tmp_path / "downloaded" / str(len(calls))
        target.mkdir(parents=True)
        for name, source in files.items():
            shutil.copy(source, target / name)
        return str(target)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    return calls


def test_a_missing_id_is_downloaded_with_huggingface_hub(no_hub_env, monkeypatch, tmp_path, vocab_files):
    calls = install_fake_huggingface_hub(monkeypatch, tmp_path, vocab_files)
    tokenizer = OpenAIGPTTokenizer.from_pretrained(REPO, cache_dir=tmp_path / "cache", revision="v1", token="t", pre_tokenizer="basic")
    assert tokenizer.vocab_size == 40478
    assert calls == [{"repo_id": REPO, "revision": "v1", "allow_patterns": ["*.json", "*.txt", "*.bpe"], "token": "t"}]


def test_a_model_download_takes_the_other_formats_only_without_safetensors(no_hub_env, monkeypatch, tmp_path, tiny_dir):
    lm = tiny_dir / "lm"
    calls = install_fake_huggingface_hub(monkeypatch, tmp_path, {"config.json": lm / "config.json"})
    hub.resolve_pretrained(REPO, cache_dir=tmp_path / "cache")
    assert [call["allow_patterns"][-1] for call in calls] == ["*.safetensors", "pytorch_model-*.bin"]


def test_a_path_is_not_taken_for_an_id(no_hub_env, tmp_path, vocab_files):
    local = tmp_path / "openai-community" / "openai-gpt"
    local.mkdir(parents=True)
    assert hub.resolve_pretrained(str(local), kind="tokenizer") == local
    assert hub.resolve_pretrained(tmp_path / "missing" / "dir") == tmp_path / "missing" / "dir"
    assert not hub.is_hub_id("./models/x") and not hub.is_hub_id("/abs/path") and hub.is_hub_id("gpt2")


def test_from_pt_downloads_the_pytorch_file_first(no_hub_env, monkeypatch, tmp_path, tiny_dir):
    from gpt_keras import TFOpenAIGPTLMHeadModel

    lm = tiny_dir / "lm"
    calls = install_fake_huggingface_hub(monkeypatch, tmp_path, {"config.json": lm / "config.json", "pytorch_model.bin": lm / "pytorch_model.bin"})
    model = TFOpenAIGPTLMHeadModel.from_pretrained(REPO, cache_dir=tmp_path / "cache", from_pt=True)
    assert len(calls) == 1 and "pytorch_model.bin" in calls[0]["allow_patterns"]
    assert not any(pattern.endswith(".safetensors") for pattern in calls[0]["allow_patterns"])
    assert model.config.vocab_size == 1000


def test_a_cached_snapshot_without_the_wanted_format_is_downloaded_again(no_hub_env, monkeypatch, tmp_path, tiny_dir):
    lm = tiny_dir / "lm"
    fake_cache(tmp_path / "cache", {"config.json": lm / "config.json", "tf_model.h5": lm / "tf_model.h5"})
    calls = install_fake_huggingface_hub(monkeypatch, tmp_path, {"config.json": lm / "config.json", "model.safetensors": lm / "model.safetensors"})
    directory = hub.resolve_pretrained(REPO, cache_dir=tmp_path / "cache", weights=(("safetensors",),))
    assert (directory / "model.safetensors").is_file() and len(calls) == 1
    assert hub.resolve_pretrained(REPO, cache_dir=tmp_path / "cache") == tmp_path / "cache" / "models--openai-community--openai-gpt" / "snapshots" / COMMIT


def test_a_config_download_fetches_config_json_alone(no_hub_env, monkeypatch, tmp_path, tiny_dir):
    from gpt_keras import OpenAIGPTConfig

    calls = install_fake_huggingface_hub(monkeypatch, tmp_path, {"config.json": tiny_dir / "lm" / "config.json"})
    assert OpenAIGPTConfig.from_pretrained(REPO, cache_dir=tmp_path / "cache").vocab_size == 1000
    assert [call["allow_patterns"] for call in calls] == [["config.json"]]


def test_lookup_options_are_the_references():
    kwargs = {"revision": "v1", "use_auth_token": "t", "resume_download": True, "subfolder": None, "num_labels": 3}
    with pytest.warns(FutureWarning, match="use_auth_token"):
        options = hub.pop_lookup_options(kwargs)
    assert options == {"revision": "v1", "token": "t"} and kwargs == {"num_labels": 3}
    assert hub.pop_lookup_options({"proxies": None, "proxies_unrelated": 1}) == {}
    with pytest.raises(ValueError, match="proxies= is not supported"):
        hub.pop_lookup_options({"proxies": {"https": "proxy:3128"}})
    with pytest.raises(ValueError, match="revision must be a string"):
        hub.pop_lookup_options({"revision": 3})
