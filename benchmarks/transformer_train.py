"""Training throughput of the 12M-parameter GPT (6 layers, 384 wide, 6 heads, context 256,
batch 8) on this machine's CPU: our torch model, our MLX model (eager and mx.compile), and
Hugging Face's GPT2LMHeadModel of the same shape, all trained by the same loop (the lm task's
loss, core's TrainStep with clipping at 1.0, the registry's AdamW), as tokens per second and as
a fraction of the measured fp32 matmul peak.

    python benchmarks/transformer_train.py                 # 10 timed steps each
    python benchmarks/transformer_train.py --steps 3 --no-write

FLOPs per token = 6 N + 12 L d T (N: parameters without the position table; the attention
term counts QK^T and AV, forward and backward), as in PaLM's appendix B and nanoGPT's MFU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.bench import write_section
from scratchlab.core.blas import preload_env
from scratchlab.core.memory import keep_freed_memory

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SHAPE = {"n_layers": 6, "d_model": 384, "n_heads": 6}
CONTEXT, BATCH, VOCAB = 256, 8, 256




def command(script: str) -> str:
    """The command line that made the table (without --note and its text)."""
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip or a == "--note":
            skip = not skip
            continue
        if not a.startswith("--note="):
            argv.append(a)
    return shlex.join(["python", script, *argv])


def matmul_peak(m: int = 2048, k: int | None = None, n: int | None = None,
                repeats: int = 5) -> float:
    """The best fp32 FLOP/s of one (m, k) @ (k, n) product in torch (2 m k n FLOPs); square by
    default."""
    import torch

    k, n = k or m, n or m
    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tic)
    return 2 * m * k * n / best


def flops_per_token(n_params: int, n_pos: int) -> float:
    L, d, T = SHAPE["n_layers"], SHAPE["d_model"], CONTEXT
    return 6 * (n_params - n_pos) + 12 * L * d * T


def time_steps(step: Callable[[np.ndarray, np.ndarray], None], warmup: int, steps: int) -> list[float]:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB, 200_000).astype(np.int64)
    from scratchlab.core.data import random_batch

    times = []
    for i in range(warmup + steps):
        x, y = random_batch(ids, CONTEXT, BATCH, rng)
        tic = time.perf_counter()
        step(x, y)
        if i >= warmup:
            times.append(time.perf_counter() - tic)
    return times


def adamw() -> Any:
    from scratchlab.core.config import resolve_choice

    return resolve_choice("optimizer", {"name": "adamw", "lr": 3e-4, "weight_decay": 0.1})


def build_ours(backend_name: str, fused: bool = True) -> Any:
    """Our GPT of the benchmark's shape (GPT-2 layout: learned positions, biases, tied head)."""
    from scratchlab.core.config import resolve_choice

    model = resolve_choice("model", {"name": "gpt", **SHAPE, "dropout": 0.0, "bias": True,
                                     "positional": "learned", "tie_weights": True,
                                     "attention": {"name": "causal", "fused": fused}})
    return model.build(backend_name, VOCAB, CONTEXT)


def torch_ours() -> tuple[Callable[..., None], int, int]:
    import torch

    from scratchlab.core.backends import torch as backend
    from scratchlab.transformer.lm.torch import make_loss_fn

    model = build_ours("torch")
    step_fn = backend.TrainStep(model, make_loss_fn(model.forward_aux, "cpu", "float32"),
                                adamw().build("torch", model), 1.0)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        _, aux = step_fn(torch.from_numpy(x), torch.from_numpy(y))
        aux["train_loss"].item()

    return step, backend.count_params(model), model.wpe.weight.numel() if hasattr(model, "wpe") else 0


def torch_hf() -> tuple[Callable[..., None], int, int]:
    import torch
    import torch.nn.functional as F
    from transformers import GPT2Config, GPT2LMHeadModel

    from scratchlab.core.backends import torch as backend

    hf = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=SHAPE["d_model"],
                                    n_layer=SHAPE["n_layers"], n_head=SHAPE["n_heads"],
                                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))

    def loss_fn(model: Any, x: torch.Tensor, y: torch.Tensor) -> Any:
        logits = model(x).logits
        ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        return ce, {"train_loss": ce.detach()}

    step_fn = backend.TrainStep(hf, loss_fn, adamw().build("torch", hf), 1.0)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        _, aux = step_fn(torch.from_numpy(x), torch.from_numpy(y))
        aux["train_loss"].item()

    return step, backend.count_params(hf), hf.transformer.wpe.weight.numel()


