"""Fine-tune the double-heads model on ROCStories (Story Cloze Test) the way the paper did.

Each story becomes two rows `_start_ story _delimiter_ ending _classify_`; the model is trained on the
multiple-choice loss plus 0.5 x the LM loss, with the paper's optimizer (Adam, warmup then linear
decay, weight decay 0.01, clipping at 1), and scored by multiple-choice accuracy.

By default it runs in seconds on `examples/data/rocstories_tiny.csv` with a tiny random model and a
BPE vocabulary learned from that file. For the paper's setting, give the released model and the
Story Cloze files:

    python examples/multiple_choice.py --train cloze_test_val__spring2016.csv \\
        --valid cloze_test_test__spring2016.csv --model openai-gpt/ --tokenizer openai-gpt/ \\
        --epochs 3 --batch-size 8 --learning-rate 6.25e-5
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(HERE / "data" / "rocstories_tiny.csv"), help="ROCStories-format CSV")
    parser.add_argument("--valid", default=None, help="held-out CSV (default: the last quarter of --train)")
    parser.add_argument("--model", default=None, help="pretrained model directory (default: a tiny random model)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer directory (default: learn a BPE from --train)")
    parser.add_argument("--output", default="runs/multiple_choice", help="where the tokenizer, checkpoints and model go")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--lm-coef", type=float, default=0.5)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser.parse_args(argv)


def main(argv=None):
    """Trains and evaluates; returns {"accuracy", "examples", "train_examples"}."""
    args = parse_args(argv)
    import keras

    from gpt_keras import OpenAIGPTConfig, OpenAIGPTTokenizer, TFOpenAIGPTDoubleHeadsModel, data, evaluation, training
    from gpt_keras.tokenization.bpe_training import train_tokenizer

    keras.utils.set_random_seed(0)
    output = Path(args.output)
    examples = data.read_rocstories(args.train)
    if args.valid:
        train_examples, valid_examples = examples, data.read_rocstories(args.valid)
    else:
        cut = max(1, len(examples) * 3 // 4)
        train_examples, valid_examples = examples[:cut], examples[cut:] or examples[:1]

    if args.tokenizer:
        tokenizer = OpenAIGPTTokenizer.from_pretrained(args.tokenizer)
    else:
        texts = [t for e in train_examples for t in (e.context, *e.endings)]
        tokenizer = train_tokenizer(texts, vocab_size=400, output_dir=output / "tokenizer")
    tokenizer.add_paper_special_tokens()

    if args.model:
        model = TFOpenAIGPTDoubleHeadsModel.from_pretrained(args.model, lm_coef=args.lm_coef)
        model.resize_token_embeddings(len(tokenizer))
    else:
        config = training.paper_config(
            OpenAIGPTConfig(vocab_size=len(tokenizer), n_positions=args.max_length, n_embd=64, n_layer=2, n_head=4)
        )
        model = TFOpenAIGPTDoubleHeadsModel(config, lm_coef=args.lm_coef)

    quiet = args.quiet
    train_features = data.multiple_choice_features(train_examples, tokenizer, args.max_length, quiet=quiet)
    valid_features = data.multiple_choice_features(valid_examples, tokenizer, args.max_length, quiet=quiet)
    training.finetune(
        model,
        train_features,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        checkpoint_dir=output / "checkpoints",
        save_every_steps=50,
        validation=valid_features,
        verbose=0 if quiet else "auto",
    )
    result = evaluation.multiple_choice_accuracy(model, valid_features)
    model.save_pretrained(output / "model")
    tokenizer.save_pretrained(output / "model")
    if not quiet:
        print(f"multiple-choice accuracy: {result['accuracy']:.3f} on {result['examples']} stories", file=sys.stderr)
    return {**result, "train_examples": len(train_examples)}


if __name__ == "__main__":
    main()
