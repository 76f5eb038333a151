"""Prompt-lookup decoding against plain greedy decoding: full-size GPT, batch 1, float32, tokens/s.

Two texts, each timed for both variants interleaved in one process (the order alternates every round)
and reported as medians, since other processes on the machine make single timings noisy:

- "repeats": a prompt whose greedy continuation repeats it (the case prompt lookup is for).
- "never matches": a prompt whose continuation never repeats a token of the text, so that nothing is
  ever drafted (prompt lookup must then cost what plain decoding costs).
- "never continues" (no target, the worst case): every token has been seen before but never followed
  by the token that comes now (a de Bruijn sequence: each pair of tokens once), so every step drafts
  and every draft is rejected: each token costs a verifying pass of k + 1 positions.

The model is the full-size configuration (12 layers, 768 wide, vocabulary 40478) with random weights,
except that its position table is set so that the greedy next token is a chosen function of the
position: a random model's greedy output is one token repeated for ever, whatever the prompt, which
would tell nothing about either case. Writing `alpha * token_embedding[next(p)]` into row p of the
position table (and shrinking the blocks' output projections, so the residual stream keeps it) makes
the tied head pick `next(p)` after position p: a periodic `next` continues a periodic prompt, one of
fresh ids never matches. The network still runs every matmul of every layer at full size, so the
time per forward pass is that of any full-size model.

    python benchmarks/bench_prompt_lookup.py [--repeat 7] [--new 128] [--prompt 32] [--k 10]

Targets (issue 18): >= 1.8x plain greedy on "repeats", >= 0.95x on "never matches".
"""
import argparse
import statistics
import time

import keras
import numpy as np

from gpt_keras import OpenAIGPTConfig, TFOpenAIGPTLMHeadModel
from gpt_keras.decoding.prompt_lookup import MAX_PAUSE
from machine import cpu_description

TARGETS = {"repeats": 1.8, "never matches": 0.95, "never continues": None}
PERIOD = 16
POSITION_SCALE = 4.0  # the position row's weight against the token's own embedding in the residual stream
BLOCK_OUTPUT_SCALE = 0.1


def build_model():
    keras.utils.set_random_seed(0)
    model = TFOpenAIGPTLMHeadModel(OpenAIGPTConfig())
    for block in model.transformer.blocks:
        for layer in (block.attn.c_proj, block.mlp.c_proj):
            layer.kernel.assign(layer.kernel * BLOCK_OUTPUT_SCALE)
    return model


def set_next_tokens(model, next_tokens):
    """Rows p of the position table point the head at `next_tokens[p]` (see the module docstring)."""
    tokens = model.transformer.embeddings.tokens_embed.embeddings.numpy()
    chosen = tokens[np.asarray(next_tokens)]
    scale = POSITION_SCALE * np.linalg.norm(tokens, axis=1).mean() / np.linalg.norm(chosen, axis=1, keepdims=True)
    model.transformer.embeddings.positions_embed.embeddings.assign((chosen * scale).astype(np.float32))


