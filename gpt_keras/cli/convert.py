"""`gpt-keras convert SRC DST`: any supported checkpoint layout to config.json + model.safetensors."""
import argparse
from pathlib import Path

from gpt_keras.checkpoints.shards import parse_shard_size
from gpt_keras.cli._args import CommandLineError, _positive_int
from gpt_keras.cli._loading import MODEL_CLASSES, _model_class

CONFIG_FIELDS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "afn", "layer_norm_epsilon")


def _shard_size(text):
    try:
        parse_shard_size(int(text) if text.isdigit() else text)
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return int(text) if text.isdigit() else text


def add_parser(subparsers):
    """Declares `gpt-keras convert SRC DST [options]`."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a checkpoint of any supported layout to config.json + model.safetensors",
        description=(
            "Read SRC (a directory with model.safetensors, sharded safetensors, tf_model.h5, pytorch_model.bin "
            "or the original release's params_shapes.json + params_*.npy; a hub cache folder works too), print "
            "what was found, write DST as config.json + model.safetensors and check that DST loads and gives "
            "the same outputs. With several formats in SRC, safetensors is read first, then h5, then bin."
        ),
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="checkpoint directory or weights file")
    parser.add_argument("dst", type=Path, metavar="DST", help="directory to write (replaced atomically)")
    parser.add_argument("--config", type=Path, metavar="CONFIG_JSON", help="config.json to use instead of SRC's")
    parser.add_argument(
        "--n-head", type=_positive_int, metavar="N", help="number of attention heads (the original release: 12)"
    )
    parser.add_argument(
        "--model-class",
        choices=("auto",) + tuple(MODEL_CLASSES),
        default="auto",
        help="model to load into; auto: config.json's architectures, else the LM model",
    )
    parser.add_argument(
        "--max-shard-size", type=_shard_size, metavar="S", help='shard the safetensors, e.g. "2GB" (default: one file)'
    )
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Runs `gpt-keras convert`; returns the exit code (0).

    Raises:
        CommandLineError: SRC or --config does not exist, or DST is SRC.
    """
    if not args.src.exists():
        raise CommandLineError(f"SRC does not exist: {args.src}")
    if args.config is not None and not args.config.is_file():
        raise CommandLineError(f"--config: no such file: {args.config}")
    from gpt_keras import checkpoints
    from gpt_keras.configuration import OpenAIGPTConfig

    directory = checkpoints.resolve_checkpoint_dir(args.src) if args.src.is_dir() else args.src.parent
    if args.dst.exists() and args.dst.resolve() in (args.src.resolve(), directory.resolve()):
        # Saving replaces every weight file of DST: the checkpoint being read among them.
        raise CommandLineError(f"DST must differ from SRC's directory: writing {args.dst} would replace the weights being read")
    fmt = checkpoints.detect_format(args.src)
    print(f"found: {fmt} checkpoint in {directory}")
    config = OpenAIGPTConfig.from_json_file(args.config) if args.config is not None else None
    if config is None and not (directory / "config.json").is_file() and fmt != checkpoints.ORIGINAL_RELEASE:
        raise FileNotFoundError(f"no config.json in {directory}: pass --config CONFIG_JSON")
    model_class = _model_class(args.model_class, config, directory)
    overrides = {} if args.n_head is None else {"n_head": args.n_head}
    model = model_class.from_pretrained(args.src, config=config, **overrides)
    config = model.config
    print("config: " + ", ".join(f"{field}={getattr(config, field)}" for field in CONFIG_FIELDS))
    print(f"model: {model_class.__name__}, {model.count_params():,} parameters")
    _refuse_non_finite_weights(model, args.src)

    info = model.save_pretrained(args.dst, max_shard_size=args.max_shard_size)
    print(f"wrote: {info.directory} ({info.format}: {', '.join(path.name for path in info.files)} + config.json)")
    reloaded = model_class.from_pretrained(info.directory)
    inputs = _probe_inputs(model_class, config)
    difference = _max_output_difference(model(**inputs), reloaded(**inputs))
    if difference != 0.0:
        raise RuntimeError(f"{info.directory} loads but its outputs differ from the source's by {difference:g}")
    print(f"verified: {info.directory} loads as {model_class.__name__} with identical outputs")
    return 0


def _refuse_non_finite_weights(model, source):
    """Raises ValueError naming every tensor that holds NaN or infinity: a converted copy of it would
    load, but give NaN outputs, so nothing is written."""
    import numpy as np

    bad = []
    for name, value in model.get_state_dict().items():
        count = int(value.size - np.isfinite(value).sum())
        if count:
            bad.append(f"{name} ({count} of {value.size} values)")
    if bad:
        raise ValueError(f"{source} holds weights that are NaN or infinite, so nothing was written: {'; '.join(bad)}")


def _probe_inputs(model_class, config):
    import numpy as np

    seq_len = min(8, config.n_positions)
    shape = (2, 2, seq_len) if model_class.input_rank == 3 else (2, seq_len)
    input_ids = np.random.default_rng(0).integers(0, config.vocab_size, shape)
    # Every class takes a mask; sequence classification needs one to find each row's last token.
    return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}


def _max_output_difference(a, b):
    import numpy as np

    if a.keys() != b.keys():
        return float("inf")
    return max(float(np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key])))) for key in a)