def mlx_ours(compile: bool, fused: bool = True) -> Callable[[], tuple[Callable[..., None], int, int]]:
    def make() -> tuple[Callable[..., None], int, int]:
        import mlx.core as mx

        from scratchlab.core.backends import mlx as backend
        from scratchlab.transformer.lm.mlx import make_loss_fn

        model = build_ours("mlx", fused)
        mx.eval(model.parameters())
        step_fn = backend.TrainStep(model, make_loss_fn(model.forward_aux),
                                    adamw().build("mlx", model), 1.0, compile=compile)

        def step(x: np.ndarray, y: np.ndarray) -> None:
            _, aux = step_fn(mx.array(x), mx.array(y))
            aux["train_loss"].item()

        return step, backend.count_params(model), model.wpe.weight.size if hasattr(model, "wpe") else 0

    return make


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    p.add_argument("--note", default="", help="a line to print under the table (e.g. the load)")
    p.add_argument("--mlx-rows", type=Path, help=argparse.SUPPRESS)  # internal: child process
    p.add_argument("--peak", type=float, help=argparse.SUPPRESS)  # internal: the parent's peak
    args = p.parse_args()
    keep_freed_memory()  # as run-exp does for every run (core/memory.py), for every row alike
    import torch

    peak = args.peak or matmul_peak()
    impls: dict[str, Callable[[], tuple[Callable[..., None], int, int]]] = {}
    if args.mlx_rows is None:
        impls = {"scratchlab torch": torch_ours, "HF GPT2LMHeadModel (torch)": torch_hf}
    elif importlib.util.find_spec("mlx") is not None:
        # on a CPU the explicit attention path (fastmath.softmax, fused by mx.compile) beats
        # mx.fast.scaled_dot_product_attention, whose softmax uses MLX's scalar exp
        impls = {"scratchlab MLX": mlx_ours(False), "scratchlab MLX, mx.compile": mlx_ours(True),
                 "scratchlab MLX, explicit attention, mx.compile": mlx_ours(True, fused=False)}
    rows = []
    for name, make in impls.items():
        step, n_params, n_pos = make()
        times = time_steps(step, args.warmup, args.steps)
        med = statistics.median(times)
        tps = BATCH * CONTEXT / med
        mfu = tps * flops_per_token(n_params, n_pos) / peak
        rows.append((name, n_params, tps, med * 1e3, mfu))
        print(f"{name}: {tps:,.0f} tokens/s ({med * 1e3:.0f} ms/step), {100 * mfu:.1f}% of peak",
              flush=True)
    if args.mlx_rows is not None:
        args.mlx_rows.write_text(json.dumps(rows))
        return
    # MLX in a child with OpenBLAS preloaded (its bundled BLAS is 30x slower), torch here
    # without it (torch's GEMMs would move onto OpenBLAS's threads: core/blas.py)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mlx.json"
        subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--warmup",
                        str(args.warmup), "--mlx-rows", str(out), "--peak", str(peak)],
                       env=preload_env(), check=True)
        rows += [tuple(r) for r in json.loads(out.read_text())]
    cmd = command("benchmarks/transformer_train.py")
    lines = [
        "## Training throughput: 12M GPT on CPU (transformer_train)", "",
        f"6 layers, 384 wide, 6 heads, context {CONTEXT}, batch {BATCH}, vocabulary {VOCAB}, "
        f"fp32; AdamW, clipping 1.0; median of {args.steps} steps after {args.warmup} warm-up "
        f"steps. Measured fp32 matmul peak (torch, 2048x2048): {peak / 1e9:.0f} GFLOP/s; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs.", "",
        "| implementation | parameters | tokens/s | ms/step | % of fp32 peak |",
        "|---|---|---|---|---|",
        *(f"| {n} | {p / 1e6:.2f}M | {t:,.0f} | {ms:.0f} | {100 * m:.1f}% |"
          for n, p, t, ms, m in rows),
        "", f"Command: `{cmd.strip()}`",
        *(["", f"Note: {args.note}"] if args.note else []),
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("transformer_train", table, DOC)


if __name__ == "__main__":
    main()
