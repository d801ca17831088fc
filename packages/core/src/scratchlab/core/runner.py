"""The experiment runner: expand a spec into runs, run each (skipping finished ones, resuming
interrupted ones), record failures without stopping, and write the results table and plots."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

from scratchlab.core.backends import get_backend
from scratchlab.core.blas import openblas_preloaded
from scratchlab.core.checkpoint import atomic_write_text
from scratchlab.core.config import to_dict
from scratchlab.core.context import RunContext
from scratchlab.core.errors import Diverged, ScratchlabError
from scratchlab.core.memory import keep_freed_memory
from scratchlab.core.registry import get_plugin_manager, get_registry
from scratchlab.core.results import RunResult, SweepResults, standard_plots
from scratchlab.core.spec import Run, Spec

RESULT = "result.json"
LOCK = ".lock"  # held while a process runs the run (two `run-exp` of one spec at once)
Progress = Callable[[int, int, dict[str, float]], None]


def run_one(task: str, run: Run, run_dir: Path, device: str = "auto",
            on_progress: Progress | None = None, threads: int | None = None) -> RunResult:
    """Run (or resume) one run in this process and record its outcome in ``result.json``.
    A run that another process is running (the same command started twice) is left to it."""
    done = load_result(run, run_dir)
    if done is not None and done.status == "ok":
        return done
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir) as holder:
        if holder is not None:
            return RunResult(run, "pending", {}, (
                f"run {run.id} is being run by another process (pid {holder}, which holds "
                f"{run_dir / LOCK}); it was left alone here so that the two do not write the "
                "same checkpoint. Run the same command again when that process has finished "
                "to collect its result."), run_dir)
        done = load_result(run, run_dir)  # finished by another process since we looked
        if done is not None and done.status == "ok":
            return done
        return _run_locked(task, run, run_dir, device, on_progress, threads)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[str | None]:
    """Hold ``run_dir/.lock`` (an advisory ``flock``, released by the kernel even if this
    process is killed) for the duration: yields None when this process got it, else the pid
    recorded by the process that holds it."""
    with open(run_dir / LOCK, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            yield f.read().strip() or "unknown"
            return
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield None
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run_locked(task: str, run: Run, run_dir: Path, device: str,
                on_progress: Progress | None, threads: int | None) -> RunResult:
    atomic_write_text(run_dir / "config.json", json.dumps(
        {**run.describe(), "task": task, "config": to_dict(run.config)}, indent=2))
    ctx = RunContext(run.id, run.variant, run.seed, run.backend, run.config, run_dir, device,
                     on_progress)
    start = time.perf_counter()
    status, error, metrics = "ok", "", {}
    try:
        backend = get_backend(run.backend)
        keep_freed_memory()  # no page faults on every step's activations (core/memory.py)
        if run.backend == "torch":
            _torch_threads(threads)
        backend.seed(run.seed)
        component = get_registry().get("task", task, run.backend)
        resolved = backend.device(device)
        ctx.log(f"{run.backend} on {resolved}; OpenBLAS preloaded: {openblas_preloaded()}")
        backend.reset_peak_memory(resolved)
        metrics = dict(component.factory(ctx) or {})
        metrics.setdefault("peak_mem_mb", backend.peak_memory_mb(resolved))
        bad = [k for k, v in metrics.items() if "loss" in k and v != v]  # NaN check
        if bad:
            raise Diverged(f"final {bad[0]} is NaN")
    except Diverged as exc:
        status, error = "diverged", str(exc)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # record and go on: one bad run must not lose the sweep
        status = "failed"
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        ctx.log(traceback.format_exc())
    if status != "ok":
        ctx.log(f"{status}: {error}")
    metrics.setdefault("wall_s", time.perf_counter() - start)
    result = RunResult(run, status, {k: float(v) for k, v in metrics.items()}, error, run_dir)
    atomic_write_text(run_dir / RESULT, json.dumps(
        {"status": status, "error": error, "metrics": result.metrics}, indent=2))
    return result


def load_result(run: Run, run_dir: Path) -> RunResult | None:
    path = run_dir / RESULT
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return RunResult(run, data["status"], data["metrics"], data.get("error", ""), run_dir)
    except (json.JSONDecodeError, KeyError, OSError):
        return None


def _torch_threads(threads: int | None) -> None:
    """Torch's thread count for a run. Under a preloaded OpenBLAS (core/blas.py: the CLI adds
    it for MLX) torch's GEMMs run on OpenBLAS's own thread pool; torch's pool spinning beside
    it on the same cores made a training step 3x slower at 2 + 2 threads, so torch keeps one
    thread unless told otherwise (docs/benchmarks.md#core_blas)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    elif openblas_preloaded():
        torch.set_num_threads(1)


def _worker(task: str, run: Run, run_dir: Path, device: str, threads: int) -> RunResult:
    return run_one(task, run, run_dir, device, threads=threads)


def run_sweep(spec: Spec, out: Path | None = None, *, jobs: int = 1, device: str = "auto",
              threads: int | None = None, retry_failed: bool = True,
              console: Any = None) -> SweepResults:
    """Run every run of ``spec`` into ``out/<spec.name>`` and write the results."""
    runs = spec.runs()
    root = Path(out or "results") / spec.name
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "spec.resolved.yaml", yaml.safe_dump({
        "name": spec.name, "task": spec.task, "source": spec.file, "seeds": spec.seeds,
        "backends": spec.backends, "overrides": dict(spec.overrides),
        "runs": [{**r.describe(), "config": to_dict(r.config)} for r in runs]}, sort_keys=False))
    results: dict[str, RunResult] = {}
    todo = []
    for run in runs:
        prev = load_result(run, root / "runs" / run.id)
        if prev is not None and (prev.status == "ok" or not retry_failed):
            results[run.id] = prev
        else:
            todo.append(run)
    ui = _ProgressUI(console, len(runs), len(runs) - len(todo))
    with ui:
        if jobs <= 1 or len(todo) <= 1:
            for run in todo:
                ui.start_run(run)
                results[run.id] = run_one(spec.task, run, root / "runs" / run.id, device,
                                          ui.step, threads)
                ui.finish_run(results[run.id])
        else:
            threads = threads or max(1, (os.cpu_count() or 1) // jobs)
            os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))  # read by each worker
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_worker, spec.task, run, root / "runs" / run.id, device,
                                       threads): run for run in todo}
                for fut in as_completed(futures):
                    run = futures[fut]
                    try:
                        results[run.id] = fut.result()
                    except Exception as exc:  # the worker process itself died
                        results[run.id] = RunResult(run, "failed", {}, f"worker died: {exc!r}",
                                                    root / "runs" / run.id)
                    ui.finish_run(results[run.id])
    sweep = SweepResults(spec, [results[r.id] for r in runs], root)
    write_report(sweep)
    return sweep


