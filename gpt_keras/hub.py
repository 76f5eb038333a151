"""Hugging Face Hub ids ("openai-community/openai-gpt") turned into local directories, for models and
tokenizers: the local Hugging Face cache first (no network), then a download with ``huggingface_hub``
(the optional extra ``pip install gpt-keras[hub]``) when it is installed and allowed.

The cache is the reference's: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``; a repository lives in ``models--{owner}--{name}``, with each revision in
``snapshots/<commit>/`` and each branch name in ``refs/<branch>`` (holding its commit).
"""
import os
import re
from pathlib import Path

# from_pretrained's keyword arguments that say where and what to look up (the reference's names).
HUB_ARGUMENTS = ("cache_dir", "revision", "local_files_only", "force_download", "token", "subfolder")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_TRUE = ("1", "on", "yes", "true")
# What each kind needs from a snapshot, and the files a download fetches (not every weight format of a
# repository: openai-community/openai-gpt holds three copies of its ~480 MB of weights).
_NEEDS = {"tokenizer": (("vocab.json", "encoder_bpe_40000.json"),), "model": (("config.json",),)}
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "tf_model.h5", "pytorch_model.bin", "pytorch_model.bin.index.json")
_PATTERNS = {
    "tokenizer": ["*.json", "*.txt", "*.bpe"],
    "model": ["*.json", "*.txt", "*.safetensors"],
}


def hub_cache_dir(cache_dir=None):
    """The Hugging Face hub cache: ``cache_dir``, ``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def is_hub_id(name):
    """Whether ``name`` reads as a Hub repository id ("owner/name" or "name") rather than a path."""
    return isinstance(name, str) and bool(_REPO_ID.fullmatch(name)) and not name.endswith((".", "-"))


def repo_folder(repo_id, cache_dir=None):
    """The cache folder of a model repository: ``<cache>/models--owner--name``."""
    return hub_cache_dir(cache_dir) / ("models--" + repo_id.replace("/", "--"))


def cached_snapshot(repo_id, revision=None, cache_dir=None):
    """The cached snapshot of ``repo_id`` at ``revision`` (a branch or tag name via ``refs/``, or a commit
    hash; default "main"), or None when the cache does not hold it."""
    folder = repo_folder(repo_id, cache_dir)
    revision = revision or "main"
    if _COMMIT.fullmatch(revision):
        commit = revision
    else:
        ref = folder / "refs" / revision
        if not ref.is_file():
            return None
        commit = ref.read_text(encoding="utf-8").strip()
    snapshot = folder / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _complete(directory, kind):
    """Whether ``directory`` holds what a ``kind`` ("model" or "tokenizer") loads."""
    if not all(any((directory / name).is_file() for name in names) for names in _NEEDS[kind]):
        return False
    return kind != "model" or any((directory / name).is_file() for name in _WEIGHTS)


def _offline():
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE


def _download(huggingface_hub, repo_id, kind, revision, cache_dir, force_download, token):
    arguments = dict(repo_id=repo_id, revision=revision, cache_dir=cache_dir, force_download=force_download, token=token)
    directory = Path(huggingface_hub.snapshot_download(allow_patterns=_PATTERNS[kind], **arguments))
    if kind == "model" and not _complete(directory, kind):
        # No safetensors in the repository: take the reference's other formats.
        patterns = ["tf_model.h5", "pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"]
        directory = Path(huggingface_hub.snapshot_download(allow_patterns=patterns, **arguments))
    return directory


def resolve_pretrained(name_or_path, *, cache_dir=None, revision=None, local_files_only=False, force_download=False,
                       token=None, subfolder="", kind="model"):  # fmt: skip
    """The local directory of a ``from_pretrained`` argument.

    A path that exists, or that cannot be a Hub id, is returned as it is (a cache's ``models--X`` folder
    is resolved by the checkpoint loader, which also names a missing path). A Hub id is looked up in the local cache, with no network; when the cache lacks
    it (or ``force_download``), it is downloaded with ``huggingface_hub`` if that is installed and
    neither ``local_files_only`` nor ``HF_HUB_OFFLINE=1`` forbids it.

    Args:
        name_or_path: a directory or a Hub id ("openai-community/openai-gpt").
        cache_dir: the hub cache to use instead of ``$HF_HUB_CACHE`` / ``$HF_HOME/hub``.
        revision: a branch or tag name, or a commit hash (default "main").
        local_files_only: never download.
        force_download: download even when the cache has the snapshot.
        token: the Hub token for a download (private repositories).
        subfolder: a folder inside the directory or snapshot.
        kind: "model" or "tokenizer": what must be in a snapshot, and what a download fetches.

    Returns:
        ``pathlib.Path`` of the directory.

    Raises:
        FileNotFoundError: saying where it looked and what to run to get the files.

    Example:
        >>> resolve_pretrained("openai-community/openai-gpt", kind="tokenizer")  # doctest: +SKIP
        PosixPath('/root/.cache/huggingface/hub/models--openai-community--openai-gpt/snapshots/<commit>')
    """
    if kind not in _NEEDS:
        raise ValueError(f"kind must be 'model' or 'tokenizer'; got {kind!r}")
    path = Path(os.fspath(name_or_path)).expanduser()
    if path.exists():
        return path / subfolder if subfolder else path
    name = os.fspath(name_or_path)
    if not is_hub_id(name):
        return path  # a missing local path: the loader says what it looked for
    snapshot = None if force_download else cached_snapshot(name, revision, cache_dir)
    if snapshot is not None and (subfolder or _complete(snapshot, kind)):
        return snapshot / subfolder if subfolder else snapshot
    forbidden = local_files_only or _offline()
    if not forbidden:
        try:
            import huggingface_hub
        except ImportError:
            huggingface_hub = None
        if huggingface_hub is not None:
            directory = _download(huggingface_hub, name, kind, revision, cache_dir, force_download, token)
            return directory / subfolder if subfolder else directory
    if snapshot is not None:
        return snapshot  # incomplete, and no download: the loader names what is missing
    folder = repo_folder(name, cache_dir)
    wanted = f"refs/{revision or 'main'} -> snapshots/<commit>" if not _COMMIT.fullmatch(revision or "") else f"snapshots/{revision}"
    if forbidden:
        why = "downloads are off (local_files_only=True or HF_HUB_OFFLINE=1)"
    else:
        why = "huggingface_hub is not installed, so nothing can be downloaded"
    raise FileNotFoundError(
        f"{name!r} is not a directory, and the Hugging Face cache has no snapshot of it: looked for {wanted} in "
        f"{folder} (the cache is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub); {why}. "
        f"To get it: pip install 'gpt-keras[hub]' and run again with network (or `huggingface-cli download {name}`), "
        "or pass the directory that holds the files."
    )
