"""`gpt-keras generate MODEL_DIR [PROMPT ...]`: continue prompts with an LM checkpoint, one prompt streamed."""
import logging
import sys
from pathlib import Path

from gpt_keras.cli._args import _existing_dir, _generation_option, _texts_from
from gpt_keras.cli._loading import _add_tokenizer_option, _tokenizer_and_model


def add_parser(subparsers):
    """Declares `gpt-keras generate MODEL_DIR [PROMPT ...] [options]`."""
    parser = subparsers.add_parser(
        "generate",
        help="continue text prompts with an LM checkpoint (streamed for one prompt)",
        description=(
            "Continue each PROMPT (or each non-empty line of stdin) with the LM in MODEL_DIR, on the "
            "XLA-compiled cached generation. With one prompt the text is streamed as it is produced; "
            "several prompts are generated as one batch, one output per line. Greedy unless --do-sample "
            "or --num-beams."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="checkpoint directory with an LM head")
    parser.add_argument("prompts", nargs="*", metavar="PROMPT", help="prompts (default: one per line of stdin)")
    _add_tokenizer_option(parser)
    parser.add_argument("--max-new-tokens", type=_generation_option("max_new_tokens"), default=40, metavar="N", help="tokens to add (default 40)")
    parser.add_argument("--do-sample", action="store_true", help="sample instead of taking the most likely token")
    parser.add_argument("--temperature", type=_generation_option("temperature"), default=1.0, metavar="T", help="sampling temperature")
    parser.add_argument("--top-k", type=_generation_option("top_k"), default=0, metavar="K", help="sample among the K likeliest (0: all)")
    parser.add_argument("--top-p", type=_generation_option("top_p"), default=1.0, metavar="P", help="nucleus sampling mass (1: off)")
    parser.add_argument("--num-beams", type=_generation_option("num_beams"), default=1, metavar="N", help="beam search with N beams")
    parser.add_argument("--seed", type=int, metavar="N", help="seed of sampling (same seed, same text)")
    parser.add_argument("--no-stream", action="store_true", help="print the text when it is complete")
    parser.set_defaults(run=run, log_level=logging.WARNING)
    return parser


def run(args):
    """Runs `gpt-keras generate`: prints each prompt followed by its continuation; returns the exit code (0)."""
    _existing_dir(args.model_dir, "MODEL_DIR")
    prompts = _texts_from(args.prompts, "prompt")
    tokenizer, model = _tokenizer_and_model(args, "lm")
    options = dict(
        max_new_tokens=args.max_new_tokens,
        do_sample=args.do_sample,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        num_beams=args.num_beams,
        seed=args.seed,
    )
    if len(prompts) == 1 and not args.no_stream and args.num_beams == 1:
        # The decoded continuation starts a new word, as after any word of the prompt.
        sys.stdout.write(prompts[0])
        sys.stdout.flush()
        separator = " "
        for piece in model.stream_text(tokenizer, prompts[0], **options):
            sys.stdout.write(separator + piece)
            sys.stdout.flush()
            separator = ""
        sys.stdout.write("\n")
        return 0
    continuations = model.generate_text(tokenizer, prompts, **options)
    for prompt, continuation in zip(prompts, continuations):
        print(f"{prompt} {continuation}" if continuation else prompt)
    return 0
