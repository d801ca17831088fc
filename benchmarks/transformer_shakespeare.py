"""shakespeare_char: validation loss and wall time of experiments/shakespeare_char.yaml (nanoGPT's
tiny CPU configuration) through the real runner, against nanoGPT's 1.886 in 76 s measured on the
same 2-core machine (the target: loss <= 1.89 in less time).

    python benchmarks/transformer_shakespeare.py                       # torch, 2000 steps
    python benchmarks/transformer_shakespeare.py --backend mlx
    python benchmarks/transformer_shakespeare.py --path /data/tinyshakespeare.txt --steps 200 --no-write

wall_s is the task's own time: reading and encoding the text, 2000 training steps and the 9
evaluations (20 batches of 12 windows each, as nanoGPT's CPU command with eval_iters=20); no
text sample (eval.sample_tokens=0), since nanoGPT's time does not include one either.

Besides the published figure, the table has a baseline trained in the same invocation: nanoGPT's
architecture and training loop retyped in a few lines below (one fused qkv matmul, bias-free
LayerNorm, GELU, tied head, torch.optim.AdamW with decay on matrices only, the same schedule,
clipping, random windows and evaluation windows), so our time can be judged against what that
design does on this machine today, not only against a number measured once.

The table also turns each wall time into the FLOP rate it implies (6 N + 12 L d T per trained
token, a third of that per evaluated token; transformer_train.py's count), next to this
machine's measured fp32 matmul rates, so a reference time can be checked against what the
hardware can do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transformer_train import DOC, command, matmul_peak

from scratchlab.core.bench import write_section
from scratchlab.core.memory import keep_freed_memory

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "shakespeare_char.yaml"
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
REFERENCE = ("nanoGPT (published reference, same machine)", "torch", 2000, 1.886, 76.0, None)
SHAPE = {"n_layers": 4, "d_model": 128, "block": 64, "batch": 12, "vocab": 65,
         "eval_every": 250, "eval_batches": 20}


def work_flops(steps: int, nanogpt: bool = False) -> float:
    """FLOPs of a run: training steps (6 N + 12 L d T per token) plus its evaluations (a third
    per token: forward only). nanoGPT evaluates both splits, we evaluate the val split."""
    L, d, T, B, V = (SHAPE[k] for k in ("n_layers", "d_model", "block", "batch", "vocab"))
    n = L * 12 * d * d + V * d  # blocks (no biases) + the tied embedding / output matrix
    per_token = 6 * n + 12 * L * d * T
    evals = steps // SHAPE["eval_every"] + 1
    eval_tokens = evals * SHAPE["eval_batches"] * B * T * (2 if nanogpt else 1)
    return per_token * (steps * B * T) + per_token / 3 * eval_tokens


def nanogpt_baseline(path: Path, steps: int, seed: int = 0) -> tuple[float, float]:
    """nanoGPT's model and loop for this configuration, retyped: (val loss, wall seconds)."""
    import math

    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from scratchlab.core.data import eval_batches, random_batch, split_document

    wall = time.perf_counter()
    torch.manual_seed(seed)
    L, d, T, B = (SHAPE[k] for k in ("n_layers", "d_model", "block", "batch"))
    H = 4
    text = path.read_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    train_text, val_text = split_document(text, 0.9)
    train_ids = np.array([stoi[c] for c in train_text], dtype=np.int64)
    val_ids = np.array([stoi[c] for c in val_text], dtype=np.int64)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, _ = x.shape
            q, k, v = (z.view(b, t, H, d // H).transpose(1, 2)
                       for z in self.c_attn(self.ln_1(x)).split(d, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(len(chars), d), nn.Embedding(T, d)
            self.h, self.ln_f = nn.ModuleList(Block() for _ in range(L)), nn.LayerNorm(d, bias=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02 / math.sqrt(2 * L) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                    nn.init.normal_(p, 0.0, std)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            return self.ln_f(x) @ self.wte.weight.T

    model = GPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99))

    def lr_at(it: int, warmup: int = 100, lr: float = 1e-3, min_lr: float = 1e-4) -> float:
        if it < warmup:
            return lr * (it + 1) / (warmup + 1)
        ratio = (it - warmup) / max(1, steps - warmup)
        return min_lr + 0.5 * (1 + math.cos(math.pi * min(ratio, 1.0))) * (lr - min_lr)

    @torch.no_grad()
    def val_loss() -> float:
        model.eval()
        losses = [F.cross_entropy(model(torch.from_numpy(x)).flatten(0, 1),
                                  torch.from_numpy(y).flatten()).item()
                  for x, y in eval_batches(val_ids, T, B, SHAPE["eval_batches"])]
        model.train()
        return sum(losses) / len(losses)

    rng = np.random.default_rng(seed)
    loss = val_loss()
    for it in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        x, y = random_batch(train_ids, T, B, rng)
        logits = model(torch.from_numpy(x))
        F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(y).flatten()).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (it + 1) % SHAPE["eval_every"] == 0 or it + 1 == steps:
            loss = val_loss()
    return loss, time.perf_counter() - wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--path", type=Path, default=DEFAULT_TEXT, help="tinyshakespeare.txt")
    p.add_argument("--backend", action="append", default=None, help="torch (default) and/or mlx")
    p.add_argument("--steps", type=int, default=None, help="fewer steps for a quick look")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument("--no-baseline", action="store_true", help="skip the nanoGPT-design baseline")
    p.add_argument("--note", default="", help="a line to print under the table (e.g. the load)")
    args = p.parse_args()
    if not args.path.exists():
        sys.exit(f"no text at {args.path}; give --path /path/to/tinyshakespeare.txt")
    from scratchlab.core.runner import run_sweep
    from scratchlab.core.spec import load_spec

    seeds = [int(x) for x in args.seeds.split(",")]
    overrides = [f"data.dataset.path={args.path}", "eval.sample_tokens=0",
                 f"seeds=[{','.join(map(str, seeds))}]", *args.overrides]
    if args.steps:
        overrides.append(f"train.steps={args.steps}")
    spec = load_spec(SPEC, overrides, args.backend or ["torch"])
    rows = [REFERENCE]
    steps = args.steps or 2000
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # what run-exp does for its runs; the baseline gets it too
    if not args.no_baseline:
        for seed in seeds:
            loss, wall = nanogpt_baseline(args.path, steps, seed)
            rows.append((f"nanoGPT's design, retyped (this run, seed {seed})", "torch", steps,
                         loss, wall, None))
            print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as out:
        sweep = run_sweep(spec, Path(out), threads=args.threads)
        for r in sweep.results:
            if r.status != "ok":
                sys.exit(f"{r.run.backend}: {r.status}: {r.error}")
            m = r.metrics
            rows.append((f"scratchlab lm task, {r.run.variant} (seed {r.run.seed})",
                         r.run.backend, steps, m["val_loss"], m["wall_s"], m["tokens_per_s"]))
            print(rows[-1], flush=True)

    threads = torch.get_num_threads()
    peak_large, peak_small = matmul_peak(2048), matmul_peak(768, 128, 512, repeats=50)
    cmd = command("benchmarks/transformer_shakespeare.py")
    lines = [
        "## shakespeare_char: loss and wall time (transformer_shakespeare)", "",
        "experiments/shakespeare_char.yaml: characters of Tiny Shakespeare, 4 layers, 4 heads, "
        "128 wide, context 64, batch 12, lr 1e-3 warmup 100 + cosine to 1e-4, no dropout; "
        "evaluation every 250 steps on 20 batches. Target: val loss <= 1.89 in less than 76 s.", "",
        "| implementation | backend | steps | val loss | wall s | training tokens/s | "
        "GFLOP/s over the wall time |",
        "|---|---|---|---|---|---|---|",
        *(f"| {n} | {b} | {s} | {v:.3f} | {w:.1f} | {'' if t is None else f'{t:,.0f}'} | "
          f"{work_flops(s, nanogpt=n == REFERENCE[0]) / w / 1e9:.0f} |" for n, b, s, v, w, t in rows),
        "", f"torch {torch.__version__}, {threads} thread(s). This machine's fp32 matmul rate "
        f"with {threads} thread(s): {peak_large / 1e9:.0f} GFLOP/s at 2048x2048x2048, "
        f"{peak_small / 1e9:.0f} GFLOP/s at 768x128x512 (the MLP's shape here). The reference's "
        f"76 s means {work_flops(2000, nanogpt=True) / 76 / 1e9:.0f} GFLOP/s sustained over the "
        "whole run, elementwise work, evaluation and start-up included.",
        "", f"Command: `{cmd.strip()}`",
        *(["", f"Note: {args.note}"] if args.note else []),
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("transformer_shakespeare", table, DOC)


if __name__ == "__main__":
    main()
