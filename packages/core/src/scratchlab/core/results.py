"""Sweep results: one row per run (results.csv), one row per variant x backend (results.md),
and the standard plots. Task plugins add their own through the ``scratchlab_report`` hook."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scratchlab.core.checkpoint import atomic_write_bytes, atomic_write_text
from scratchlab.core.context import read_metrics
from scratchlab.core.spec import Run, Spec

# metrics that measure the machine, not the model: left out when comparing two sweeps
TIMING_METRICS = ("wall_s", "tokens_per_s", "steps_per_s", "samples_per_s", "peak_mem_mb")


@dataclass
class RunResult:
    run: Run
    status: str  # "ok", "failed", "diverged", "pending"
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    dir: Path | None = None

    def history(self) -> list[dict[str, float]]:
        return read_metrics(self.dir) if self.dir else []


@dataclass
class SweepResults:
    spec: Spec
    results: list[RunResult]
    dir: Path

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results if r.status != "ok"]

    def metric_names(self) -> list[str]:
        wanted = self.spec.report.get("metrics")
        if wanted:
            return list(wanted)
        names: dict[str, None] = {}
        for r in self.results:
            names.update(dict.fromkeys(r.metrics))
        return list(names)

    def groups(self) -> dict[tuple[str, str], list[RunResult]]:
        """Runs grouped by (variant, backend), in spec order."""
        out: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
        for r in self.results:
            out[(r.run.variant, r.run.backend)].append(r)
        return dict(out)

    def summary(self) -> list[dict[str, Any]]:
        """One dict per variant x backend: mean and std of every metric over ok seeds."""
        rows = []
        for (variant, backend), runs in self.groups().items():
            ok = [r for r in runs if r.status == "ok"]
            row: dict[str, Any] = {"variant": variant, "backend": backend, "seeds": len(ok),
                                   "failed": len(runs) - len(ok)}
            for m in self.metric_names():
                values = [r.metrics[m] for r in ok if isinstance(r.metrics.get(m), (int, float))]
                row[m] = mean_std(values)
            rows.append(row)
        return rows

    def write(self) -> None:
        atomic_write_text(self.dir / "results.csv", self.csv())
        atomic_write_text(self.dir / "results.md", self.markdown())

    def csv(self) -> str:
        names = self.metric_names()
        extra: dict[str, None] = {}
        for r in self.results:
            extra.update(dict.fromkeys(k for k in r.metrics if k not in names))
        grid_keys: dict[str, None] = {}
        for r in self.results:
            grid_keys.update(dict.fromkeys(r.run.overrides))
        header = ["run_id", "variant", "backend", "seed", "status", "error", *grid_keys,
                  *names, *extra]
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        for r in self.results:
            w.writerow([r.run.id, r.run.variant, r.run.backend, r.run.seed, r.status, r.error,
                        *(r.run.overrides.get(k, "") for k in grid_keys),
                        *(r.metrics.get(k, "") for k in [*names, *extra])])
        return buf.getvalue()

    def markdown(self) -> str:
        names = self.metric_names()
        lines = [f"# {self.spec.name}", ""]
        if self.spec.description:
            lines += [self.spec.description.strip(), ""]
        lines += [f"task `{self.spec.task}`, seeds {self.spec.seeds}; each cell is the mean "
                  "± standard deviation over seeds.", ""]
        lines.append("| variant | backend | seeds | " + " | ".join(names) + " |")
        lines.append("|---|---|---|" + "---|" * len(names))
        for row in self.summary():
            seeds = f"{row['seeds']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
            cells = [format_mean_std(row[m]) for m in names]
            lines.append(f"| {row['variant']} | {row['backend']} | {seeds} | "
                         + " | ".join(cells) + " |")
        if self.failed:
            lines += ["", "## Failed runs", ""]
            lines += [f"- `{r.run.id}` {r.run.variant} / {r.run.backend} / seed {r.run.seed}: "
                      f"{r.status}: {r.error}" for r in self.failed]
        return "\n".join(lines) + "\n"


def mean_std(values: list[float]) -> tuple[float, float] | None:
    """Mean and sample standard deviation; inf and NaN propagate instead of raising."""
    if not values:
        return None
    if not all(math.isfinite(v) for v in values):
        m = statistics.fmean(values) if not any(v != v for v in values) else math.nan
        return m, math.nan
    m = statistics.fmean(values)
    return m, (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_number(x: float) -> str:
    """Counts in full (116,480), large values without decimals, others to 4 significant digits."""
    if not math.isfinite(x):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x != 0 and abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}"


def format_mean_std(ms: tuple[float, float] | None) -> str:
    """'mean ± std' with the spread to two significant digits."""
    if ms is None:
        return "—"
    m, s = ms
    if s == 0 or (not math.isfinite(s) and not math.isfinite(m)):
        return format_number(m)
    spread = f"{s:,.0f}" if abs(s) >= 100 else f"{s:.2g}"
    return f"{format_number(m)} ± {spread}"


def save_figure(fig: Any, path: Path, dpi: int = 120) -> None:
    """Write a matplotlib figure as PNG atomically (a killed sweep leaves no half image), then
    close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
    plt.close(fig)


def plot_curves(results: SweepResults, metric: str, path: Path, *, title: str | None = None,
                logy: bool = False) -> bool:
    """Mean curve of ``metric`` over steps per variant x backend, with a min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    drew = False
    for (variant, backend), runs in results.groups().items():
        curves = []
        for r in runs:
            pts = [(row["step"], row[metric]) for row in r.history() if metric in row]
            if pts:
                curves.append(dict(pts))
        if not curves:
            continue
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        if not steps:
            continue
        ys = np.array([[c[s] for s in steps] for c in curves])
        label = variant if len(results.spec.backends) == 1 else f"{variant} ({backend})"
        line, = ax.plot(steps, ys.mean(0), label=label)
        if len(curves) > 1:
            ax.fill_between(steps, ys.min(0), ys.max(0), alpha=0.2, color=line.get_color())
        drew = True
    if drew:
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        if logy:
            ax.set_yscale("log")
        ax.set_title(title or f"{results.spec.name}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, path)
    else:
        plt.close(fig)
    return drew


def standard_plots(results: SweepResults) -> list[Path]:
    """A curve per logged loss-like metric (val_loss, train_loss, ...)."""
    seen: dict[str, None] = {}
    for r in results.results:
        for row in r.history()[:50]:
            seen.update(dict.fromkeys(k for k in row if k != "step" and "loss" in k))
    written = []
    for metric in seen:
        path = results.dir / f"{metric}.png"
        if plot_curves(results, metric, path):
            written.append(path)
    return written
