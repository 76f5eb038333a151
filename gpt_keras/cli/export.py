"""`gpt-keras export MODEL_DIR EXPORT_DIR`: a SavedModel for TF Serving, versioned; with the text
signatures when MODEL_DIR (or `--tokenizer`) holds a tokenizer."""
from pathlib import Path

from gpt_keras.cli._args import CommandLineError, _existing_dir, _non_negative_int, _positive_int, _writable_dir
from gpt_keras.cli._loading import MODEL_CLASSES, _load_model


def add_parser(subparsers):
    """Declares `gpt-keras export MODEL_DIR EXPORT_DIR [options]`."""
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint as a SavedModel for TF Serving",
        description=(
            "Export MODEL_DIR as a SavedModel in TF Serving's layout EXPORT_DIR/<version>/, with a "
            "`serving_default` forward signature and, for models with an LM head, a `generate` signature "
            "(the XLA-compiled cached generation). When MODEL_DIR holds a tokenizer (vocab.json + merges.txt, "
            "as finetune and quickstart write it) or --tokenizer names one, the text signatures too "
            "(tokenize, generate_text, classify_text, score_choices: strings in and out, tokenized in the "
            "graph in the basic mode). Prints the version directory last."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="checkpoint directory")
    parser.add_argument("export_dir", type=Path, metavar="EXPORT_DIR", help="the model's base directory for TF Serving")
    parser.add_argument(
        "--model-class",
        choices=("auto",) + tuple(MODEL_CLASSES),
        default="auto",
        help="model to export; auto: config.json's architectures, else the LM model",
    )
    parser.add_argument("--version", type=_non_negative_int, metavar="N", help="version number (default: the next one)")
    parser.add_argument("--no-generate", action="store_true", help="leave out the generate signature")
    parser.add_argument(
        "--max-length", type=_positive_int, metavar="N", help="prompt + new tokens of generate (default: n_positions)"
    )
    parser.add_argument(
        "--max-new-tokens", type=_positive_int, metavar="N", help="the largest max_new_tokens (default: max length / 2)"
    )
    parser.add_argument(
        "--tokenizer", type=Path, metavar="DIR", help="tokenizer directory of the text signatures (default: MODEL_DIR's)"
    )
    parser.add_argument("--no-text", action="store_true", help="leave out the text signatures")
    parser.add_argument(
        "--truncate-prompt",
        action="store_true",
        help="generate_text keeps the last tokens of over-long prompts instead of refusing them",
    )
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Runs `gpt-keras export`; returns the exit code (0)."""
    _existing_dir(args.model_dir, "MODEL_DIR")
    _writable_dir(args.export_dir, "EXPORT_DIR")
    if args.no_generate and (args.max_length is not None or args.max_new_tokens is not None):
        raise CommandLineError("--max-length and --max-new-tokens configure the generate signature, which --no-generate leaves out")
    if args.no_text and (args.tokenizer is not None or args.truncate_prompt):
        raise CommandLineError("--tokenizer and --truncate-prompt configure the text signatures, which --no-text leaves out")
    tokenizer_dir = _tokenizer_dir(args)
    import json

    from gpt_keras.export import METADATA_FILE, export_saved_model

    model = _load_model(args.model_class, args.model_dir)
    print(f"model: {type(model).__name__}, {model.count_params():,} parameters")
    version_dir = export_saved_model(
        model,
        args.export_dir,
        version=args.version,
        generate=not args.no_generate,
        max_length=args.max_length,
        max_new_tokens=args.max_new_tokens,
        tokenizer=_load_tokenizer(tokenizer_dir),
        truncate_prompt=args.truncate_prompt,
    )
    metadata = json.loads((version_dir / "assets.extra" / METADATA_FILE).read_text())
    print(f"signatures: {', '.join(sorted(metadata['signatures']))}")
    print(version_dir)
    return 0


def _tokenizer_dir(args):
    """The directory of the text signatures' tokenizer: --tokenizer, else MODEL_DIR when it holds one."""
    if args.no_text:
        return None
    if args.tokenizer is not None:
        return _existing_dir(args.tokenizer, "--tokenizer")
    from gpt_keras.tokenization.files import ORIGINAL_RELEASE_FILES, VOCAB_FILES

    layouts = (VOCAB_FILES, ORIGINAL_RELEASE_FILES)
    found = any(all((args.model_dir / name).is_file() for name in names) for names in layouts)
    return args.model_dir if found else None


def _load_tokenizer(directory):
    """The tokenizer of `directory` in basic mode (the mode the graph implements), or None."""
    if directory is None:
        print("tokenizer: none in MODEL_DIR (no vocab.json + merges.txt): the id signatures only")
        return None
    from gpt_keras.tokenization import OpenAIGPTTokenizer

    tokenizer = OpenAIGPTTokenizer.from_pretrained(directory, pre_tokenizer="basic")
    print(f"tokenizer: {directory}, {len(tokenizer):,} ids, tokenizing in the graph in the basic mode")
    return tokenizer
