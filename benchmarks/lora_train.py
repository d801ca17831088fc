"""Training cost of full fine-tuning vs LoRA: time per step and the memory of what training
holds per parameter (weights, gradients, AdamW's two moments), and the inference cost of an
unmerged adapter vs the merged model, in torch and MLX.

    python benchmarks/lora_train.py                       # the full measurement
    python benchmarks/lora_train.py --steps 3 --no-write  # a quick look

The model is a GPT of 4 layers, 256 wide, 4 heads, GELU MLP, RoPE, vocabulary 256, trained on
batches of 16 x 128 random tokens with AdamW. "state MB" counts the float32 weights, plus the
gradients and the two AdamW moments of the trainable parameters only; on CUDA the peak
allocated memory is measured too. Activations are the same for every variant.

"peak MB" is measured, each variant in a fresh process: on CUDA the allocator's peak, on the
CPU how far the process's peak resident memory rose above its resident memory before the
model was built, i.e. the model, its training state, activations and the framework's
workspace.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.bench import write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
VOCAB, T, B = 256, 128, 16
VARIANTS = {  # name -> LoRA settings (None: full fine-tuning)
    "full": None,
    "lora r=8 attn.q,attn.v": {"r": 8, "alpha": 16, "target_modules": ["attn.q", "attn.v"]},
    "lora r=16 attn+mlp": {"r": 16, "alpha": 32, "target_modules": ["attn.*", "mlp.*"]},
}




def build(backend: str, lora: dict[str, Any] | None) -> Any:
    from scratchlab.core.config import resolve_choice

    model = resolve_choice("model", {"name": "gpt", "d_model": 256, "n_layers": 4, "n_heads": 4,
                                     "positional": "rope"}).build(backend, VOCAB, T)
    if lora is not None:
        model = resolve_choice("adapter", {"name": "lora", **lora}).build(backend, model)
    return model


def bench(backend: str, lora: dict[str, Any] | None, steps: int) -> dict[str, float]:
    import gc

    from scratchlab.core.backends import get_backend
    from scratchlab.core.config import resolve_choice
    from scratchlab.core.memory import keep_freed_memory, reset_peak_rss

    keep_freed_memory()  # as run-exp does for every run (core/memory.py)
    be = get_backend(backend)
    be.seed(0)
    device = be.device("auto")
    gc.collect()
    start_mb = rss_mb() if device == "cpu" else 0.0  # accelerators: the allocator peak itself
    reset_peak_rss()
    model = build(backend, lora)
    if backend == "torch":
        model = model.to(device)
    opt = resolve_choice("optimizer", {"name": "adamw", "lr": 1e-3}).build(backend, model)
    rng = np.random.default_rng(0)
    batch = [be.from_numpy(rng.integers(0, VOCAB, (B, T + 1)).astype(np.int32 if backend == "mlx" else np.int64), device)]
    x, y = batch[0][:, :-1], batch[0][:, 1:]
    if backend == "torch":
        import torch
        import torch.nn.functional as F

        def loss_fn(m: Any, x: Any, y: Any) -> Any:
            return F.cross_entropy(m(x).flatten(0, 1), y.flatten())

        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        be.reset_peak_memory(device)
    else:
        import mlx.nn as nn

        def loss_fn(m: Any, x: Any, y: Any) -> Any:
            return nn.losses.cross_entropy(m(x), y, reduction="mean")

        sync = lambda: None  # noqa: E731  (TrainStep evaluates)
    step = be.TrainStep(model, loss_fn, opt)
    step(x, y)  # warm-up
    sync()
    tic = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    sync()
    train_ms = 1000 * (time.perf_counter() - tic) / steps
    total, trainable = be.count_params(model), be.count_params(model, trainable_only=True)
    out = {"params_trainable": trainable, "trainable_pct": 100 * trainable / total,
           "state_mb": 4 * (total + 3 * trainable) / 2**20, "train_ms": train_ms}
    out["peak_mb"] = be.peak_memory_mb(device) - start_mb
    if lora is not None:
        adapter = importlib.import_module(f"scratchlab.lora.{backend}.adapter")
        out["infer_ms"] = infer_ms(backend, model, x, steps)
        adapter.merge(model)
        out["merged_ms"] = infer_ms(backend, model, x, steps)
    else:
        out["infer_ms"] = out["merged_ms"] = infer_ms(backend, model, x, steps)
    return out


def bench_isolated(backend: str, lora: dict[str, Any] | None, steps: int) -> dict[str, float]:
    """``bench`` in a fresh process: the allocator of an earlier variant keeps memory it freed,
    which would hide the next variant's peak."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(bench, backend, lora, steps).result()


def rss_mb() -> float:
    """The process's resident memory now (MiB; 0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def infer_ms(backend: str, model: Any, x: Any, steps: int) -> float:
    if backend == "torch":
        import torch

        model.eval()
        with torch.no_grad():
            model(x)
            tic = time.perf_counter()
            for _ in range(steps):
                model(x)
            if x.is_cuda:
                torch.cuda.synchronize()
    else:
        import mlx.core as mx

        mx.eval(model(x))
        tic = time.perf_counter()
        for _ in range(steps):
            mx.eval(model(x))
    return 1000 * (time.perf_counter() - tic) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--backends", nargs="+", default=["torch", "mlx"])
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = p.parse_args()
    rows = []
    for backend in args.backends:
        for name, lora in VARIANTS.items():
            r = bench_isolated(backend, lora, args.steps)
            peak = f"{r['peak_mb']:.0f}"
            rows.append(f"| {backend} | {name} | {r['params_trainable']:,} | "
                        f"{r['trainable_pct']:.2f} | {r['state_mb']:.1f} | {peak} | "
                        f"{r['train_ms']:.0f} | {r['infer_ms']:.0f} | {r['merged_ms']:.0f} |")
            print(rows[-1], flush=True)
    import os
    import platform

    threads = os.environ.get("OMP_NUM_THREADS")
    env = f"OMP_NUM_THREADS={threads} " if threads else ""
    body = "\n".join([
        "## LoRA vs full fine-tuning: training step and inference",
        "",
        f"`{env}python benchmarks/lora_train.py --steps {args.steps}` on {platform.machine()} "
        f"({platform.system()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at "
        f"the end: a shared machine makes times noisy); GPT 4 x 256, batch {B} x {T}, AdamW. "
        "state MB = float32 "
        "weights + gradients and AdamW moments of the trainable parameters; infer = forward "
        "with the adapter unmerged, merged = after `merge` (the base's cost); peak MB = measured "
        "(CUDA: allocator peak; CPU: rise of the process's peak resident memory during the "
        "variant).",
        "",
        "| backend | variant | trainable | trainable % | state MB | peak MB | train ms/step "
        "| infer ms | merged ms |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("lora_train", body, DOC)


if __name__ == "__main__":
    main()
