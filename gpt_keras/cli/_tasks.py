"""What `gpt-keras evaluate` and `gpt-keras finetune` share: one subcommand per task (`lm` or
`perplexity`, `multiple-choice`, `classify`) on MODEL_DIR, its options, and reading its data."""
from pathlib import Path

from gpt_keras.cli._args import (
    CommandLineError,
    _add_hidden_debug,
    _existing_dir,
    _existing_files,
    _positive_int,
    _writable_dir,
    _writable_file,
)
from gpt_keras.cli._loading import _add_tokenizer_option


def _task_parser(tasks, name, help, description):
    """A parser of `gpt-keras evaluate|finetune <name>` whose first argument is MODEL_DIR."""
    task = tasks.add_parser(name, help=help, description=description)
    task.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="checkpoint directory")
    return task


def _add_classification_keys(parser):
    parser.add_argument("--text-key", default="text", metavar="KEY", help="text column or key (default text)")
    parser.add_argument("--text-pair-key", metavar="KEY", help="optional second text column or key")
    parser.add_argument("--label-key", default="label", metavar="KEY", help="label column or key (default label)")
    parser.add_argument(
        "--label-names", nargs="+", metavar="NAME", help="class names in index order, when labels are names"
    )


def _add_common_task_options(task, batch_size_help):
    _add_tokenizer_option(task)
    task.add_argument("--batch-size", type=_positive_int, metavar="N", help=batch_size_help)
    task.add_argument("--max-length", type=_positive_int, metavar="N", help="tokens per block or example (default: n_positions)")
    _add_hidden_debug(task)


def _check_inputs(args):
    """MODEL_DIR, then the data file(s), exist (in the order they are given); the directories a
    command writes can be written, checked now rather than after training."""
    _existing_dir(args.model_dir, "MODEL_DIR")
    paths = args.data if isinstance(args.data, list) else [args.data]
    _existing_files(paths, "TEXT_FILE" if isinstance(args.data, list) else "DATA")
    if getattr(args, "validation", None) is not None:
        _existing_files([args.validation], "--validation")
    for name, argument in (("output_dir", "OUTPUT_DIR"), ("checkpoint_dir", "--checkpoint-dir")):
        if getattr(args, name, None) is not None:
            _writable_dir(getattr(args, name), argument)
    if getattr(args, "plot", None) is not None:
        _writable_file(args.plot, "--plot")


def _max_length(args, model):
    if args.max_length is None:
        return model.config.n_positions
    if args.max_length > model.config.n_positions:
        raise CommandLineError(f"--max-length {args.max_length} exceeds the model's n_positions ({model.config.n_positions})")
    return args.max_length


def _read_multiple_choice(path, argument="DATA"):
    from gpt_keras import data

    if path.suffix.lower() == ".csv":
        return data.read_rocstories(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        return data.read_multiple_choice_jsonl(path)
    raise CommandLineError(f"{argument} must be a ROCStories .csv or a .jsonl, got {path}")


def _read_classification(args, path):
    from gpt_keras import data

    return data.read_classification(
        path, args.text_key, args.text_pair_key, args.label_key, label_names=args.label_names,
        num_labels=getattr(args, "num_labels", None),
    )
