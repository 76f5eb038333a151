"""Loading what the commands run on: the model class (`--model-class`, or config.json's
`architectures`), the tokenizer of a directory, and the check that the two fit together."""
from pathlib import Path

from gpt_keras.cli._args import CommandLineError, _existing_dir

# --model-class value -> the model class's name (known without importing TensorFlow, for --help).
MODEL_CLASSES = {
    "base": "TFOpenAIGPTModel",
    "lm": "TFOpenAIGPTLMHeadModel",
    "double-heads": "TFOpenAIGPTDoubleHeadsModel",
    "seq-cls": "TFOpenAIGPTForSequenceClassification",
}


def _model_class(choice, config, directory):
    """The class for --model-class `choice`; for "auto", the one config.json's `architectures` names, else LM."""
    from gpt_keras import models

    if choice != "auto":
        return models.MODEL_CLASSES[MODEL_CLASSES[choice]]
    if config is None and (directory / "config.json").is_file():
        from gpt_keras.configuration import OpenAIGPTConfig

        config = OpenAIGPTConfig.from_json_file(directory / "config.json")
    return models.model_class_for(config, default=models.TFOpenAIGPTLMHeadModel)


def _load_tokenizer(directory, argument, **overrides):
    """The tokenizer in `directory`; a directory without vocab.json + merges.txt is a usage error naming `argument`."""
    from gpt_keras.tokenization import OpenAIGPTTokenizer

    try:
        return OpenAIGPTTokenizer.from_pretrained(directory, **overrides)
    except FileNotFoundError as error:
        raise CommandLineError(f"{argument}: {error}") from None


def _load_model(key, directory, **config_overrides):
    return _model_class(key, None, directory).from_pretrained(directory, **config_overrides)


def _check_vocabulary(tokenizer, model, where):
    if len(tokenizer) > model.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model in {where} has vocab_size="
            f"{model.config.vocab_size}: use the tokenizer the model was trained with (--tokenizer DIR)"
        )


def _tokenizer_and_model(args, key, check_tokenizer=None, **config_overrides):
    """The tokenizer of --tokenizer or MODEL_DIR, then MODEL_DIR's model (as `key`), checked against each other.

    `check_tokenizer(tokenizer, where)` runs before the model is loaded.
    """
    _existing_dir(args.model_dir, "MODEL_DIR")
    if args.tokenizer is not None:
        _existing_dir(args.tokenizer, "--tokenizer")
        tokenizer = _load_tokenizer(args.tokenizer, "--tokenizer")
    else:
        tokenizer = _load_tokenizer(args.model_dir, "MODEL_DIR (or pass --tokenizer DIR)")
    if check_tokenizer is not None:
        check_tokenizer(tokenizer, args.tokenizer or args.model_dir)
    model = _load_model(key, args.model_dir, **config_overrides)
    _check_vocabulary(tokenizer, model, args.model_dir)
    return tokenizer, model


def _add_tokenizer_option(parser):
    parser.add_argument(
        "--tokenizer", type=Path, metavar="DIR", help="tokenizer directory (default: MODEL_DIR's vocab.json + merges.txt)"
    )

