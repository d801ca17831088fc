"""Step time of the MoE feed-forward against a dense feed-forward with the same ACTIVE
parameters (forward + backward, CPU), in torch and MLX.

    python benchmarks/moe_layer.py                      # the full measurement
    python benchmarks/moe_layer.py --repeats 3 --no-write  # a quick look

The dense layer is the expert MLP made k times wider (hidden k*h), so a token passes through
exactly as many expert weights in both; the MoE adds the router, the top-k, the dispatch
(sort, gathers) and one matmul per expert instead of one big one. Target: at most 1.5x.
Wall time is the median over repeats; CPU time (process, all threads) is reported too because
on a shared machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
D, H, E, K, TOKENS = 128, 256, 8, 2, 16 * 128  # d_model, expert hidden, experts, top-k, B*T
def layers(backend: str) -> dict[str, Any]:
    """name -> (module, active params)."""
    from scratchlab.moe.config import MoEConfig

    if backend == "torch":
        from scratchlab.moe.torch.experts import MLP
        from scratchlab.moe.torch.moe import MoE
    else:
        from scratchlab.moe.mlx.experts import MLP
        from scratchlab.moe.mlx.moe import MoE
    out = {
        "dense gelu (hidden k*h)": MLP(D, K * H, "gelu"),
        "moe gelu no-drop": MoE(MoEConfig(n_experts=E, top_k=K, hidden=H), D),
        "moe gelu capacity 1.25": MoE(MoEConfig(n_experts=E, top_k=K, hidden=H,
                                                capacity_factor=1.25), D),
        "dense swiglu (hidden (k+1)*h)": MLP(D, (K + 1) * H, "swiglu"),
        "moe swiglu + 1 shared": MoE(MoEConfig(n_experts=E, top_k=K, hidden=H,
                                               activation="swiglu", n_shared=1), D),
    }
    return {name: (m, m.active_params()) for name, m in out.items()}


def step_fn(backend: str, module: Any, x: Any) -> Any:
    if backend == "torch":

        def step() -> None:
            module.zero_grad(set_to_none=True)
            out = module(x)
            y, aux = out if isinstance(out, tuple) else (out, {})
            loss = y.square().mean() + aux.get("aux_loss", 0.0)
            loss.backward()

        return step
    import mlx.core as mx
    import mlx.nn as nn

    def loss_fn(model: Any, x: Any) -> Any:
        out = model(x)
        y, aux = out if isinstance(out, tuple) else (out, {})
        return mx.square(y).mean() + aux.get("aux_loss", 0.0)

    grad = nn.value_and_grad(module, loss_fn)

    def step() -> None:
        mx.eval(grad(module, x))

    return step


def measure(backend: str, repeats: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((16, TOKENS // 16, D)).astype(np.float32)
    if backend == "torch":
        import torch
        x: Any = torch.from_numpy(xs)
    else:
        import mlx.core as mx
        x = mx.array(xs)
    rows, base = [], {}
    for name, (module, active) in layers(backend).items():
        step = step_fn(backend, module, x)
        for _ in range(3):
            step()
        walls, cpus = [], []
        for _ in range(repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            step()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        wall, cpu = statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3
        family = "swiglu" if "swiglu" in name else "gelu"
        if name.startswith("dense"):
            base[family] = (wall, cpu)
        rows.append({"backend": backend, "layer": name, "active": active, "wall_ms": wall,
                     "cpu_ms": cpu, "wall_x": wall / base[family][0],
                     "cpu_x": cpu / base[family][1]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--backends", nargs="+", default=["torch", "mlx"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads and "torch" in args.backends:
        import torch

        torch.set_num_threads(args.threads)
    rows = [r for b in args.backends for r in measure(b, args.repeats)]
    lines = ["| backend | layer | active params | ms / step (wall) | x dense | "
             "ms / step (CPU) | x dense |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['backend']} | {r['layer']} | {r['active']:,} | {r['wall_ms']:.1f} | "
              f"{r['wall_x']:.2f} | {r['cpu_ms']:.1f} | {r['cpu_x']:.2f} |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        import os

        from scratchlab.core.bench import command, load_average, write_section

        body = (f"## MoE layer vs dense at equal active parameters\n\n"
                f"`{command('benchmarks/moe_layer.py')}`: forward + backward "
                f"of one feed-forward on {TOKENS} tokens, d_model {D}, {E} experts of hidden "
                f"{H}, top-{K}; the dense twin has the same active parameters. Median of "
                f"{args.repeats} steps; {os.cpu_count()} CPU cores, load average "
                f"{load_average()} when measured (a shared machine: read the CPU-time "
                f"ratio).\n\n{table}\n")
        write_section("moe_layer", body, DOC)


if __name__ == "__main__":
    main()
