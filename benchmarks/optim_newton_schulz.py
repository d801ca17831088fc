"""What a Muon step costs: Newton–Schulz on the matrix shapes of the 12M-parameter GPT of
benchmarks/optim_step.py, ours against the frameworks' own, with the GEMM count that bounds it.

    python benchmarks/optim_newton_schulz.py                      # the full measurement
    python benchmarks/optim_newton_schulz.py --reps 3 --no-write  # a quick look

Each quintic step on an m x n matrix (m <= n after transposing tall ones) is three GEMMs,
A = X X^T (2 m^2 n flops), A A (2 m^3) and B X (2 m^2 n): 5 steps cost 5 (4 m^2 n + 2 m^3).
GFLOP/s below is that count over the measured CPU time, next to one plain m x n x m GEMM
(the machine's matmul rate). Implementations of one shape are interleaved in one process;
medians of ``--reps`` calls. torch.optim.Muon's Newton–Schulz is bfloat16-only, so it is timed
against ours in bfloat16 (emulated on CPUs without bfloat16 matmul units: slow, and
``--no-bf16`` skips it).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from optim_step import interleaved

from scratchlab.core.bench import write_section

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SHAPES = {"attention q/k/v/o (x24)": (384, 384), "MLP fc (x6, tall)": (1536, 384),
          "MLP proj (x6)": (384, 1536)}
COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def ns_flops(shape: tuple[int, int], steps: int = 5) -> float:
    m, n = sorted(shape)
    return steps * (4 * m * m * n + 2 * m**3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = ap.parse_args()

    import mlx.core as mx
    import mlx.optimizers as optim
    import torch
    from torch.optim._muon import _zeropower_via_newtonschulz as torch_ns

    from scratchlab.optim.mlx.optimizers import zeropower_via_newtonschulz as mlx_ours
    from scratchlab.optim.torch.optimizers import zeropower_via_newtonschulz as torch_ours

    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    builtin_mlx = optim.Muon(0.02)
    rows = []
    for label, shape in SHAPES.items():
        G = rng.standard_normal(shape).astype(np.float32)
        Gt, Gm = torch.from_numpy(G), mx.array(G)
        m, n = sorted(shape)
        a, b = torch.randn(m, n), torch.randn(n, m)
        steps: dict[str, Any] = {
            "torch GEMM m x n x m (one)": lambda a=a, b=b: a @ b,
            "torch, ours (fp32)": lambda Gt=Gt: torch_ours(Gt),
            "mlx, ours (fp32)": lambda Gm=Gm: mx.eval(mlx_ours(Gm)),
            "mlx.optimizers.Muon (fp32)": lambda Gm=Gm: mx.eval(builtin_mlx._zeropower_via_newtonschulz5(Gm, 5)),
        }
        if args.bf16:
            steps["torch, ours (bf16)"] = lambda Gt=Gt: torch_ours(Gt, dtype=torch.bfloat16)
            steps["torch.optim.Muon (bf16)"] = lambda Gt=Gt: torch_ns(Gt, COEFFICIENTS, 5, 1e-7)
        for impl, (cpu, wall) in interleaved(steps, args.reps).items():
            flops = 2 * m * n * m if impl.startswith("torch GEMM") else ns_flops(shape)
            rows.append((label, impl, cpu, wall, flops / cpu / 1e6))
            print(*rows[-1], flush=True)
    load = max(load_before, os.getloadavg()[0])
    cmd = "python benchmarks/optim_newton_schulz.py" + (f" --reps {args.reps}" if args.reps != 5 else "") \
        + ("" if args.bf16 else " --no-bf16")
    out = ["| matrix | implementation | CPU ms | wall ms | GFLOP/s (CPU time) |", "|---|---|---|---|---|"]
    out += [f"| {lab} {'x'.join(map(str, SHAPES[lab]))} | {impl} | {cpu:.1f} | {wall:.1f} | {gf:.0f} |"
            for lab, impl, cpu, wall, gf in rows]
    total = sum(k * ns_flops(s) for k, s in [(24, (384, 384)), (6, (1536, 384)), (6, (384, 1536))])
    body = (f"## Muon's Newton–Schulz: cost per matrix (optim_newton_schulz)\n\n"
            f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'default')} {cmd}` on "
            f"{platform.machine()} {platform.system()}, {time.strftime('%Y-%m-%d')}, "
            f"{os.cpu_count()} CPUs, load average up to {load:.1f}"
            + (" (other work competed: compare the ratios, not the times)" if load >= 1.5 else "")
            + f". 5 quintic steps; a whole Muon step of the 12M GPT is {total / 1e9:.0f} GFLOP of "
            "GEMMs. See [docs/optimisers.md](optimisers.md#speed).\n\n" + "\n".join(out))
    print(body)
    if not args.no_write:
        write_section("optim_newton_schulz", body, DOC)


if __name__ == "__main__":
    main()
