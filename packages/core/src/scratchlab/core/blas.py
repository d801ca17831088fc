"""OpenBLAS for MLX on Linux.

The ``mlx[cpu]`` wheel for Linux bundles the reference BLAS: a 1024x1024 fp32 matmul runs at
about 4 GFLOP/s on an idle 2-core x86 machine, against about 140 GFLOP/s with OpenBLAS (about
30x at sizes 256 to 1024; measured by ``python benchmarks/core_blas.py``). Preloading Debian's ``libopenblas0-pthread`` replaces the
bundled routines. The scratchlab commands do it for you: when MLX is installed, OpenBLAS is
found and ``LD_PRELOAD`` does not name it yet, they re-execute themselves once with it
preloaded. Set ``SCRATCHLAB_MLX_BLAS=bundled`` to keep the bundled BLAS, or
``SCRATCHLAB_OPENBLAS=/path/libopenblas.so.0`` to name another library.

Torch is affected too: under the preload its GEMMs run on OpenBLAS's thread pool (a 1-thread
torch training step then uses two cores). Torch's own pool spinning beside OpenBLAS's on the
same cores made a step 3x slower (2 + 2 threads on 2 cores), so the runner gives torch one
thread under the preload unless ``--threads`` says otherwise, and gives each parallel job's
OpenBLAS its share of the cores (``OPENBLAS_NUM_THREADS``).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

CANDIDATES = (
    "/usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/*-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)


def find_openblas() -> str | None:
    explicit = os.environ.get("SCRATCHLAB_OPENBLAS")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    for pattern in CANDIDATES:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def openblas_preloaded() -> bool:
    return "openblas" in os.environ.get("LD_PRELOAD", "")


def preload_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: os.environ) with OpenBLAS added to LD_PRELOAD where it helps."""
    env = dict(os.environ if env is None else env)
    lib = find_openblas()
    if (sys.platform.startswith("linux") and lib and "openblas" not in env.get("LD_PRELOAD", "")
            and env.get("SCRATCHLAB_MLX_BLAS", "openblas") != "bundled"):
        env["LD_PRELOAD"] = ":".join(x for x in (lib, env.get("LD_PRELOAD", "")) if x)
    return env


def maybe_reexec_with_openblas() -> None:
    """Re-run this process with OpenBLAS preloaded, once, if that will speed MLX up."""
    if (not sys.platform.startswith("linux") or openblas_preloaded()
            or os.environ.get("SCRATCHLAB_MLX_BLAS", "openblas") == "bundled"
            or os.environ.get("_SCRATCHLAB_REEXEC") or "mlx" in sys.modules
            or importlib.util.find_spec("mlx") is None):
        return
    env = preload_env()
    if not openblas_preloaded() and "openblas" in env.get("LD_PRELOAD", ""):
        env["_SCRATCHLAB_REEXEC"] = "1"
        argv = [sys.executable, *sys.orig_argv[1:]]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, env)
