"""MLX matmul with its bundled BLAS vs OpenBLAS preloaded, and torch for reference.

    python benchmarks/core_blas.py

Each measurement runs in a fresh process, because LD_PRELOAD acts at process start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scratchlab.core.bench import command, load_average, write_section
from scratchlab.core.blas import find_openblas

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
PROBE = """
import time, sys
n = int(sys.argv[1]); fw = sys.argv[2]
if fw == "mlx":
    import mlx.core as mx
    a = mx.random.normal((n, n)); b = mx.random.normal((n, n)); mx.eval(a, b)
    run = lambda: mx.eval(a @ b)
else:
    import torch
    a = torch.randn(n, n); b = torch.randn(n, n)
    run = lambda: a @ b
for _ in range(2): run()
best = float("inf")
for _ in range(5):
    t = time.perf_counter(); run(); best = min(best, time.perf_counter() - t)
print(2 * n ** 3 / best / 1e9)
"""


def gflops(n: int, fw: str, preload: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if preload:
        env["LD_PRELOAD"] = preload
    out = subprocess.run([sys.executable, "-c", PROBE, str(n), fw], env=env, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    lib = find_openblas()
    rows = ["| n | MLX bundled BLAS | MLX + OpenBLAS | speed-up | torch |", "|---|---|---|---|---|"]
    for n in (256, 512, 1024):
        bundled = gflops(n, "mlx", None)
        fast = gflops(n, "mlx", lib) if lib else float("nan")
        rows.append(f"| {n} | {bundled:.1f} | {fast:.1f} | {fast / bundled:.0f}x | "
                    f"{gflops(n, 'torch', None):.1f} |")
    body = "\n".join([
        "## MLX matmul on Linux: bundled BLAS vs OpenBLAS (fp32 GFLOP/s, best of 5)", "",
        f"`{command('benchmarks/core_blas.py')}` — OpenBLAS: `{lib or 'not found'}`, "
        f"load average {load_average()} on {os.cpu_count()} cores.", "", *rows])
    print(body)
    write_section("core_blas", body, DOC)


if __name__ == "__main__":
    main()
