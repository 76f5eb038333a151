"""Checkpoints of the models: the one name-to-variable table, state dicts, `from_pretrained`,
`save_pretrained`, and resizing the token embedding.

Names and layouts are the PyTorch reference's, so checkpoints move between the two in both directions.
The formats themselves (safetensors, `pytorch_model.bin`, `tf_model.h5`, the original release) are
read and written by `gpt_keras.checkpoints`.
"""
import logging
from pathlib import Path

import keras
import numpy as np
from keras import ops

from gpt_keras import _dirs, checkpoints
from gpt_keras.configuration import OpenAIGPTConfig
from gpt_keras.hub import resolve_pretrained
from gpt_keras.models import _keras_compat, generation_files, loading_options
from gpt_keras.models.quantization import quantized_layers, split_quantized_dtype

logger = logging.getLogger("gpt_keras")

BACKBONE_PREFIX = "transformer."
# Tensors of the reference's heads: a model without that head ignores them (anything else unknown is
# reported as unexpected).
HEAD_PREFIXES = ("lm_head.", "multiple_choice_head.", "score.")


class PretrainedIOMixin:
    """Checkpoint loading and saving for the models (mixed into `TFOpenAIGPTPreTrainedModel`).

    Reads `self.config`, `self.transformer` and the class attributes `reference_name`,
    `model_arguments` and `has_tied_lm_head`; heads add their tensors in `_head_variables`.

    A LoRA model's checkpoint holds its merged weights (what it computes); loading one into a LoRA
    model sets the frozen weights and makes the adaptation zero. A quantized model has no checkpoint
    in the reference's layout: those methods refuse it.
    """

    def _checkpoint_variables(self):
        """Checkpoint name -> (layer, weight attribute, transposed?) for every weight, in the
        reference's naming."""
        prefix = BACKBONE_PREFIX
        embeddings = self.transformer.embeddings
        mapping = {
            f"{prefix}tokens_embed.weight": (embeddings.tokens_embed, "embeddings", False),
            f"{prefix}positions_embed.weight": (embeddings.positions_embed, "embeddings", False),
        }
        for i, block in enumerate(self.transformer.blocks):
            name = f"{prefix}h.{i}."
            for dense_name, dense in (
                ("attn.c_attn", block.attn.c_attn),
                ("attn.c_proj", block.attn.c_proj),
                ("mlp.c_fc", block.mlp.c_fc),
                ("mlp.c_proj", block.mlp.c_proj),
            ):
                # Conv1D stores (in, out) like a Dense kernel: no transpose.
                mapping[f"{name}{dense_name}.weight"] = (dense, "kernel", False)
                mapping[f"{name}{dense_name}.bias"] = (dense, "bias", False)
            for norm_name, norm in (("ln_1", block.ln_1), ("ln_2", block.ln_2)):
                mapping[f"{name}{norm_name}.weight"] = (norm, "gamma", False)
                mapping[f"{name}{norm_name}.bias"] = (norm, "beta", False)
        mapping.update(self._head_variables())
        return mapping

    def _head_variables(self):
        return {}

    def get_state_dict(self):
        """The weights as a state dict with the PyTorch reference's names and layouts (numpy arrays).

        The base model's names have no `transformer.` prefix, as the reference's `OpenAIGPTModel` saves.
        With LoRA enabled these are the merged weights, which compute what the LoRA model computes.

        Raises:
            ValueError: The model is quantized (see `save_pretrained`).
        """
        _refuse_quantized(self, "get_state_dict")
        state = {}
        for name, (layer, attribute, transposed) in self._checkpoint_variables().items():
            value = ops.convert_to_numpy(getattr(layer, attribute))
            state[self._saved_name(name)] = np.ascontiguousarray(value.T if transposed else value)
        return state

    def _saved_name(self, name):
        return name

    def load_state_dict(self, state_dict, source="state dict", *, ignore_mismatched_sizes=False):
        """Assigns weights from a state dict with the reference's names (see `from_pretrained`).

        Every tensor is checked before any is assigned, so a mismatch leaves the model unchanged.
        Tensors of other heads are ignored; this model's head, when absent, keeps its initialization.
        In a LoRA model the tensors become the frozen weights and the LoRA updates are set to zero.

        Args:
            state_dict: Mapping name -> array, with the reference's names (base-model names without the
                `transformer.` prefix are accepted).
            source: What to call the state dict in messages (e.g. the checkpoint path).
            ignore_mismatched_sizes: Keep the initialization of tensors whose shape differs from the
                model's (e.g. a classifier for another `num_labels`) instead of refusing them; each is
                named with both shapes in a warning.

        Returns:
            The names of head weights that the state dict did not provide (left as initialized).

        Raises:
            gpt_keras.checkpoints.CheckpointMismatchError: backbone tensors missing, or tensors of the
                wrong shape without `ignore_mismatched_sizes` (all of them listed, with both shapes).
            ValueError: The model is quantized: load the float checkpoint first, then quantize.
        """
        return self._assign_state_dict(state_dict, source, ignore_mismatched_sizes)["missing_keys"]

    def _assign_state_dict(self, state_dict, source, ignore_mismatched_sizes):
        """`load_state_dict`'s work; returns the reference's loading info (see `from_pretrained`)."""
        _refuse_quantized(self, "load_state_dict")
        if not isinstance(state_dict, checkpoints.LazyStateDict):
            state_dict = {checkpoints.canonical_name(name): value for name, value in state_dict.items()}
        mapping = self._checkpoint_variables()
        variables = {name: (_stored(layer, attribute), transposed) for name, (layer, attribute, transposed) in mapping.items()}
        expected = {
            name: tuple(reversed(variable.shape)) if transposed else tuple(variable.shape)
            for name, (variable, transposed) in variables.items()
        }
        tokens = "transformer.tokens_embed.weight"
        if "lm_head.weight" in state_dict and self.has_tied_lm_head and not (
            tokens in state_dict and np.array_equal(np.asarray(state_dict["lm_head.weight"]), np.asarray(state_dict[tokens]))
        ):
            raise checkpoints.CheckpointMismatchError(
                f"{source}: lm_head.weight differs from transformer.tokens_embed.weight: the checkpoint has an"
                " untied LM head (tie_word_embeddings=false), and this model's LM head is the token embedding"
            )
        shapes = checkpoints.tensor_shapes(state_dict)
        newly_initialized = sorted(name for name in expected if _is_head_name(name) and name not in state_dict)
        ignored = sorted(name for name in state_dict if name not in expected and name.startswith(HEAD_PREFIXES))
        mismatched = [(name, shapes[name], shape) for name, shape in expected.items() if name in shapes and shapes[name] != shape]
        skipped = set(ignored) | ({name for name, _, _ in mismatched} if ignore_mismatched_sizes else set())
        to_load = {name: shape for name, shape in expected.items() if name not in newly_initialized and name not in skipped}
        if isinstance(state_dict, checkpoints.LazyStateDict):
            relevant = state_dict.without(skipped)
        else:
            relevant = {name: value for name, value in state_dict.items() if name not in skipped}
        try:
            unexpected = checkpoints.check_state_dict(relevant, to_load, source=source)
        except checkpoints.CheckpointMismatchError as error:
            if not mismatched:
                raise
            names = [self._reference_name(name) for name, _, _ in mismatched]
            raise checkpoints.CheckpointMismatchError(f"{error}{loading_options.mismatch_hint(names)}") from None
        for name in to_load:
            variable, transposed = variables[name]
            value = np.asarray(state_dict[name])
            variable.assign(np.ascontiguousarray(value.T if transposed else value).astype(variable.dtype))
        for layer in {id(layer): layer for layer, _, _ in mapping.values()}.values():
            if getattr(layer, "lora_enabled", False):
                layer.reset_lora()
        if ignored:
            logger.info("%s: ignored %d tensors of other heads: %s", source, len(ignored), ignored)
        if newly_initialized:
            logger.warning(
                "%s has no weights for %s; they are newly initialized: train the model before using it",
                source,
                newly_initialized,
            )
        mismatched = [(self._reference_name(name), found, shape) for name, found, shape in mismatched]
        loading_options.report_mismatched(type(self).__name__, source, mismatched)
        return loading_options.loading_info(
            [self._reference_name(name) for name in newly_initialized],
            [self._reference_name(name) for name in (*ignored, *unexpected)],
            mismatched,
        )

    def _reference_name(self, name):
        """The reference's name of a checkpoint tensor in this model's saved state dict."""
        return self._saved_name(name) if name.startswith(BACKBONE_PREFIX) else name

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, config=None, dtype=None, **kwargs):
        """Loads a model from a checkpoint directory in any supported format, with the reference's options.

        Formats: `model.safetensors` (also sharded), the reference's `tf_model.h5` and
        `pytorch_model.bin` (read without torch, refusing any pickled code), and the original release's
        `params_*.npy` (sizes inferred; see `gpt_keras.checkpoints.original_release`). When a directory
        holds several, safetensors is read first, then `tf_model.h5`, then `pytorch_model.bin`, then the
        original release (`from_pt`, `from_tf` and `use_safetensors` change that, see
        `loading_options.checkpoint_formats`); the choice is logged (INFO) on the "gpt_keras" logger.
        Safetensors are read tensor by tensor, so loading holds little more than the model's own
        weights. A head missing from the checkpoint (e.g. loading a base model into the double-heads
        model) is initialized and reported; tensors of another head are ignored.

        The original release ships no config: its sizes come from `params_shapes.json`, `n_head` from
        `kwargs` (default 12, the release's) and every other field from `OpenAIGPTConfig`'s
        defaults, whose `afn="gelu"` is the tanh approximation of GELU here (and in the PyTorch
        reference): the form the release was trained with, so its logits are reproduced. The erf form
        (what the reference's TF port computes) would shift them by ~5e-3.

        Args:
            pretrained_model_name_or_path: Checkpoint directory or weights file (a hub cache snapshot
                works too), or a Hub id such as "openai-community/openai-gpt" (see `gpt_keras.hub`).
            config: `OpenAIGPTConfig` (or its dict, or a config.json path) to use instead of the
                checkpoint's `config.json` (required for the original release unless its defaults fit).
            dtype: Optional Keras dtype policy. A quantized one ("int8_from_float32", "int4_from_float32",
                "float8_from_float32") loads the float weights, then quantizes them (`quantize`). "auto", as
                in the reference: the checkpoint's dtype (config.json's `dtype`, else its weights'), or
                float32. `torch_dtype=` is its deprecated name, taken as in the reference.
            **kwargs: The reference's loading options, none of which reaches the config:
                `cache_dir`, `revision`, `local_files_only`, `force_download`, `token`, `subfolder`
                (where to look up a Hub id); `from_pt`, `from_tf`, `use_safetensors` (which file);
                `ignore_mismatched_sizes` (re-initialize, with a warning naming both shapes, each
                tensor whose shape differs from the model's, e.g. a classifier loaded with another
                `num_labels`; without it such a tensor is an error); `output_loading_info` (also return
                the loading info). Then config fields to set (e.g. `output_attentions=True`,
                `num_labels=5`, `id2label=...`, or `n_head=4` for an original-release checkpoint whose
                sizes are inferred), and arguments of the model class (`lm_coef` of the double-heads
                model).

        For a model that can generate, the directory's `generation_config.json` (the reference's) becomes
        `model.generation_config`; without one it comes from the model config, as in the reference.

        When the directory holds a tokenizer (`vocab.json` + `merges.txt`, or the original release's
        files), it is attached as `model.tokenizer`, so that `generate` takes and returns text.

        Returns:
            The model with the checkpoint's weights; with `output_loading_info=True`, `(model, info)`
            where `info` is the reference's dict of `missing_keys` (newly initialized), `unexpected_keys`
            (ignored), `mismatched_keys` (`(name, checkpoint shape, model shape)`, re-initialized) and
            `error_msgs` (empty: errors are raised), under the reference's PyTorch names.

        Raises:
            FileNotFoundError: no checkpoint (of the formats asked for) or no config.json at the path.
            TypeError: a keyword argument is neither a loading option, a config field nor a model argument.
            ValueError: a file is corrupted, a tensor's shape disagrees with the config (named, both
                shapes), or an option is invalid or has no counterpart here.

        Example:
            >>> model, info = TFOpenAIGPTForSequenceClassification.from_pretrained(  # doctest: +SKIP
            ...     "path/to/3-label-classifier", num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
            >>> info["mismatched_keys"]  # doctest: +SKIP
            [('score.weight', (3, 768), (5, 768))]
        """
        dtype = loading_options.pop_dtype(dtype, kwargs)
        options = loading_options.pop_loading_options(kwargs)
        # A directory, or a Hub id found in the cache or downloaded.
        path = resolve_pretrained(pretrained_model_name_or_path, weights=options.weights, **options.lookup)
        state_dict, info = options.read_checkpoint(path)
        read_config = lambda: loading_options.checkpoint_config(info, n_head=kwargs.get("n_head"))
        config, model_arguments = loading_options.pretrained_config(cls, config, read_config, kwargs)
        float_dtype, quantized = split_quantized_dtype(loading_options.resolve_auto_dtype(dtype, config, state_dict))
        if quantized is not None and quantized.quantization_mode in ("gptq", "awq"):
            raise ValueError(
                f"from_pretrained(dtype={quantized.name!r}): {quantized.quantization_mode} calibrates on data; load the"
                f" float model, then model.quantize({quantized.quantization_mode!r}, config=...)"
            )
        # From the checkpoint's headers alone, before a config of 100000 layers allocates anything.
        checkpoints.check_config_fits(state_dict, config, source=info, check_sizes=not options.ignore_mismatched_sizes)
        model = cls(config, dtype=float_dtype, **model_arguments)
        source = f"{info.format} checkpoint {info.directory}"
        report = model._assign_state_dict(state_dict, source, options.ignore_mismatched_sizes)
        if quantized is not None:
            _quantize_as(model, quantized)
        model.tokenizer = _tokenizer_in(info.directory)
        generation_config = generation_files.read_generation_config(info.directory) if model.can_generate() else None
        if generation_config is not None:
            model.generation_config = generation_config
        logger.info("Loaded %s from %s (%s)", cls.__name__, info.directory, info.format)
        return (model, report) if options.output_loading_info else model

    def save_pretrained(self, path, saved_model=False, version=1, *, max_shard_size=None, safe_serialization=True,
                        signatures=None, push_to_hub=False):  # fmt: skip
        """Writes `config.json` + `model.safetensors` (or shards), loadable unchanged by the reference,
        and for a model that can generate its `generation_config` as the reference's
        `generation_config.json` (see `gpt_keras.models.generation_files`).

        The directory is replaced atomically: an interrupted save leaves the previous checkpoint whole.
        A LoRA model is saved merged (its LoRA updates folded into the weights): the reference loads
        it as a plain model with the LoRA model's outputs.

        Args:
            path: Directory to create or replace.
            max_shard_size: None for one file, else bytes or a string like "200MB".
            saved_model: Also write a TF SavedModel for TF Serving at `path/saved_model/<version>`, as the
                reference's TF port does: its `serving_default` signature is the forward pass (see
                `gpt_keras.export_saved_model`, which also exports a `generate` signature). An existing
                `saved_model/<version>` is replaced whole; other versions are kept.
            version: The SavedModel's version directory, an integer >= 0.
            safe_serialization: True (the reference's TF port writes `tf_model.h5` unless True; here
                safetensors are always written, which the reference reads); False is refused.
            signatures: Only None: for other signatures, see `gpt_keras.export_saved_model`.
            push_to_hub: Only False: upload the directory with `huggingface_hub.upload_folder`.

        Returns:
            The `CheckpointInfo` of the checkpoint written.

        Raises:
            ValueError: The model is quantized: the reference's layout has no quantized tensors; or an
                argument asks for what is not written here.
        """
        _refuse_quantized(self, "save_pretrained")
        refused = {
            "safe_serialization=False": (safe_serialization is False, "the checkpoint is always safetensors, which the reference reads"),
            "signatures": (signatures is not None, "the SavedModel serves the forward pass; export others with gpt_keras.export_saved_model"),
            "push_to_hub=True": (bool(push_to_hub), "upload the directory with huggingface_hub.upload_folder(repo_id=..., folder_path=path)"),
        }
        for name, (given, instead) in refused.items():
            if given:
                raise ValueError(f"save_pretrained({name}) is not supported: {instead}")
        if saved_model and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise ValueError(f"save_pretrained: version must be an integer >= 0 (the SavedModel's directory), got {version!r}")
        config = self.config.to_dict()
        config["architectures"] = [self.reference_name]
        state_dict = self.get_state_dict()
        # The reference reads the stored tensors' dtype from here ("torch_dtype" before transformers 4.56).
        stored = {np.dtype(tensor.dtype).name for tensor in state_dict.values()}
        if len(stored) == 1:
            config["dtype"] = stored.pop()
            if "torch_dtype" in config:
                config["torch_dtype"] = config["dtype"]
        info = checkpoints.save_state_dict(
            state_dict,
            path,
            max_shard_size=max_shard_size,
            extra_files={
                "config.json": OpenAIGPTConfig.from_dict(config).to_json_string(),
                **generation_files.generation_config_files(self),
            },
        )
        if saved_model:
            from gpt_keras.export import export_saved_model

            # The saved_model directory is swapped whole, with this version replaced and the others kept.
            replaced = lambda name: name == str(version)
            with _dirs.staged_directory(Path(info.directory) / "saved_model", superseded=replaced) as staging:
                export_saved_model(self, staging.path, version=version, generate=False)
            logger.info("Saved a SavedModel to %s", Path(info.directory) / "saved_model" / str(version))
        return info

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True):
        """Gives the token embedding `new_num_tokens` rows, in place, e.g. for added special tokens.

        Existing rows are kept. New rows start, as in the reference (PyTorch), near the mean of the old
        ones: drawn from a normal with the old rows' mean and 1e-9 times their covariance (the mean
        itself when that covariance is singular, e.g. fewer rows than dimensions), so that a new token
        starts as an average token rather than a random one. `mean_resizing=False` draws them like the
        model's initialization instead (normal with standard deviation `config.initializer_range`, as
        the reference's TF port). Shrinking keeps the first rows, so ids from the new size on become
        invalid. The LM heads stay tied: they read the same table. `config.vocab_size` is updated, so
        `get_config`, `.keras` files and `save_pretrained` describe the new size. Resize before
        `compile`: the optimizer of an earlier `compile` holds state for the old table.

        Args:
            new_num_tokens: The number of token ids, an int >= 1; None changes nothing (as the reference).
            pad_to_multiple_of: Optional int >= 1: round the size up to a multiple of it (with
                `new_num_tokens=None`, the current size is rounded up).
            mean_resizing: Whether new rows start near the old rows' mean (default) or at random.

        Returns:
            The token `Embedding` layer (`transformer.embeddings.tokens_embed`), resized or not.

        Example:
            >>> model.resize_token_embeddings(model.config.vocab_size + 3)  # doctest: +SKIP
        """
        token_embedding = self.transformer.embeddings.tokens_embed
        old_size = token_embedding.input_dim
        if pad_to_multiple_of is not None:
            if not _is_positive_int(pad_to_multiple_of):
                raise ValueError(
                    f"resize_token_embeddings: pad_to_multiple_of must be an integer >= 1, got {pad_to_multiple_of!r}"
                )
            size = old_size if new_num_tokens is None else new_num_tokens
            if _is_positive_int(size):
                new_num_tokens = -(-int(size) // int(pad_to_multiple_of)) * int(pad_to_multiple_of)
        if new_num_tokens is None:
            return token_embedding
        if not _is_positive_int(new_num_tokens):
            raise ValueError(
                f"resize_token_embeddings: new_num_tokens must be an integer >= 1 (or None: no change), got {new_num_tokens!r}"
            )
        new_size = int(new_num_tokens)
        if new_size == old_size:
            return token_embedding
        token_embedding.resize(new_size)
        if mean_resizing and new_size > old_size:
            table = ops.convert_to_numpy(token_embedding.embeddings)
            table[old_size:] = _rows_near_the_mean(table[:old_size], new_size - old_size)
            token_embedding.embeddings.assign(table)
        self.transformer.embeddings.vocab_size = new_size
        self.config.vocab_size = new_size
        self.transformer.config.vocab_size = new_size
        # Traced train/predict functions and compiled generation programs captured the old table.
        self._structure_changed()
        logger.info("Resized the token embedding of %s from %d to %d rows", self.name, old_size, new_size)
        return token_embedding


def _is_positive_int(value):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


def _rows_near_the_mean(rows, count):
    """`count` draws from N(mean, 1e-9 * covariance) of `rows` (the mean where that is singular), as
    the reference's mean resizing; numpy's global generator, so `keras.utils.set_random_seed` fixes them."""
    rows = rows.astype(np.float64)
    mean = rows.mean(axis=0)
    centered = rows - mean
    covariance = centered.T @ centered / len(rows)
    try:
        factor = np.linalg.cholesky(1e-9 * covariance)
    except np.linalg.LinAlgError:
        return np.broadcast_to(mean, (count, len(mean)))
    return mean + np.random.standard_normal((count, len(mean))) @ factor.T


def _refuse_quantized(model, method):
    """ValueError naming `method` when `model` is quantized: why it cannot, and what to do instead."""
    quantized = quantized_layers(model)
    if quantized:
        mode = quantized[0].quantization_mode
        raise ValueError(
            f"{method}: {model.name} is quantized ({mode}); the reference's checkpoint layout (float tensors"
            " under the reference's names) has no place for quantized weights and their scales. Keep the"
            " quantized model as a .keras file (model.save) or with save_weights; or save the float model"
            f" and quantize after loading it: from_pretrained(path, dtype=\"{mode}_from_float32\")"
        )


def _quantize_as(model, policy):
    """Quantizes `model` as the quantized dtype `policy` says (int4: its block size, or per channel)."""
    mode = policy.quantization_mode
    block_size = getattr(policy, "block_size", None)
    model.quantize(mode, config=keras.quantizers.Int4QuantizationConfig(block_size=block_size) if mode == "int4" else None)


def _stored(layer, attribute):
    """The variable behind `layer.<attribute>` (for LoRA layers the frozen weight, not the merged sum)."""
    if attribute in ("kernel", "embeddings"):
        return _keras_compat.stored_weight(layer)
    return getattr(layer, attribute)


def _tokenizer_in(directory):
    """The tokenizer of a checkpoint directory, or None when it holds none."""
    from gpt_keras.tokenization import OpenAIGPTTokenizer, files

    directory = Path(directory)
    if not any((directory / names[0]).is_file() for names in (files.VOCAB_FILES, files.ORIGINAL_RELEASE_FILES)):
        return None
    return OpenAIGPTTokenizer.from_pretrained(directory)


def _is_head_name(name):
    return not name.startswith(BACKBONE_PREFIX)
