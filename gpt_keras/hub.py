"""Hugging Face Hub ids ("openai-community/openai-gpt") turned into local directories, for models and
tokenizers: the local Hugging Face cache first (no network), then a download with ``huggingface_hub``
(the optional extra ``pip install gpt-keras[hub]``) when it is installed and allowed.

The cache is the reference's: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``; a repository lives in ``models--{owner}--{name}``, with each revision in
``snapshots/<commit>/`` and each branch name in ``refs/<branch>`` (holding its commit).
"""
import fnmatch
import os
import re
import warnings
from pathlib import Path

# from_pretrained's keyword arguments that say where and what to look up (the reference's names).
HUB_ARGUMENTS = ("cache_dir", "revision", "local_files_only", "force_download", "token", "subfolder")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_TRUE = ("1", "on", "yes", "true")
# What each kind needs from a snapshot, and the files a download fetches (not every weight format of a
# repository: openai-community/openai-gpt holds three copies of its ~480 MB of weights).
_NEEDS = {
    "tokenizer": (("vocab.json", "encoder_bpe_40000.json"),),
    "model": (("config.json",),),
    "config": (("config.json",),),
}
_PATTERNS = {"tokenizer": ["*.json", "*.txt", "*.bpe"], "model": ["*.json", "*.txt"], "config": ["config.json"]}
# The weight files of each checkpoint format a model download can fetch, by the format's name in
# `gpt_keras.checkpoints` (the sharded variants included).
WEIGHT_PATTERNS = {
    "safetensors": ("*.safetensors",),
    "tf-h5": ("tf_model.h5",),
    "pytorch-bin": ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"),
}
# What a model download fetches, one group after the other until the snapshot holds weights:
# safetensors alone first, the reference's other formats only when a repository has none.
DEFAULT_WEIGHTS = (("safetensors",), ("tf-h5", "pytorch-bin"))


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


def pop_lookup_options(kwargs):
    """Takes the reference's lookup options out of a ``from_pretrained``'s ``kwargs``.

    ``cache_dir``, ``revision``, ``local_files_only``, ``force_download``, ``token`` and ``subfolder``
    are returned for :func:`resolve_pretrained`. As the reference: ``use_auth_token`` is the deprecated
    name of ``token`` (a FutureWarning), and ``resume_download`` is accepted and ignored (downloads
    resume anyway). ``proxies`` is refused: ``huggingface_hub`` takes proxies from the
    ``HTTPS_PROXY``/``HTTP_PROXY`` environment variables.

    Args:
        kwargs: A dict of keyword arguments; the options are removed from it.

    Returns:
        A dict of :func:`resolve_pretrained`'s keyword arguments.

    Raises:
        ValueError: An option has the wrong type, ``token`` and ``use_auth_token`` are both given, or
            ``proxies`` is given.
    """
    options = {name: kwargs.pop(name) for name in HUB_ARGUMENTS if name in kwargs}
    if kwargs.get("use_auth_token") is not None:
        warnings.warn("use_auth_token is deprecated (as in the reference): pass token=", FutureWarning, stacklevel=3)
        if options.get("token") is not None:
            raise ValueError("token and use_auth_token are both given: pass token= alone")
        options["token"] = kwargs["use_auth_token"]
    kwargs.pop("use_auth_token", None)
    kwargs.pop("resume_download", None)
    if kwargs.pop("proxies", None):
        raise ValueError(
            "proxies= is not supported: huggingface_hub, which downloads here, reads the HTTPS_PROXY and HTTP_PROXY"
            " environment variables; set those instead"
        )
    for name in ("local_files_only", "force_download"):
        if name in options and not isinstance(options[name], bool):
            raise ValueError(f"{name} must be True or False, got {options[name]!r}")
    for name in ("revision", "subfolder"):
        if options.get(name) is not None and not isinstance(options[name], str):
            raise ValueError(f"{name} must be a string, got {options[name]!r}")
    if options.get("subfolder") is None:
        options.pop("subfolder", None)
    return options


def _holds_weights(directory, weights):
    names = [path.name for path in directory.iterdir() if path.is_file()] if directory.is_dir() else []
    patterns = [pattern for group in weights for fmt in group for pattern in WEIGHT_PATTERNS[fmt]]
    return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in patterns)


def _complete(directory, kind, weights=DEFAULT_WEIGHTS):
    """Whether ``directory`` holds what a ``kind`` ("model", "config" or "tokenizer") loads."""
    if not all(any((directory / name).is_file() for name in names) for names in _NEEDS[kind]):
        return False
    return kind != "model" or _holds_weights(directory, weights)


def _offline():
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE


def _download(huggingface_hub, repo_id, kind, revision, cache_dir, force_download, token, weights):
    arguments = dict(repo_id=repo_id, revision=revision, cache_dir=cache_dir, force_download=force_download, token=token)
    if kind != "model":
        return Path(huggingface_hub.snapshot_download(allow_patterns=_PATTERNS[kind], **arguments))
    directory = None
    for number, group in enumerate(weights):
        patterns = [pattern for fmt in group for pattern in WEIGHT_PATTERNS[fmt]]
        # The first download brings the config and the like too.
        patterns = _PATTERNS[kind] + patterns if number == 0 else patterns
        directory = Path(huggingface_hub.snapshot_download(allow_patterns=patterns, **arguments))
        if _complete(directory, kind, weights=(group,)):
            break
    return directory


def resolve_pretrained(name_or_path, *, cache_dir=None, revision=None, local_files_only=False, force_download=False,
                       token=None, subfolder="", kind="model", weights=DEFAULT_WEIGHTS):  # fmt: skip
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
        kind: "model", "config" or "tokenizer": what must be in a snapshot, and what a download fetches.
        weights: for a model, groups of checkpoint formats (names of ``WEIGHT_PATTERNS``) in the order
            they are wanted: a snapshot holding any of them is complete, and a download fetches one
            group after the other until it holds one (default ``DEFAULT_WEIGHTS``).

    Returns:
        ``pathlib.Path`` of the directory.

    Raises:
        FileNotFoundError: saying where it looked and what to run to get the files.

    Example:
        >>> resolve_pretrained("openai-community/openai-gpt", kind="tokenizer")  # doctest: +SKIP
        PosixPath('/root/.cache/huggingface/hub/models--openai-community--openai-gpt/snapshots/<commit>')
    """
    if kind not in _NEEDS:
        raise ValueError(f"kind must be 'model', 'config' or 'tokenizer'; got {kind!r}")
    path = Path(os.fspath(name_or_path)).expanduser()
    if path.exists():
        return path / subfolder if subfolder else path
    name = os.fspath(name_or_path)
    if not is_hub_id(name):
        return path  # a missing local path: the loader says what it looked for
    snapshot = None if force_download else cached_snapshot(name, revision, cache_dir)
    if snapshot is not None and (subfolder or _complete(snapshot, kind, weights)):
        return snapshot / subfolder if subfolder else snapshot
    forbidden = local_files_only or _offline()
    if not forbidden:
        try:
            import huggingface_hub
        except ImportError:
            huggingface_hub = None
        if huggingface_hub is not None:
            directory = _download(huggingface_hub, name, kind, revision, cache_dir, force_download, token, weights)
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
