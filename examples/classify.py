"""Fine-tune the sequence-classification model on a CSV or JSONL of (text[, text_pair], label).

Labels may be class indices or names (--labels lists the names in index order). Trained with the
paper's optimizer and scored by accuracy. By default it runs in seconds on
`examples/data/reviews_tiny.csv` with a tiny random model and a BPE vocabulary learned from it:

    python examples/classify.py --train train.jsonl --valid dev.jsonl --text-pair-key hypothesis \\
        --labels entailment neutral contradiction --model openai-gpt/ --tokenizer openai-gpt/
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(HERE / "data" / "reviews_tiny.csv"), help=".csv or .jsonl")
    parser.add_argument("--valid", default=None, help="held-out file (default: the last quarter of --train)")
    parser.add_argument("--text-key", default="text")
    parser.add_argument("--text-pair-key", default=None)
    parser.add_argument("--label-key", default="label")
    parser.add_argument("--labels", nargs="+", default=["negative", "positive"], help="class names in index order")
    parser.add_argument("--model", default=None, help="pretrained model directory (default: a tiny random model)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer directory (default: learn a BPE from --train)")
    parser.add_argument("--output", default="runs/classify", help="where the tokenizer, checkpoints and model go")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser.parse_args(argv)


def main(argv=None):
    """Trains and evaluates; returns {"accuracy", "correct", "examples"}."""
    args = parse_args(argv)
    import keras

    from gpt_keras import OpenAIGPTConfig, OpenAIGPTTokenizer, TFOpenAIGPTForSequenceClassification, data, evaluation, training
    from gpt_keras.tokenization.bpe_training import train_tokenizer

    keras.utils.set_random_seed(0)
    output = Path(args.output)
    read = lambda path: data.read_classification(path, args.text_key, args.text_pair_key, args.label_key, label_names=args.labels)
    examples = read(args.train)
    if args.valid:
        train_examples, valid_examples = examples, read(args.valid)
    else:
        cut = max(1, len(examples) * 3 // 4)
        train_examples, valid_examples = examples[:cut], examples[cut:] or examples[:1]

    if args.tokenizer:
        tokenizer = OpenAIGPTTokenizer.from_pretrained(args.tokenizer)
    else:
        texts = [t for e in train_examples for t in (e.text, e.text_pair) if t]
        tokenizer = train_tokenizer(texts, vocab_size=300, output_dir=output / "tokenizer")

    num_labels = len(args.labels)
    if args.model:
        model = TFOpenAIGPTForSequenceClassification.from_pretrained(
            args.model, num_labels=num_labels, classifier_dropout=training.PAPER_RECIPE["classifier_dropout"]
        )
    else:
        config = training.paper_config(
            OpenAIGPTConfig(vocab_size=len(tokenizer), n_positions=args.max_length, n_embd=64, n_layer=2, n_head=4, num_labels=num_labels)
        )
        model = TFOpenAIGPTForSequenceClassification(config, classifier_dropout=training.PAPER_RECIPE["classifier_dropout"])

    train_features = data.classification_features(train_examples, tokenizer, args.max_length, quiet=args.quiet)
    valid_features = data.classification_features(valid_examples, tokenizer, args.max_length, quiet=args.quiet)
    training.finetune(
        model,
        train_features,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        checkpoint_dir=output / "checkpoints",
        save_every_steps=50,
        validation=valid_features,
        verbose=0 if args.quiet else "auto",
    )
    result = evaluation.classification_accuracy(model, valid_features)
    model.save_pretrained(output / "model")
    tokenizer.save_pretrained(output / "model")
    if not args.quiet:
        print(f"accuracy: {result['accuracy']:.3f} on {result['examples']} examples", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
