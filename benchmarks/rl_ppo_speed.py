"""PPO on CartPole-v1: wall time per environment step, torch vs MLX, against CleanRL's figure.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 \
    OMP_NUM_THREADS=1 python benchmarks/rl_ppo_speed.py [--steps 16384] [--reps 3] [--no-write]

Both backends run the real `rl` task in this process, interleaved, best of ``--reps`` (the
least disturbed by other load), with two sets of hyperparameters: CleanRL's (PPOConfig's
defaults: 4 envs x 128 steps, 4 epochs x 4 minibatches; the like-for-like code comparison)
and experiments/ppo_cartpole.yaml's (what the experiment runs: fewer, larger minibatches
and twice the envs per acting call cost less per step). OpenBLAS preloaded, as run-exp does
for MLX (torch keeps one thread, so it is not slowed). Wall time and CPU time (time.process_time: what this process itself used, less
inflated by other jobs) per environment step, split into rollouts and updates. Reference:
CleanRL's ppo.py took about 61 s per 500k steps on 2 quiet cores (122 us per step). Writes
its section of docs/benchmarks.md only when the 1-minute load average stays below
``--max-load`` (a loaded machine's wall times say little about the code).
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


Timing = tuple[float, float, float, float, float]


def spec_algorithm() -> dict[str, object]:
    """The algorithm settings of experiments/ppo_cartpole.yaml."""
    import yaml

    return dict(yaml.safe_load((ROOT / "experiments" / "ppo_cartpole.yaml").read_text())["algorithm"])


def time_run(backend: str, steps: int, algorithm: dict[str, object] | None = None) -> Timing:
    """us per env step: (wall, wall in rollouts, wall in updates, CPU, CPU in rollouts)."""
    from scratchlab.core.config import build_config
    from scratchlab.core.context import RunContext
    from scratchlab.rl import rollout
    from scratchlab.rl.config import RLConfig

    cfg = build_config(RLConfig, {"train": {"total_steps": steps},
                                  "algorithm": algorithm or {"name": "ppo"}})
    collect = rollout.collect_steps
    spent = {"rollout": 0.0, "rollout_cpu": 0.0}

    def timed(*a, **k):  # type: ignore[no-untyped-def]
        t, c = time.perf_counter(), time.process_time()
        out = collect(*a, **k)
        spent["rollout"] += time.perf_counter() - t
        spent["rollout_cpu"] += time.process_time() - c
        return out

    import scratchlab.rl.task as task

    task.collect_steps = timed
    try:
        run = importlib.import_module(f"scratchlab.rl.{backend}.task").run
        t, c = time.perf_counter(), time.process_time()
        m = run(RunContext("bench", "ppo", 0, backend, cfg, Path(tempfile.mkdtemp())))
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        task.collect_steps = collect
    us = 1e6 / m["env_steps"]
    return (us * wall, us * spent["rollout"], us * (wall - spent["rollout"]), us * cpu,
            us * spent["rollout_cpu"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=16384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--max-load", type=float, default=1.5)
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    settings = {"CleanRL's": {"name": "ppo"}, "ppo_cartpole.yaml's": spec_algorithm()}
    time_run("torch", 1024), time_run("mlx", 1024)  # imports and first-call costs
    loads = [os.getloadavg()[0]]
    best: dict[tuple[str, str], Timing] = {}
    for _ in range(args.reps):
        for hp, algorithm in settings.items():
            for backend in ("torch", "mlx"):
                r = time_run(backend, args.steps, algorithm)
                best[hp, backend] = min(best.get((hp, backend), r), r)
                loads.append(os.getloadavg()[0])
    rows = [f"| {hp} | {b} | {t[0]:.0f} | {t[1]:.0f} | {t[2]:.0f} | {t[3]:.0f} | {t[4]:.0f} | "
            f"{t[3] - t[4]:.0f} | {t[0] / CLEANRL_US_PER_STEP:.2f} | "
            f"{t[0] / best[hp, 'torch'][0]:.2f} |" for (hp, b), t in best.items()]
    spec_hp = ", ".join(f"{k}={v}" for k, v in settings["ppo_cartpole.yaml's"].items()
                        if k != "name")
    preload = next((f"LD_PRELOAD={lib} " for lib in os.environ.get("LD_PRELOAD", "").split(":")
                    if "openblas" in lib), "")  # as run-exp gives MLX
    body = "\n".join([
        f"Command: `{preload}OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python "
        f"benchmarks/rl_ppo_speed.py --steps {args.steps} --reps {args.reps}`",
        "",
        f"PPO on CartPole-v1 with CleanRL's hyperparameters and with ppo_cartpole.yaml's "
        f"({spec_hp}), {args.steps} environment steps, best of "
        f"{args.reps}; {os.cpu_count()} CPU cores, 1-minute load average {min(loads):.1f}-"
        f"{max(loads):.1f} while measuring (CleanRL's reference, {CLEANRL_US_PER_STEP:.0f} "
        f"us/step wall, was on 2 quiet cores).",
        "",
        "| hyperparameters | backend | wall us / env step | rollout | update | CPU us / env step "
        "| rollout | update | wall / CleanRL | wall / torch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|", *rows])
    print(body)
    if args.no_write:
        return
    if max(loads) > args.max_load:
        print(f"\nnot written to {DOC.name}: load average reached {max(loads):.1f} > "
              f"{args.max_load} (rerun on a quiet machine, or pass --max-load)")
        return
    write_section("rl_ppo_speed", body, DOC)


if __name__ == "__main__":
    main()
