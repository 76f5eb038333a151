"""`gpt-keras finetune lm|multiple-choice|classify MODEL_DIR DATA OUTPUT_DIR`: the paper's recipe
(`gpt_keras.training.finetune`) on a checkpoint, writing the model and its tokenizer."""
import importlib.util
from pathlib import Path

from gpt_keras.cli._args import (
    CommandLineError,
    _fraction,
    _non_negative_float,
    _positive_float,
    _positive_int,
    _writable_dir,
)
from gpt_keras.cli._loading import _tokenizer_and_model
from gpt_keras.cli._tasks import (
    _add_classification_keys,
    _add_common_task_options,
    _check_inputs,
    _max_length,
    _read_classification,
    _read_multiple_choice,
    _task_parser,
)

TENSORBOARD_HINT = 'pip install "gpt-keras[tensorboard]"'


def add_parser(subparsers):
    """Declares `gpt-keras finetune lm | multiple-choice | classify MODEL_DIR DATA OUTPUT_DIR [options]`."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a checkpoint as an LM, a multiple-choice or a classification model",
        description=(
            "Fine-tune MODEL_DIR on DATA with the paper's recipe (Adam with warm-up and linear decay, decoupled "
            "weight decay 0.01, gradient clipping at 1) and write the model and its tokenizer to OUTPUT_DIR, "
            "ready for generate, evaluate and export. With --checkpoint-dir an interrupted run resumes where it stopped."
        ),
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    lm = _task_parser(tasks, "lm", "continue training the LM on text files", "Causal-LM fine-tuning on the non-empty lines of DATA (UTF-8 text), packed into blocks of --max-length tokens.")
    lm.add_argument("data", type=Path, metavar="DATA", help="UTF-8 text file")
    choice = _task_parser(
        tasks,
        "multiple-choice",
        "train the double-heads model on ROCStories CSV or multiple-choice JSONL",
        "The paper's multiple-choice fine-tuning: each choice as `_start_ context _delimiter_ ending _classify_`, "
        "the loss being the multiple-choice loss + --lm-coef x the LM loss. The paper's special tokens are added "
        "to the tokenizer and the embedding grows to match.",
    )
    choice.add_argument("data", type=Path, metavar="DATA", help="ROCStories .csv or multiple-choice .jsonl")
    classify = _task_parser(
        tasks,
        "classify",
        "train the sequence-classification model on CSV or JSONL",
        "Sequence classification on a .csv (with a header) or .jsonl of text[, text pair], label.",
    )
    classify.add_argument("data", type=Path, metavar="DATA", help="labelled .csv or .jsonl")
    _add_classification_keys(classify)
    classify.add_argument("--num-labels", type=_positive_int, metavar="N", help="classes (default: from --label-names or the labels)")
    choice.add_argument("--lm-coef", type=_non_negative_float, default=0.5, metavar="C", help="weight of the LM loss (the paper's 0.5)")
    for task, run in ((lm, _finetune_lm), (choice, _finetune_multiple_choice), (classify, _finetune_classify)):
        task.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="where the fine-tuned model and tokenizer go")
        _add_common_task_options(task, "examples per batch (default: the paper's 32)")
        task.add_argument("--epochs", type=_positive_int, default=3, metavar="N", help="epochs (default: the paper's 3)")
        task.add_argument("--learning-rate", type=_positive_float, metavar="LR", help="peak rate (default: the paper's 6.25e-5)")
        task.add_argument("--warmup", type=_fraction, metavar="F", help="warm-up fraction of the steps (default: the paper's 0.002)")
        task.add_argument("--seed", type=int, default=0, metavar="N", help="seed of initialization and shuffling (default 0)")
        task.add_argument("--checkpoint-dir", type=Path, metavar="DIR", help="save resumable checkpoints there, and resume from them")
        task.add_argument("--save-every", type=_positive_int, metavar="STEPS", help="with --checkpoint-dir: also save every STEPS steps")
        task.add_argument(
            "--validation", type=Path, metavar="FILE", help="held-out data in DATA's format, scored after each epoch"
        )
        task.add_argument("--plot", type=Path, metavar="PNG", help="write the loss curve there (CSV without matplotlib)")
        task.add_argument(
            "--tensorboard", type=Path, metavar="DIR", help=f"write TensorBoard logs there (needs {TENSORBOARD_HINT})"
        )
        task.set_defaults(run=run)
    return parser


def _finetune_lm(args):
    _check_finetune_inputs(args)
    _seed(args.seed)
    tokenizer, model = _tokenizer_and_model(args, "lm")
    from gpt_keras import data

    max_length = _max_length(args, model)
    features = lambda path: data.causal_lm_features(tokenizer, max_length, files=[path])
    return _train(args, model, tokenizer, features, args.data, args.validation)


def _finetune_multiple_choice(args):
    _check_finetune_inputs(args)
    examples = _labelled_choices(args.data, "DATA")
    validation = None if args.validation is None else _labelled_choices(args.validation, "--validation")
    _seed(args.seed)
    tokenizer, model = _tokenizer_and_model(args, "double-heads")
    model.lm_coef = args.lm_coef
    size = tokenizer.add_paper_special_tokens()
    if size > model.config.vocab_size:
        model.resize_token_embeddings(size)
    from gpt_keras import data

    max_length = _max_length(args, model)
    features = lambda rows: data.multiple_choice_features(rows, tokenizer, max_length)
    return _train(args, model, tokenizer, features, examples, validation)


def _labelled_choices(path, argument):
    examples = _read_multiple_choice(path, argument)
    if any(example.label is None for example in examples):
        # Without mc_labels only the LM loss would train: the choice head would stay as initialized.
        raise CommandLineError(
            f"{argument} must label every example to fine-tune multiple choice (AnswerRightEnding in a ROCStories "
            f"csv, 'label' in jsonl); {path} has none"
        )
    return examples


def _finetune_classify(args):
    _check_finetune_inputs(args)
    examples = _read_classification(args, args.data)
    validation = None if args.validation is None else _read_classification(args, args.validation)
    labels = [example.label for example in examples]
    num_labels = args.num_labels or (len(args.label_names) if args.label_names else max(2, max(labels) + 1))
    for path, rows in ((args.data, examples), (args.validation, validation or [])):
        largest = max((example.label for example in rows), default=0)
        if largest >= num_labels:
            raise ValueError(f"{path}: a label is {largest}, but there are {num_labels} classes (--num-labels)")
    _seed(args.seed)
    tokenizer, model = _tokenizer_and_model(args, "seq-cls", num_labels=num_labels)
    from gpt_keras import data

    max_length = _max_length(args, model)
    features = lambda rows: data.classification_features(rows, tokenizer, max_length)
    return _train(args, model, tokenizer, features, examples, validation)


def _check_finetune_inputs(args):
    _check_inputs(args)
    if args.save_every is not None and args.checkpoint_dir is None:
        raise CommandLineError("--save-every needs --checkpoint-dir")
    if args.tensorboard is not None:
        _writable_dir(args.tensorboard, "--tensorboard")
        if not _tensorboard_installed():
            raise CommandLineError(f"--tensorboard needs the tensorboard package, which is not installed: {TENSORBOARD_HINT}")


def _tensorboard_installed():
    # Checked before any work: Keras writes the logs without the package, but nothing could show them.
    return importlib.util.find_spec("tensorboard") is not None


def _seed(seed):
    import keras

    keras.utils.set_random_seed(seed)


def _train(args, model, tokenizer, features, train, validation):
    """Fine-tunes `model` on `features(train)` (scoring `features(validation)` unless it is None) with the
    paper's recipe, then writes the loss curve (--plot), the model and its tokenizer; returns the exit code."""
    import keras

    from gpt_keras import training

    # Every 10 steps: a curve of the step losses at the cost of one summary write per 10 steps.
    tensorboard = [] if args.tensorboard is None else [keras.callbacks.TensorBoard(str(args.tensorboard), update_freq=10)]
    result = training.finetune(
        model,
        features(train),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup=args.warmup,
        shuffle_seed=args.seed,
        checkpoint_dir=args.checkpoint_dir,
        save_every_steps=args.save_every,
        validation=None if validation is None else features(validation),
        callbacks=tensorboard,
        log=lambda line: print(line, flush=True),  # before the progress line and stderr's checkpoint lines
    )
    if args.plot is not None:
        _plot(args, type(model).__name__, result.loss_history)
    if result.nan_stop:
        raise RuntimeError(f"training stopped on a NaN loss; nothing written to {args.output_dir}")
    model.save_pretrained(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    loss = result.final_loss
    done = "training had finished before (resumed from its checkpoint)" if loss is None else f"final training loss {loss:.4f}"
    print(f"{done}; wrote {type(model).__name__} and its tokenizer -> {args.output_dir}")
    return 0


def _plot(args, model_name, loss_history):
    if not loss_history.steps:
        print(f"no loss curve written to {args.plot}: no training step ran")
        return
    curve = loss_history.plot(
        args.plot,
        title=f"gpt-keras finetune {args.task}: {model_name} on {args.data.name}",
        perplexity_axis=args.task == "lm",
    )
    print(curve.note or f"loss curve -> {curve.path}")
