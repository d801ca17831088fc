"""Time per optimizer step of scratchlab-optim against the frameworks' built-ins, on the
parameter tensors of a 12M-parameter GPT (6 layers, 384 wide, MLP 1536, vocabulary 2048).

    python benchmarks/optim_step.py                      # the full measurement
    python benchmarks/optim_step.py --reps 3 --no-write  # a quick look

Gradients are fixed random tensors; a step is the optimizer update alone (``opt.step()`` in
torch; ``apply_gradients`` + ``mx.eval`` in MLX). Each row is the median over ``--reps`` timed
steps after 1 warm-up step. torch's references run in each of their implementations that work
on this device: ``foreach=False`` (per tensor, like ours), ``foreach=True`` and ``fused=True``.
torch.optim.Muon runs Newton–Schulz in bfloat16, so ours is timed with ``ns_dtype: bfloat16``
next to it (by default only on CUDA: CPUs without bfloat16 matmul units emulate it, minutes per
step at this size); MLX's built-in Muon runs it in float32, like our default. Muon updates the hidden matrices only, the
rest goes to AdamW in both ours and the references (two built-in optimizers).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.bench import write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
D, LAYERS, VOCAB, CTX = 384, 6, 2048, 256


def shapes() -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {"wte.weight": (VOCAB, D), "wpe.weight": (CTX, D)}
    for i in range(LAYERS):
        b = f"blocks.{i}."
        out.update({b + "ln_1.weight": (D,), b + "ln_1.bias": (D,), b + "ln_2.weight": (D,),
                    b + "ln_2.bias": (D,), b + "mlp.fc.weight": (4 * D, D),
                    b + "mlp.proj.weight": (D, 4 * D)})
        out.update({b + f"attn.{x}.weight": (D, D) for x in "qkvo"})
    out.update({"ln_f.weight": (D,), "ln_f.bias": (D,), "lm_head.weight": (VOCAB, D)})
    return out


SPECS: dict[str, dict[str, Any]] = {
    "sgd (momentum 0.9)": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
    "adamw": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.1, "decay_min_ndim": 0},
    "lion": {"name": "lion", "lr": 1e-4, "weight_decay": 0.1, "decay_min_ndim": 0},
    "muon + adamw": {"name": "muon", "lr": 0.02, "fallback": {"name": "adamw", "lr": 1e-3,
                                                              "decay_min_ndim": 0}},
    "muon (bf16 NS) + adamw": {"name": "muon", "lr": 0.02, "ns_dtype": "bfloat16",
                               "fallback": {"name": "adamw", "lr": 1e-3, "decay_min_ndim": 0}},
}


def median_time(step: Any, reps: int, sync: Any = lambda: None) -> float:
    step()  # warm-up: state allocation, first-call overheads
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    return ms


def is_hidden(name: str, shape: tuple[int, ...]) -> bool:
    return name.startswith("blocks.") and len(shape) == 2


def bench_torch(reps: int, bf16: bool | None) -> list[tuple[str, str, float]]:
    import torch

    from scratchlab.optim.config import optimizer_config
    from scratchlab.optim.torch.optimizers import build

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    arrays = {n: rng.standard_normal(s).astype(np.float32) * 0.02 for n, s in shapes().items()}

    def model() -> torch.nn.Module:
        m = torch.nn.Module()
        for n, a in arrays.items():
            mod = m
            *path, leaf = n.split(".")
            for part in path:
                if not hasattr(mod, part):
                    mod.add_module(part, torch.nn.Module())
                mod = getattr(mod, part)
            p = torch.nn.Parameter(torch.from_numpy(a.copy()).to(dev))
            p.grad = torch.randn_like(p)
            mod.register_parameter(leaf, p)
        return m

    if bf16 is None:  # CPUs without bfloat16 matmul units emulate it: minutes per Muon step
        bf16 = dev == "cuda"
    rows = []
    for label, spec in SPECS.items():
        if "bf16" in label and not bf16:
            print(f"skip torch {label}: bfloat16 Newton–Schulz on {dev} (pass --bf16 to time it)")
            continue
        m = model()
        rows.append((label, "scratchlab", median_time(build(optimizer_config(spec), m).step, reps, sync)))
        print("torch", *rows[-1], flush=True)
        named = list(m.named_parameters())
        params = [p for _, p in named]
        hidden = [p for n, p in named if is_hidden(n, tuple(p.shape))]
        rest = [p for n, p in named if not is_hidden(n, tuple(p.shape))]
        for impl in ("foreach=False", "foreach=True", "fused=True"):
            kw = {impl.split("=")[0]: impl.endswith("True")}
            try:
                if label.startswith("sgd"):
                    ref = torch.optim.SGD(params, lr=0.1, momentum=0.9, **kw)
                    step = ref.step
                elif label == "adamw":
                    step = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1, **kw).step
                elif "bf16" in label:
                    if impl != "foreach=False":
                        continue  # torch.optim.Muon has one implementation
                    muon = torch.optim.Muon(hidden, lr=0.02, weight_decay=0.0)
                    adamw = torch.optim.AdamW(rest, lr=1e-3, weight_decay=0.01)

                    def step(muon: Any = muon, adamw: Any = adamw) -> None:
                        muon.step()
                        adamw.step()
                else:
                    continue  # no built-in Lion; fp32-NS Muon has no built-in twin in torch
                rows.append((label, f"torch.optim ({impl})", median_time(step, reps, sync)))
                print("torch", *rows[-1], flush=True)
            except (RuntimeError, ValueError) as exc:  # e.g. fused not supported here
                print(f"skip torch {label} {impl}: {exc}")
    return rows


def bench_mlx(reps: int) -> list[tuple[str, str, float]]:
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_unflatten

    from scratchlab.optim.config import optimizer_config
    from scratchlab.optim.mlx.optimizers import build

    rng = np.random.default_rng(0)
    flat = [(n, mx.array(rng.standard_normal(s).astype(np.float32) * 0.02)) for n, s in shapes().items()]
    grads = tree_unflatten([(n, mx.array(rng.standard_normal(a.shape).astype(np.float32))) for n, a in flat])

    def runner(opt: Any) -> Any:
        params = {"tree": tree_unflatten(flat)}

        def step() -> None:
            params["tree"] = opt.apply_gradients(grads, params["tree"])
            mx.eval(params["tree"], opt.state)
        return step

    rows = []
    for label, spec in SPECS.items():
        if "bf16" in label:
            continue  # MLX's built-in Muon is float32 only
        m = nn.Module()
        for k, v in tree_unflatten(flat).items():
            m[k] = v
        rows.append((label, "scratchlab", median_time(runner(build(optimizer_config(spec), m)), reps)))
        print("mlx", *rows[-1], flush=True)
        if label.startswith("sgd"):
            ref = optim.SGD(0.1, momentum=0.9)
        elif label == "adamw":
            ref = optim.AdamW(1e-3, weight_decay=0.1, bias_correction=True)
        elif label == "lion":
            ref = optim.Lion(1e-4, weight_decay=0.1)
        elif label == "muon + adamw":
            ref = optim.MultiOptimizer(
                [optim.Muon(0.02, weight_decay=0.0), optim.AdamW(1e-3, bias_correction=True)],
                [lambda path, p: is_hidden(path, tuple(p.shape))])
        else:
            continue
        rows.append((label, "mlx.optimizers", median_time(runner(ref), reps)))
        print("mlx", *rows[-1], flush=True)
    return rows


def table(rows: list[tuple[str, str, str, float]]) -> str:
    out = ["| backend | optimizer | implementation | ms / step | vs fastest built-in |",
           "|---|---|---|---|---|"]
    for backend, label, impl, ms in rows:
        refs = [r[3] for r in rows if r[0] == backend and r[1] == label and r[2] != "scratchlab"]
        ratio = f"{ms / min(refs):.2f}x" if refs else "—"
        out.append(f"| {backend} | {label} | {impl} | {ms:.1f} | {ratio} |")
    return "\n".join(out)




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--backend", choices=["torch", "mlx", "both"], default="both")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="time bfloat16 Newton–Schulz (ours and torch.optim.Muon); default: on CUDA")
    args = ap.parse_args()
    n = sum(int(np.prod(s)) for s in shapes().values())
    rows = []
    if args.backend in ("torch", "both"):
        rows += [("torch", *r) for r in bench_torch(args.reps, args.bf16)]
    if args.backend in ("mlx", "both"):
        rows += [("mlx", *r) for r in bench_mlx(args.reps)]
    import os
    import platform

    cmd = "python benchmarks/optim_step.py" + (f" --reps {args.reps}" if args.reps != 10 else "") \
        + (f" --backend {args.backend}" if args.backend != "both" else "")
    body = (f"## Optimizer step time ({n / 1e6:.1f}M parameters, {len(shapes())} tensors)\n\n"
            f"`{cmd}` on {platform.machine()} {platform.system()}, "
            f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs at load average "
            f"{os.getloadavg()[0]:.0f} (at or above the CPU count, other work competes and single "
            f"timings vary several-fold: compare on an idle machine). Median of {args.reps} "
            "steps; see "
            "[docs/optimisers.md](optimisers.md).\n\n" + table(rows))
    print(body)
    if not args.no_write:
        write_section("optim_step", body, DOC)


if __name__ == "__main__":
    main()
