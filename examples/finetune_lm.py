"""Fine-tune the LM-head model on text files (causal language modelling) and report perplexity.

The training text is tokenized, packed into blocks of --block-size tokens and trained on with the
paper's optimizer; checkpoints in --output/checkpoints let an interrupted run continue where it
stopped (rerun the same command). By default it runs in seconds on `examples/data/stories_tiny.txt`
with a tiny random model and a BPE vocabulary learned from that file:

    python examples/finetune_lm.py --train my_corpus.txt --valid my_valid.txt \\
        --model openai-gpt/ --tokenizer openai-gpt/ --block-size 512 --learning-rate 6.25e-5
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", default=[str(HERE / "data" / "stories_tiny.txt")], help="text file(s)")
    parser.add_argument("--valid", nargs="+", default=None, help="held-out text file(s) (default: the last tenth of the blocks)")
    parser.add_argument("--model", default=None, help="pretrained model directory (default: a tiny random model)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer directory (default: learn a BPE from --train)")
    parser.add_argument("--output", default="runs/finetune_lm", help="where the tokenizer, checkpoints and model go")
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16 on CPU, mixed_float16 on GPU")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser.parse_args(argv)


def main(argv=None):
    """Trains and evaluates; returns {"perplexity_before", "perplexity", "loss", "tokens"}."""
    args = parse_args(argv)
    import keras

    from gpt_keras import OpenAIGPTConfig, OpenAIGPTTokenizer, TFOpenAIGPTLMHeadModel, data, evaluation, training
    from gpt_keras.tokenization.bpe_training import train_tokenizer

    keras.utils.set_random_seed(0)
    output = Path(args.output)
    if args.tokenizer:
        tokenizer = OpenAIGPTTokenizer.from_pretrained(args.tokenizer)
    else:
        texts = [line for path in args.train for line in Path(path).read_text(encoding="utf-8").splitlines()]
        tokenizer = train_tokenizer(texts, vocab_size=300, output_dir=output / "tokenizer")

    dtype = training.mixed_precision_policy() if args.mixed_precision else None
    if args.model:
        model = TFOpenAIGPTLMHeadModel.from_pretrained(args.model, dtype=dtype)
    else:
        config = training.paper_config(
            OpenAIGPTConfig(vocab_size=len(tokenizer), n_positions=args.block_size, n_embd=64, n_layer=2, n_head=4)
        )
        model = TFOpenAIGPTLMHeadModel(config, dtype=dtype)

    features = data.causal_lm_features(tokenizer, args.block_size, files=args.train, quiet=args.quiet)
    if args.valid:
        valid = data.causal_lm_features(tokenizer, args.block_size, files=args.valid, quiet=args.quiet)
    else:
        cut = max(1, len(features["input_ids"]) * 9 // 10)
        features, valid = ({k: v[:cut] for k, v in features.items()}, {k: v[cut:] for k, v in features.items()})
        if len(valid["input_ids"]) == 0:
            valid = features
    before = evaluation.perplexity(model, valid)
    training.finetune(
        model,
        features,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        checkpoint_dir=output / "checkpoints",
        save_every_steps=50,
        validation=valid,
        verbose=0 if args.quiet else "auto",
    )
    after = evaluation.perplexity(model, valid)
    model.save_pretrained(output / "model")
    tokenizer.save_pretrained(output / "model")
    if not args.quiet:
        print(f"held-out perplexity: {before['perplexity']:.1f} -> {after['perplexity']:.1f} ({after['tokens']} tokens)", file=sys.stderr)
    return {"perplexity_before": before["perplexity"], **after}


if __name__ == "__main__":
    main()
