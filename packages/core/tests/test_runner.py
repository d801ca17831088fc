"""The runner: results files, skipping finished runs, failures that do not stop the sweep,
determinism, exact resume after SIGKILL, parallel jobs."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scratchlab.core.errors import Diverged
from scratchlab.core.registry import Component, get_registry
from scratchlab.core.results import TIMING_METRICS
from scratchlab.core.runner import run_sweep
from scratchlab.core.spec import load_spec
from scratchlab.core.testing import needs_both, needs_torch

SPEC = """\
name: {name}
task: classify
backends: {backends}
seeds: [0, 1]
model: {{hidden: 16}}
train: {{steps: {steps}, eval_every: 20, checkpoint_every: {ckpt}, batch_size: 64}}
data: {{n_train: 600, n_val: 300}}
variants:
  narrow: {{}}
  wide: {{model: {{hidden: 32}}}}
"""


def write_spec(tmp_path: Path, name: str = "t", backends: str = "[torch]", steps: int = 60,
               ckpt: int = 20) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, backends=backends, steps=steps, ckpt=ckpt))
    return path


def model_rows(csv_text: str) -> list[dict[str, str]]:
    """results.csv rows without the machine-dependent timing columns."""
    rows = list(csv.DictReader(csv_text.splitlines()))
    return [{k: v for k, v in r.items() if k not in TIMING_METRICS} for r in rows]


@needs_torch
def test_sweep_writes_every_output(tmp_path: Path) -> None:
    sweep = run_sweep(load_spec(write_spec(tmp_path)), tmp_path / "out")
    root = tmp_path / "out" / "t"
    assert [r.status for r in sweep.results] == ["ok"] * 4
    for name in ("results.csv", "results.md", "spec.resolved.yaml", "val_loss.png"):
        assert (root / name).exists(), name
    header = (root / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["run_id", "variant", "backend", "seed", "status", "error"]
    for r in sweep.results:
        for f in ("config.json", "metrics.jsonl", "checkpoint.safetensors", "result.json"):
            assert (root / "runs" / r.run.id / f).exists(), f
    md = (root / "results.md").read_text()
    assert "| narrow | torch | 2 |" in md and "±" in md


@needs_torch
def test_same_seed_same_metrics_twice(tmp_path: Path) -> None:
    a = run_sweep(load_spec(write_spec(tmp_path)), tmp_path / "a")
    b = run_sweep(load_spec(write_spec(tmp_path)), tmp_path / "b")
    assert model_rows(a.csv()) == model_rows(b.csv())


@needs_torch
def test_rerun_skips_finished_runs(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    first = run_sweep(load_spec(spec), tmp_path)
    mtimes = {r.run.id: (r.dir / "result.json").stat().st_mtime_ns for r in first.results}
    second = run_sweep(load_spec(spec), tmp_path)
    assert {r.run.id: (r.dir / "result.json").stat().st_mtime_ns for r in second.results} == mtimes
    assert first.csv() == second.csv()


def _register_task(name: str, fn) -> None:
    from scratchlab.core.classify import ClassifyConfig

    get_registry()._by_key[("task", name, "torch")] = Component(
        "task", name, fn, ClassifyConfig, backend="torch", summary="test", package="tests")


def _flaky(ctx):
    if ctx.seed == 1:
        raise RuntimeError("boom on seed 1")
    ctx.log_metrics(1, train_loss=1.0)
    return {"val_loss": 1.0 + ctx.seed}


def _diverging(ctx):
    ctx.log_metrics(1, train_loss=2.0)
    ctx.log_metrics(2, train_loss=float("nan"))
    return {"val_loss": 0.0}


@needs_torch
def test_failed_and_diverged_runs_are_recorded_and_sweep_continues(tmp_path: Path) -> None:
    _register_task("flaky", _flaky)
    _register_task("diverging", _diverging)
    spec = tmp_path / "f.yaml"
    spec.write_text("name: f\ntask: flaky\nseeds: [0, 1, 2]\n")
    sweep = run_sweep(load_spec(spec), tmp_path)
    assert [r.status for r in sweep.results] == ["ok", "failed", "ok"]
    assert "boom on seed 1" in sweep.results[1].error
    assert "RuntimeError" in (sweep.results[1].dir / "log.txt").read_text()
    md = (tmp_path / "f" / "results.md").read_text()
    assert "Failed runs" in md and "boom" in md and "| base | torch | 2 (1 failed) |" in md
    spec.write_text("name: d\ntask: diverging\nseeds: [0]\n")
    sweep = run_sweep(load_spec(spec), tmp_path)
    assert sweep.results[0].status == "diverged" and "nan" in sweep.results[0].error


@needs_torch
def test_real_divergence_is_caught(tmp_path: Path) -> None:
    """A huge learning rate without clipping really blows up the MLP."""
    spec = write_spec(tmp_path)
    sweep = run_sweep(load_spec(spec, ["optimizer.lr=1.0e+12", "train.clip_norm=null",
                                       "seeds=[0]", "model.activation=tanh"]), tmp_path)
    statuses = {r.status for r in sweep.results}
    assert statuses <= {"ok", "diverged"}
    # whatever happened, no run may report a non-finite loss as ok
    for r in sweep.results:
        if r.status == "ok":
            assert all(v == v for v in r.metrics.values())


def test_exit_status_is_1_when_a_run_fails(tmp_path: Path) -> None:
    _register_task("flaky", _flaky)
    from scratchlab.core.cli import run_exp

    spec = tmp_path / "f.yaml"
    spec.write_text("name: f\ntask: flaky\nseeds: [0, 1]\n")
    assert run_exp([str(spec), "--out", str(tmp_path)]) == 1


@needs_both
def test_resume_is_exact_in_both_backends(tmp_path: Path) -> None:
    """Stop after a checkpoint (by deleting result.json and cutting history), resume, compare."""
    spec = write_spec(tmp_path, backends="[torch, mlx]", steps=60, ckpt=20)
    full = run_sweep(load_spec(spec), tmp_path / "full")
    # simulate a crash at step 40: a checkpoint at 40 exists, the run never finished
    part = run_sweep(load_spec(spec, ["train.steps=40"]), tmp_path / "part")
    spec_60 = load_spec(spec)
    for r60, r40 in zip(spec_60.runs(), part.results):
        src, dst = r40.dir, tmp_path / "full2" / "t" / "runs" / r60.id
        dst.mkdir(parents=True)
        for f in ("checkpoint.safetensors", "metrics.jsonl"):
            (dst / f).write_bytes((src / f).read_bytes())
    resumed = run_sweep(spec_60, tmp_path / "full2")
    assert model_rows(resumed.csv()) == model_rows(full.csv())
    for a, b in zip(resumed.results, full.results):
        assert a.history() == b.history()


@needs_torch
@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, name="k", steps=400, ckpt=20)
    out = tmp_path / "killed"
    env = {**os.environ, "SCRATCHLAB_MLX_BLAS": "bundled"}
    cmd = [sys.executable, "-m", "scratchlab.core.cli", "run", str(spec), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    runs = out / "k" / "runs"
    deadline = time.time() + 240
    while time.time() < deadline:  # wait for one finished run and one half-way run
        done = list(runs.glob("*/result.json")) if runs.exists() else []
        partial = [p for p in runs.glob("*/checkpoint.safetensors")
                   if not (p.parent / "result.json").exists()] if runs.exists() else []
        if done and partial:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the sweep never reached the middle")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/result.json")}
    assert 1 <= len(finished_before) < 4
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    for run_id, mtime in finished_before.items():  # finished runs were not recomputed
        assert (runs / run_id / "result.json").stat().st_mtime_ns == mtime
    resumed_logs = [p for p in runs.glob("*/log.txt") if "resumed from step" in p.read_text()]
    assert resumed_logs, "the interrupted run should have resumed from its checkpoint"
    clean = run_sweep(load_spec(spec), tmp_path / "clean")
    assert model_rows((out / "k" / "results.csv").read_text()) == model_rows(clean.csv())


@needs_torch
def test_parallel_jobs_give_the_same_table(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, steps=40)
    serial = run_sweep(load_spec(spec), tmp_path / "serial")
    parallel = run_sweep(load_spec(spec), tmp_path / "parallel", jobs=2)
    assert model_rows(serial.csv()) == model_rows(parallel.csv())


@needs_torch
def test_corrupt_checkpoint_fails_that_run_with_clear_reason(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, steps=40)
    first = run_sweep(load_spec(spec), tmp_path)
    victim = first.results[0]
    (victim.dir / "result.json").unlink()
    (victim.dir / "checkpoint.safetensors").write_bytes(b"garbage" * 10)
    again = run_sweep(load_spec(spec), tmp_path)
    assert again.results[0].status == "failed"
    assert "corrupt" in again.results[0].error
    assert [r.status for r in again.results[1:]] == ["ok"] * 3


def test_metrics_of_result_json_are_plain_numbers(tmp_path: Path) -> None:
    _register_task("flaky", _flaky)
    spec = tmp_path / "f.yaml"
    spec.write_text("name: f\ntask: flaky\nseeds: [0]\n")
    sweep = run_sweep(load_spec(spec), tmp_path)
    data = json.loads((sweep.results[0].dir / "result.json").read_text())
    assert data["status"] == "ok" and isinstance(data["metrics"]["val_loss"], float)


def test_diverged_is_an_exception_type() -> None:
    assert issubclass(Diverged, Exception)


@needs_both
def test_every_run_reports_its_own_peak_memory(tmp_path: Path) -> None:
    sweep = run_sweep(load_spec(write_spec(tmp_path, backends="[torch, mlx]", steps=20)),
                      tmp_path / "out")
    assert all(r.metrics["peak_mem_mb"] > 10 for r in sweep.results)


def test_peak_rss_window_resets_between_runs() -> None:
    import numpy as np

    from scratchlab.core import memory

    if not memory.reset_peak_rss():
        pytest.skip("this OS cannot reset the peak resident set")
    before = memory.peak_rss_mb()
    block = np.ones(40 * 2**20 // 8)  # 40 MiB, touched
    grown = memory.peak_rss_mb()
    del block
    memory.reset_peak_rss()
    assert grown - before > 30
    assert memory.peak_rss_mb() < grown - 30


@needs_both
def test_run_exp_preloads_openblas_only_for_mlx_sweeps(tmp_path: Path) -> None:
    """Under the preload torch's GEMMs share OpenBLAS's threads and run slower, so a torch-only
    sweep runs without it; an MLX sweep gets it wherever OpenBLAS is installed."""
    from scratchlab.core.blas import find_openblas

    if not sys.platform.startswith("linux") or find_openblas() is None:
        pytest.skip("no OpenBLAS to preload here")
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "_SCRATCHLAB_REEXEC", "SCRATCHLAB_MLX_BLAS")}
    path = write_spec(tmp_path, backends="[torch, mlx]", steps=4)
    for backend, expect in (("torch", "False"), ("mlx", "True")):
        out = tmp_path / backend
        subprocess.run([sys.executable, "-m", "scratchlab.core.cli", "run", str(path),
                        "--backend", backend, "--out", str(out)], env=env, check=True,
                       capture_output=True)
        logs = [p.read_text() for p in (out / "t" / "runs").glob("*/log.txt")]
        assert logs and all(f"OpenBLAS preloaded: {expect}" in log for log in logs), logs


@needs_torch
def test_a_run_held_by_another_process_is_left_alone(tmp_path: Path) -> None:
    """The same command started twice: a run whose lock is held elsewhere is reported as
    pending with a clear reason (not run twice into one folder), and runs once released."""
    import fcntl

    from scratchlab.core.runner import LOCK

    spec = load_spec(write_spec(tmp_path))
    first = spec.runs()[0]
    run_dir = tmp_path / "out" / "t" / "runs" / first.id
    run_dir.mkdir(parents=True)
    with open(run_dir / LOCK, "w") as held:  # another open file: flock treats it as a rival
        held.write("4242")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        sweep = run_sweep(spec, tmp_path / "out")
        status = {r.run.id: r for r in sweep.results}
        assert status[first.id].status == "pending"
        assert "another process (pid 4242" in status[first.id].error
        assert not (run_dir / "result.json").exists() and not (run_dir / "config.json").exists()
        assert [r.status for r in sweep.results if r.run.id != first.id] == ["ok"] * 3
        assert "pending" in (tmp_path / "out" / "t" / "results.md").read_text()
    again = run_sweep(spec, tmp_path / "out")  # released: the rerun collects it
    assert [r.status for r in again.results] == ["ok"] * 4