def cases(n_positions, prompt_length, seed=0):
    """{name: (prompt, next token of each position)}."""
    rng = np.random.default_rng(seed)
    pattern = rng.choice(20000, PERIOD, replace=False)
    positions = np.arange(n_positions)
    repeating = (pattern[(positions + 1) % PERIOD], np.tile(pattern, prompt_length // PERIOD + 1)[:prompt_length])
    fresh = (20000 + positions, rng.choice(20000, prompt_length, replace=False))
    alphabet = rng.choice(20000, int(np.ceil(np.sqrt(n_positions))), replace=False)
    pairs_once = alphabet[de_bruijn_pairs(len(alphabet))]
    unlike = (pairs_once[(positions + 1) % len(pairs_once)], pairs_once[:prompt_length])
    return {"repeats": repeating, "never matches": fresh, "never continues": unlike}


def de_bruijn_pairs(size):
    """A cyclic sequence of 0..size-1 holding every ordered pair (repeats included) once: the de Bruijn
    sequence made of the Lyndon words of length 1 and 2 in lexicographic order (a, ab, ac, ..., b, bc, ...)."""
    return np.array([token for a in range(size) for token in [a] + [x for b in range(a + 1, size) for x in (a, b)]])


def drafted_steps(text, prompt_length, k, ngram_size=2):
    """Forward passes prompt lookup needs for `text` (prompt + greedy continuation), by its drafting
    rules redone in numpy (the reference's match, then the pause after rejected drafts): (passes,
    passes that verify a draft, new tokens)."""
    text = list(text)
    generated, passes, verifying, pause, resume_at = 0, 0, 0, 0, 0
    while prompt_length + generated < len(text):
        passes += 1
        length = prompt_length + generated + 1  # the text with the token chosen before drafting
        draft = []
        for size in range(min(ngram_size, length - 1), 0, -1):
            last = text[length - size : length]
            starts = [i for i in range(length - size) if text[i : i + size] == last]
            if starts:
                draft = text[starts[0] + size : min(starts[0] + size + k, length)]
                break
        draft = draft[: len(text) - length] if generated >= resume_at else []
        kept = 0
        while kept < len(draft) and draft[kept] == text[length + kept]:
            kept += 1
        generated += kept + 1
        verifying += bool(draft)
        if draft:
            pause = min(max(2 * pause, 1), MAX_PAUSE) if kept == 0 else 0
            resume_at = generated + pause if kept == 0 else resume_at
    return passes, verifying, len(text) - prompt_length


def timed(function):
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    """Prints the table above; returns its rows for `run.py`'s table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per variant (medians reported)")
    parser.add_argument("--new", type=int, default=128, help="new tokens per call")
    parser.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    parser.add_argument("--k", type=int, default=10, help="prompt_lookup_num_tokens")
    args = parser.parse_args(argv)

    print(f"CPU: {cpu_description()}")
    model = build_model()
    variants = {"greedy": {}, "prompt lookup": {"prompt_lookup_num_tokens": args.k}}
    rows = []
    for name, (next_tokens, prompt) in cases(model.config.n_positions, args.prompt).items():
        set_next_tokens(model, next_tokens)
        # Decoding may keep its own copies of weights (built on the first call): start afresh.
        model.forget_compiled_programs()
        ids = prompt[None].astype(np.int32)
        outputs = {}
        for variant, keywords in variants.items():
            outputs[variant] = model.generate(ids, max_new_tokens=args.new, **keywords).numpy()  # compile, warm up
        expected = np.r_[prompt, next_tokens[args.prompt - 1 : args.prompt - 1 + args.new]]
        if not (outputs["greedy"][0] == expected).all():
            raise RuntimeError(f"{name}: greedy does not follow the position table; the setup is broken")
        same = bool((outputs["greedy"] == outputs["prompt lookup"]).all())
        passes, verifying, tokens = drafted_steps(expected, args.prompt, args.k)
        seconds = {variant: [] for variant in variants}
        for round_index in range(args.repeat):
            order = list(variants) if round_index % 2 == 0 else list(variants)[::-1]
            for variant in order:
                keywords = variants[variant]
                seconds[variant].append(timed(lambda: model.generate(ids, max_new_tokens=args.new, **keywords).numpy()))
        rates = {variant: args.new / statistics.median(wall for wall, _ in times) for variant, times in seconds.items()}
        cpu = {variant: statistics.median(cpu for _, cpu in times) for variant, times in seconds.items()}
        cpu_ratio = cpu["greedy"] / cpu["prompt lookup"]
        rows.append((name, rates["greedy"], rates["prompt lookup"], cpu_ratio, passes, verifying, tokens, same))

    print(f"full-size GPT, float32, batch 1, {args.prompt} -> +{args.new} tokens, k={args.k}, medians of {args.repeat}")
    header = f"{'text':<16} {'greedy tok/s':>12} {'lookup tok/s':>12} {'ratio':>6} {'cpu ratio':>9} {'target':>7}"
    print(f"{header} {'passes':>8} {'verifying':>9} {'same':>5}")
    for name, plain, lookup, cpu_ratio, passes, verifying, tokens, same in rows:
        ratio, target = lookup / plain, TARGETS[name]
        verdict = "" if target is None else "ok" if ratio >= target else "MISSED"
        wanted = "-" if target is None else f">={target}"
        print(
            f"{name:<16} {plain:>12.1f} {lookup:>12.1f} {ratio:>6.2f} {cpu_ratio:>9.2f} {wanted:>7} "
            f"{passes:>4}/{tokens:<3} {verifying:>9} {str(same):>5}  {verdict}"
        )
    print("ratio: of the median wall times; cpu ratio: of the median CPU times of this process (less")
    print("sensitive to other processes); passes: forward passes of prompt lookup / new tokens (greedy: one")
    print("per token), verifying: those that fed a draft; same: prompt lookup's tokens equal greedy's")
    return [
        dict(benchmark="generate, prompt lookup", setting=f"float32 1x {args.prompt}->+{args.new}, k={args.k}, {name}",
             tokens_per_second=lookup, limit=f"{lookup / plain:.2f}x our greedy ({plain:.1f} tok/s)")
        for name, plain, lookup, *_ in rows
    ]


if __name__ == "__main__":
    main()
