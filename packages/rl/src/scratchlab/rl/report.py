"""The ``rl`` section of results.md: return curves against environment steps, the median
steps to the target return, and (when measured) the gradient-estimator table."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from scratchlab.core.results import format_number, plot_curves


def rl_report(results: Any, out_dir: Path) -> str | None:
    lines = ["## Reinforcement learning", ""]
    window = None
    for r in results.results:
        for row in r.history()[-1:]:
            window = next((k for k in row if k.startswith("return_mean")), window)
    if window and plot_curves(results, window, out_dir / "returns.png",
                              title=f"{results.spec.name}: {window} vs environment steps"):
        lines += ["![returns vs environment steps](returns.png)", ""]
    lines += ["| variant | backend | median steps to target | reached target | "
              "final return (median) | us per env step (median) |", "|---|---|---|---|---|---|"]
    for (variant, backend), runs in results.groups().items():
        ok = [r.metrics for r in runs if r.status == "ok"]
        if not ok:
            continue
        med = {k: statistics.median(m.get(k, math.nan) for m in ok)
               for k in ("steps_to_target", "final_return", "us_per_step")}
        reached = sum(int(m.get("reached_target", math.isfinite(m.get("steps_to_target", math.inf))))
                      for m in ok)
        lines.append(f"| {variant} | {backend} | {format_number(med['steps_to_target'])} | "
                     f"{reached}/{len(ok)} | "
                     f"{format_number(med['final_return'])} | {format_number(med['us_per_step'])} |")
    has_var = any("grad_var" in r.metrics for r in results.results)
    if has_var:
        lines += ["", "### Gradient estimators at the initial parameters", "",
                  "variance = E||g - E g||^2 over independent batches; bias = ||mean g - g_ref||, "
                  "where g_ref is the exact gradient on the short corridor, else the "
                  "high-sample mean of the unbiased learned-baseline estimator; noise floor = "
                  "the bias an unbiased estimator would show from the finite samples alone; "
                  "MSE = E||g - g_ref||^2 = variance + bias^2.", "",
                  "| variant | backend | variance | bias | noise floor | MSE |",
                  "|---|---|---|---|---|---|"]
        for (variant, backend), runs in results.groups().items():
            ok = [r.metrics for r in runs if r.status == "ok" and "grad_var" in r.metrics]
            if not ok:
                continue
            keys = ("grad_var", "grad_bias", "grad_bias_noise", "grad_mse")
            cell = {k: statistics.fmean(m[k] for m in ok) for k in keys}
            lines.append(f"| {variant} | {backend} | "
                         + " | ".join(format_number(cell[k]) for k in keys) + " |")
    lines += ["", "Steps to target: the first environment step at which the mean return of the "
              "last `window` episodes reached `target_return` (censored at the run's length "
              "when never reached)."]
    return "\n".join(lines)
