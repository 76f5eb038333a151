"""`gpt-keras evaluate perplexity|multiple-choice|classify MODEL_DIR DATA...`: held-out perplexity or accuracy."""
import logging
from pathlib import Path

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


def add_parser(subparsers):
    """Declares `gpt-keras evaluate perplexity | multiple-choice | classify MODEL_DIR DATA...`."""
    parser = subparsers.add_parser(
        "evaluate",
        help="perplexity of an LM, or accuracy of a multiple-choice or classification model",
        description="Score MODEL_DIR on held-out data, in inference mode (the result does not depend on --batch-size).",
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    perplexity = _task_parser(
        tasks,
        "perplexity",
        "perplexity of an LM on text files",
        "Perplexity of the LM in MODEL_DIR on the non-empty lines of TEXT_FILEs, tokenized, concatenated "
        "and cut into blocks of --max-length tokens (a last partial block is left out).",
    )
    perplexity.add_argument("data", nargs="+", type=Path, metavar="TEXT_FILE", help="UTF-8 text files")
    choice = _task_parser(
        tasks,
        "multiple-choice",
        "accuracy of a double-heads model on a ROCStories CSV or multiple-choice JSONL",
        "Multiple-choice accuracy of the double-heads model in MODEL_DIR (e.g. from `gpt-keras finetune "
        "multiple-choice`) on a Story Cloze Test CSV (the ROCStories columns) or a .jsonl of "
        '{"context", "endings", "label"}. The tokenizer needs the paper\'s special tokens.',
    )
    choice.add_argument("data", type=Path, metavar="ROCSTORIES_CSV", help="ROCStories .csv or multiple-choice .jsonl")
    classify = _task_parser(
        tasks,
        "classify",
        "accuracy of a classification model on a CSV or JSONL",
        "Accuracy of the sequence-classification model in MODEL_DIR on a .csv (with a header) or .jsonl.",
    )
    classify.add_argument("data", type=Path, metavar="CSV_OR_JSONL", help="labelled examples")
    _add_classification_keys(classify)
    for task, run in ((perplexity, _evaluate_perplexity), (choice, _evaluate_multiple_choice), (classify, _evaluate_classify)):
        _add_common_task_options(task, "examples per batch (default 8)")
        task.set_defaults(run=run, log_level=logging.WARNING)
    return parser


def _check_paper_tokens(tokenizer, where):
    from gpt_keras.tokenization import PAPER_SPECIAL_TOKENS

    missing = [token for name, token in PAPER_SPECIAL_TOKENS.items() if getattr(tokenizer, name) != token]
    if missing:
        raise ValueError(
            f"the tokenizer of {where} lacks the paper's tokens {', '.join(missing)}: evaluate a model made by "
            "`gpt-keras finetune multiple-choice`"
        )


def _evaluate_perplexity(args):
    _check_inputs(args)
    tokenizer, model = _tokenizer_and_model(args, "lm")
    from gpt_keras import data, evaluation

    features = data.causal_lm_features(tokenizer, _max_length(args, model), files=args.data)
    result = evaluation.perplexity(model, features, batch_size=args.batch_size or 8)
    print(f"perplexity: {result['perplexity']:.4f} (loss {result['loss']:.4f} nats/token over {result['tokens']:,} tokens)")
    return 0


def _evaluate_multiple_choice(args):
    _check_inputs(args)
    tokenizer, model = _tokenizer_and_model(args, "double-heads", check_tokenizer=_check_paper_tokens)
    from gpt_keras import data, evaluation

    features = data.multiple_choice_features(_read_multiple_choice(args.data), tokenizer, _max_length(args, model))
    result = evaluation.multiple_choice_accuracy(model, features, batch_size=args.batch_size or 8)
    print(f"accuracy: {result['accuracy']:.4f} ({result['correct']}/{result['examples']} examples)")
    return 0


def _evaluate_classify(args):
    _check_inputs(args)
    tokenizer, model = _tokenizer_and_model(args, "seq-cls")
    from gpt_keras import data, evaluation

    features = data.classification_features(_read_classification(args, args.data), tokenizer, _max_length(args, model))
    result = evaluation.classification_accuracy(model, features, batch_size=args.batch_size or 8)
    print(f"accuracy: {result['accuracy']:.4f} ({result['correct']}/{result['examples']} examples)")
    return 0
