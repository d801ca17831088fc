"""PPO on CartPole-v1: wall time per environment step, torch vs MLX, against CleanRL's figure.

    python benchmarks/rl_ppo_speed.py [--steps 16384] [--reps 3] [--no-write]

Both backends run the real `rl` task (CleanRL hyperparameters: 4 envs x 128 steps, 4 epochs
x 4 minibatches) in this process, interleaved, best of ``--reps`` (the least disturbed by
other load). Reference: CleanRL's ppo.py took about 61 s per 500k steps on 2 quiet cores
(122 us per step). Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from pathlib import Path

from scratchlab.core.bench import write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
CLEANRL_US_PER_STEP = 61e6 / 500_000


def time_run(backend: str, steps: int) -> tuple[float, float, float]:
    """(us per env step of the whole loop, of the rollouts, of the updates)."""
    from scratchlab.core.config import build_config
    from scratchlab.core.context import RunContext
    from scratchlab.rl import rollout
    from scratchlab.rl.config import RLConfig

    cfg = build_config(RLConfig, {"train": {"total_steps": steps}})
    collect = rollout.collect_steps
    spent = {"rollout": 0.0}

    def timed(*a, **k):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        out = collect(*a, **k)
        spent["rollout"] += time.perf_counter() - t
        return out

    import scratchlab.rl.task as task

    task.collect_steps = timed
    try:
        run = importlib.import_module(f"scratchlab.rl.{backend}.task").run
        t = time.perf_counter()
        m = run(RunContext("bench", "ppo", 0, backend, cfg, Path(tempfile.mkdtemp())))
        wall = time.perf_counter() - t
    finally:
        task.collect_steps = collect
    n = m["env_steps"]
    return 1e6 * wall / n, 1e6 * spent["rollout"] / n, 1e6 * (wall - spent["rollout"]) / n




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=16384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    time_run("torch", 1024), time_run("mlx", 1024)  # imports and first-call costs
    best: dict[str, tuple[float, float, float]] = {}
    for _ in range(args.reps):
        for backend in ("torch", "mlx"):
            r = time_run(backend, args.steps)
            best[backend] = min(best.get(backend, r), r)
    load = os.getloadavg()[0]
    rows = [f"| {b} | {best[b][0]:.0f} | {best[b][1]:.0f} | {best[b][2]:.0f} | "
            f"{best[b][0] / CLEANRL_US_PER_STEP:.2f} | {best[b][0] / best['torch'][0]:.2f} |"
            for b in ("torch", "mlx")]
    body = "\n".join([
        f"Command: `python benchmarks/rl_ppo_speed.py --steps {args.steps} --reps {args.reps}`",
        "",
        f"PPO on CartPole-v1, CleanRL hyperparameters, {args.steps} environment steps, best of "
        f"{args.reps}; {os.cpu_count()} CPU cores, load average {load:.1f} while measuring "
        f"(CleanRL's reference, {CLEANRL_US_PER_STEP:.0f} us/step, was on 2 quiet cores).",
        "",
        "| backend | us per env step | rollout | update | / CleanRL | / torch |",
        "|---|---:|---:|---:|---:|---:|", *rows])
    print(body)
    if not args.no_write:
        write_section("rl_ppo_speed", body, DOC)


if __name__ == "__main__":
    main()