def write_report(sweep: SweepResults) -> None:
    """results.csv, results.md, the standard plots, then whatever task plugins add."""
    sweep.write()
    standard_plots(sweep)
    extra = get_plugin_manager().hook.scratchlab_report(task=sweep.spec.task, results=sweep,
                                                        out_dir=sweep.dir)
    sections = [s for s in extra if s]
    if sections:
        md = sweep.markdown() + "\n" + "\n\n".join(s.strip() for s in sections) + "\n"
        atomic_write_text(sweep.dir / "results.md", md)


class _ProgressUI:
    """A rich progress display: the sweep's runs, and the steps of the run in flight."""

    def __init__(self, console: Any, total: int, done: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[info]}"), console=self.console,
                                 transient=False)
        self.sweep = self.progress.add_task("runs", total=total, completed=done, info="")
        self.current: Any = None
        if done:
            self.console.print(f"[dim]{done} of {total} runs already finished: skipped[/dim]")

    def __enter__(self) -> _ProgressUI:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start_run(self, run: Run) -> None:
        from rich.markup import escape

        desc = escape(f"{run.variant} {run.backend} seed {run.seed}")
        self.current = self.progress.add_task(f"  {desc}", total=None, info="")

    def step(self, step: int, total: int, info: dict[str, float]) -> None:
        if self.current is not None:
            text = "  ".join(f"{k} {v:.4g}" for k, v in info.items())
            self.progress.update(self.current, completed=step, total=total, info=text)

    def finish_run(self, result: RunResult) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
            self.current = None
        self.progress.advance(self.sweep)
        r = result.run
        if result.status != "ok":
            from rich.markup import escape

            self.console.print(f"[red]{escape(r.variant)} {r.backend} seed {r.seed}: "
                               f"{result.status}: {escape(result.error)}[/red]")


def check_backends(spec: Spec) -> None:
    """Fail early, with the install command, if a requested framework is missing."""
    from scratchlab.core.backends import require

    for b in spec.backends:
        try:
            require(b)
        except ScratchlabError as exc:
            raise ScratchlabError(f"{exc} (the spec asks for backends {spec.backends}; run "
                                  f"with --backend to choose)") from None
