"""Time per optimizer step of scratchlab-optim against the frameworks' built-ins, on the
parameter tensors of a 12M-parameter GPT (6 layers, 384 wide, MLP 1536, vocabulary 2048).

    python benchmarks/optim_step.py                      # the full measurement
    python benchmarks/optim_step.py --reps 3 --no-write  # a quick look

Gradients are fixed random tensors; a step is the optimizer update alone (``opt.step()`` in
torch; ``apply_gradients`` + ``mx.eval`` in MLX). For each optimizer, every implementation is
built first and the timed steps are interleaved (A, B, C, A, B, C, ...) after one warm-up step
each, so that load from other processes hits them alike; each row is the median and the min over
``--reps`` steps of the process CPU time (all threads; robust to waiting for a busy core; the
min, the least disturbed step, is what the ratio compares) and the median wall time. Ours runs with its multi-tensor (``torch._foreach_*``) path and
with its per-tensor reference; torch's built-ins in each implementation that works on this
device: ``foreach=False``, ``foreach=True`` and ``fused=True``. torch.optim.Muon runs
Newton–Schulz in bfloat16 only, so it is timed next to ours with ``ns_dtype: bfloat16`` (by
default only on CUDA: CPUs without bfloat16 matmul units emulate it, ~40 s per step here; pass
``--bf16``); MLX's built-in Muon runs it in float32, like our default. Muon updates the hidden
matrices only, the rest goes to AdamW in both ours and the references (two built-in optimizers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.bench import write_section
from scratchlab.core.blas import preload_env

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
    "adam": {"name": "adam", "lr": 1e-3},
    "adamw": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.1, "decay_min_ndim": 0},
    "lion": {"name": "lion", "lr": 1e-4, "weight_decay": 0.1, "decay_min_ndim": 0},
    "muon + adamw": {"name": "muon", "lr": 0.02, "fallback": {"name": "adamw", "lr": 1e-3,
                                                              "decay_min_ndim": 0}},
    "muon (bf16 NS) + adamw": {"name": "muon", "lr": 0.02, "ns_dtype": "bfloat16",
                               "fallback": {"name": "adamw", "lr": 1e-3, "decay_min_ndim": 0}},
}


def interleaved(steps: dict[str, Any], reps: int,
                sync: Any = lambda: None) -> dict[str, tuple[float, float, float]]:
    """(median CPU ms, min CPU ms, median wall ms) per step of each implementation, their timed
    steps interleaved. The min is the least disturbed step: what the ratios compare."""
    for step in steps.values():  # warm-up: state allocation, first-call overheads
        step()
        sync()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in steps}
    for _ in range(reps):
        for k, step in steps.items():
            c0, t0 = time.process_time(), time.perf_counter()
            step()
            sync()
            times[k].append((time.process_time() - c0, time.perf_counter() - t0))
    return {k: (statistics.median(c for c, _ in ts) * 1e3, min(c for c, _ in ts) * 1e3,
                statistics.median(w for _, w in ts) * 1e3) for k, ts in times.items()}


def is_hidden(name: str, shape: tuple[int, ...]) -> bool:
    return name.startswith("blocks.") and len(shape) == 2


def bench_torch(reps: int, bf16: bool | None, only: list[str]) -> list[tuple[str, str, float, float, float]]:
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

    def split(m: torch.nn.Module) -> tuple[list, list, list]:
        named = list(m.named_parameters())
        return ([p for _, p in named], [p for n, p in named if is_hidden(n, tuple(p.shape))],
                [p for n, p in named if not is_hidden(n, tuple(p.shape))])

    def two(a: Any, b: Any) -> Any:
        def step() -> None:
            a.step()
            b.step()
        return step

    if bf16 is None:  # CPUs without bfloat16 matmul units emulate it: ~40 s per Muon step
        bf16 = dev == "cuda"
    rows = []
    for label, spec in SPECS.items():
        if spec["name"] not in only:
            continue
        if "bf16" in label and not bf16:
            print(f"skip torch {label}: bfloat16 Newton–Schulz on {dev} (pass --bf16 to time it)")
            continue
        steps = {"scratchlab (foreach)": build(optimizer_config(spec), model(), foreach=True).step,
                 "scratchlab (per tensor)": build(optimizer_config(spec), model(), foreach=False).step}
        if spec["name"] in ("adam", "adamw"):  # compile: true (the warm-up step compiles)
            steps["scratchlab (compile: true)"] = build(
                optimizer_config({**spec, "compile": True}), model(), foreach=False).step
        for impl in ("foreach=False", "foreach=True", "fused=True"):
            kw = {impl.split("=")[0]: impl.endswith("True")}
            params, hidden, rest = split(model())
            try:
                if label.startswith("sgd"):
                    steps[f"torch.optim ({impl})"] = torch.optim.SGD(params, lr=0.1, momentum=0.9, **kw).step
                elif label == "adam":
                    steps[f"torch.optim ({impl})"] = torch.optim.Adam(params, lr=1e-3, **kw).step
                elif label == "adamw":
                    steps[f"torch.optim ({impl})"] = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1,
                                                                       **kw).step
                elif "bf16" in label and impl == "foreach=False":  # Muon has one implementation
                    steps["torch.optim (Muon + AdamW)"] = two(
                        torch.optim.Muon(hidden, lr=0.02, weight_decay=0.0),
                        torch.optim.AdamW(rest, lr=1e-3, weight_decay=0.01))
            except (RuntimeError, ValueError) as exc:  # e.g. fused not supported here
                print(f"skip torch {label} {impl}: {exc}")
        for impl, (cpu, cpu_min, wall) in interleaved(steps, reps, sync).items():
            rows.append((label, impl, cpu, cpu_min, wall))
            print("torch", *rows[-1], flush=True)
        del steps
    return rows


def bench_mlx(reps: int, only: list[str]) -> list[tuple[str, str, float, float, float]]:
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
        if "bf16" in label or spec["name"] not in only:
            continue  # MLX's built-in Muon is float32 only
        m = nn.Module()
        for k, v in tree_unflatten(flat).items():
            m[k] = v
        steps = {"scratchlab": runner(build(optimizer_config(spec), m))}
        if label.startswith("sgd"):
            ref = optim.SGD(0.1, momentum=0.9)
        elif label == "adam":
            ref = optim.Adam(1e-3, bias_correction=True)
        elif label == "adamw":
            ref = optim.AdamW(1e-3, weight_decay=0.1, bias_correction=True)
        elif label == "lion":
            ref = optim.Lion(1e-4, weight_decay=0.1)
        else:
            ref = optim.MultiOptimizer(
                [optim.Muon(0.02, weight_decay=0.0), optim.AdamW(1e-3, bias_correction=True)],
                [lambda path, p: is_hidden(path, tuple(p.shape))])
        steps["mlx.optimizers"] = runner(ref)
        for impl, (cpu, cpu_min, wall) in interleaved(steps, reps).items():
            rows.append((label, impl, cpu, cpu_min, wall))
            print("mlx", *rows[-1], flush=True)
    return rows


def table(rows: list[tuple[str, str, str, float, float, float]]) -> str:
    out = ["| backend | optimizer | implementation | CPU ms / step (median) | CPU ms (min) | wall ms (median) "
           "| min CPU time vs fastest built-in |", "|---|---|---|---|---|---|---|"]
    for backend, label, impl, cpu, cpu_min, wall in rows:
        refs = [r[4] for r in rows if r[0] == backend and r[1] == label and not r[2].startswith("scratchlab")]
        ratio = f"{cpu_min / min(refs):.2f}x" if refs else "—"
        out.append(f"| {backend} | {label} | {impl} | {cpu:.1f} | {cpu_min:.1f} | {wall:.1f} | {ratio} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--backend", choices=["torch", "mlx", "both"], default="both")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    ap.add_argument("--mlx-rows", type=Path, help=argparse.SUPPRESS)  # internal: the MLX child
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="time bfloat16 Newton–Schulz (ours and torch.optim.Muon); default: on CUDA")
    ap.add_argument("--only", nargs="+", default=sorted({s["name"] for s in SPECS.values()}),
                    choices=sorted({s["name"] for s in SPECS.values()}), help="optimizers to time")
    args = ap.parse_args()
    n = sum(int(np.prod(s)) for s in shapes().values())
    load_before = os.getloadavg()[0]
    rows = []
    if args.backend in ("torch", "both"):
        rows += [("torch", *r) for r in bench_torch(args.reps, args.bf16, args.only)]
    if args.mlx_rows is not None:  # the child below
        args.mlx_rows.write_text(json.dumps(bench_mlx(args.reps, args.only)))
        return
    if args.backend in ("mlx", "both"):
        # MLX in a child with OpenBLAS preloaded (Muon's GEMMs: the bundled BLAS is ~30x
        # slower), torch here without it (torch's GEMMs would move onto OpenBLAS: core/blas.py)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "mlx.json"
            subprocess.run([sys.executable, __file__, "--reps", str(args.reps), "--only",
                            *args.only, "--mlx-rows", str(out)], env=preload_env(), check=True)
            rows += [("mlx", *r) for r in json.loads(out.read_text())]
    load = max(load_before, os.getloadavg()[0])
    cmd = "python benchmarks/optim_step.py" + (f" --reps {args.reps}" if args.reps != 10 else "") \
        + (f" --backend {args.backend}" if args.backend != "both" else "") \
        + {None: "", True: " --bf16", False: " --no-bf16"}[args.bf16] \
        + (f" --only {' '.join(args.only)}" if set(args.only) != {s["name"] for s in SPECS.values()} else "")
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    body = (f"## Optimizer step time ({n / 1e6:.1f}M parameters, {len(shapes())} tensors)\n\n"
            f"`OMP_NUM_THREADS={threads} {cmd}` on {platform.machine()} {platform.system()}, "
            f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, load average up to {load:.1f}"
            + (" (other work competed: compare the ratios, not the times)" if load >= 1.5 else "")
            + f". Implementations of one optimizer interleaved step by step in one process; median "
            f"and min of {args.reps} steps; the ratio compares the min CPU time; MLX in a child process "
            "with OpenBLAS preloaded, as run-exp runs it. What the multi-tensor path does and "
            "why a CPU `fused=True` kernel stays ahead: [docs/optimisers.md](optimisers.md#speed).\n\n"
            + table(rows))
    print(body)
    if not args.no_write:
        write_section("optim_step", body, DOC)


if __name__ == "__main__":
    main()
