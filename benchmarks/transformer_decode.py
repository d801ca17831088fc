"""Decoding speed: tokens per second with and without the KV cache (prompt 512, 256 new tokens,
greedy, batch 1) for our torch and MLX models, and Hugging Face ``generate`` on a
GPT2LMHeadModel holding the same weights (made with ``scratchlab.transformer.to_hf``).

    python benchmarks/transformer_decode.py                      # the full measurement
    python benchmarks/transformer_decode.py --new 32 --no-write  # a quick look

The cached decoders run in ``--rounds`` interleaved rounds and the best time of each is
kept. The model is the 12M-parameter GPT-2-shaped one of the training benchmark (6 layers, 384 wide,
6 heads, learned positions, vocabulary 256) with room for 1024 positions. Every variant
decodes greedily from the same prompt, and the script checks they produce the same tokens.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.bench import write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
VOCAB, MAX_LEN = 256, 1024




def config() -> Any:
    from scratchlab.transformer.config import GPTConfig

    return GPTConfig(d_model=384, n_layers=6, n_heads=6, positional="learned", norm="layernorm",
                     ffn={"name": "mlp", "activation": "gelu_tanh"}, bias=True, tie_weights=True)


class Clock:
    """Wall time of a run and of its first new token (prefill + 1 step)."""

    def __init__(self) -> None:
        self.start = self.first = time.perf_counter()
        self.seen = 0

    def token(self) -> None:
        self.seen += 1
        if self.seen == 1:
            self.first = time.perf_counter()


def timed(fn: Any) -> tuple[list[int], float, float]:
    """(tokens, total seconds, seconds to the first new token); fn(clock) calls clock.token()."""
    clock = Clock()
    out = fn(clock)
    return out, time.perf_counter() - clock.start, clock.first - clock.start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--new", type=int, default=256)
    p.add_argument("--uncached-new", type=int, default=None,
                   help="new tokens for the (slow) uncached runs; default: --new")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the cached runs")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--no-mlx", action="store_true")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = p.parse_args()
    import torch

    from scratchlab.core.backends import torch as tb
    from scratchlab.transformer import to_hf
    from scratchlab.transformer.torch.generate import generate as generate_t
    from scratchlab.transformer.torch.model import GPT as TorchGPT

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = TorchGPT(config(), VOCAB, MAX_LEN).eval()
    weights = tb.state_dict(model)
    prompt = np.random.default_rng(0).integers(0, VOCAB, args.prompt).tolist()
    n_new, n_unc = args.new, args.uncached_new or args.new

    def ours_torch(n: int, cache: bool, clock: Clock | None = None) -> list[int]:
        out = []
        for tok in generate_t(model, prompt, n, temperature=0, use_cache=cache):
            out.append(tok)
            if clock:
                clock.token()
        return out

    hf = to_hf(model)
    ids = torch.tensor([prompt])

    class Streamer:  # HF calls put() with the prompt, then with each new token
        def __init__(self, clock: Clock | None) -> None:
            self.clock, self.calls = clock, 0

        def put(self, value: Any) -> None:
            self.calls += 1
            if self.clock and self.calls > 1:
                self.clock.token()

        def end(self) -> None:
            pass

    def hf_generate(n: int, cache: bool, clock: Clock | None = None) -> list[int]:
        with torch.no_grad():
            out = hf.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                              use_cache=cache, pad_token_id=0, attention_mask=torch.ones_like(ids),
                              streamer=Streamer(clock))
        return out[0, len(prompt):].tolist()

    decoders: list[tuple[str, Any, int, bool]] = [
        ("scratchlab torch, KV cache", ours_torch, n_new, True),
        ("scratchlab torch, no cache", ours_torch, n_unc, False),
        ("HF generate (GPT2LMHeadModel), cache", hf_generate, n_new, True),
        ("HF generate (GPT2LMHeadModel), no cache", hf_generate, n_unc, False),
    ]
    if not args.no_mlx:
        import mlx.core as mx

        from scratchlab.core.backends import mlx as mb
        from scratchlab.transformer.mlx.generate import generate as generate_m
        from scratchlab.transformer.mlx.model import GPT as MlxGPT

        mlx_model = MlxGPT(config(), VOCAB, MAX_LEN)
        mb.load_state_dict(mlx_model, weights)
        mlx_model.eval()
        mx.eval(mlx_model.parameters())

        def ours_mlx(n: int, cache: bool, clock: Clock | None = None) -> list[int]:
            out = []
            for tok in generate_m(mlx_model, prompt, n, temperature=0, use_cache=cache):
                out.append(tok)
                if clock:
                    clock.token()
            return out

        decoders += [("scratchlab MLX, KV cache", ours_mlx, n_new, True),
                     ("scratchlab MLX, no cache", ours_mlx, n_unc, False)]
    for _, fn, _, _ in decoders:
        fn(4, True, None)  # warm up
    # interleaved rounds, best of each: load changes on a shared machine hit every decoder alike
    best: dict[str, tuple[float, float, list[int]]] = {}
    for r in range(args.rounds):
        for name, fn, n, cache in decoders:
            if not cache and r > 0:
                continue  # the uncached runs are slow: one round
            toks, s, first = timed(lambda clock, fn=fn, n=n, cache=cache: fn(n, cache, clock))
            if name not in best or s < best[name][0]:
                best[name] = (s, first, toks)
            print(f"round {r}: {name}: {n / s:.1f} tok/s", file=sys.stderr)
    rows = [(name, n, *best[name]) for name, _, n, _ in decoders]

    ref = rows[0][4]
    lines = [f"Decoding on {torch.get_num_threads()} torch threads, batch 1, greedy, prompt "
             f"{args.prompt} tokens; 12M-parameter GPT-2-shaped model (6 x 384, 6 heads, "
             f"vocabulary {VOCAB}); the same weights everywhere. *tokens/s* counts the whole "
             "run (prefill included); *decode tokens/s* the tokens after the first one.", "",
             "| decoder | new tokens | seconds | tokens/s | first token (s) | decode tokens/s "
             "| decode vs our uncached torch | same tokens |",
             "|---|---:|---:|---:|---:|---:|---:|:---:|"]

    def decode_rate(n: int, s: float, first: float) -> float:
        return (n - 1) / (s - first) if n > 1 and s > first else n / s

    rates = {name: decode_rate(n, s, first) for name, n, s, first, _ in rows}
    base = rates[rows[1][0]]
    for name, n, s, first, toks in rows:
        same = "yes" if toks == ref[:len(toks)] else "no"
        lines.append(f"| {name} | {n} | {s:.2f} | {n / s:.1f} | {first:.2f} | {rates[name]:.1f} "
                     f"| {rates[name] / base:.1f}x | {same} |")
    speedup = rates[rows[0][0]] / base
    vs_hf = rates[rows[0][0]] / rates[rows[2][0]]
    cmd = "python benchmarks/transformer_decode.py " + " ".join(sys.argv[1:])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += ["", f"Decode rate, KV cache vs none (torch): {speedup:.1f}x; ours with cache vs "
              f"HF generate with cache: {vs_hf:.2f}x. Load average when it finished: {load:.1f} on "
              f"{os.cpu_count()} CPUs (a shared machine makes every figure noisy; the ratios, "
              "taken in one run, less so); cached runs: best of "
              f"{args.rounds} interleaved rounds.", "",
              "Uncached runs recompute the whole context every token (cost grows with the "
              "context); with fewer uncached tokens than cached ones, the uncached rate is "
              "measured at shorter contexts and so flatters the uncached side.", "",
              f"Command: `{cmd.strip()}`"]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("transformer_decode", "## Decoding with and without the KV cache\n\n" + table, DOC)


if __name__ == "__main__":
    main()
