"""The optimizer comparison section of an ``lm`` sweep's results.md (``scratchlab_report``).

It speaks only when the sweep compares optimizers (its runs use at least two different
``optimizer`` names, one of them ``adamw``), so other ``lm`` sweeps stay as they were. Per
backend, the reference is the AdamW setting (variant and grid point) with the lowest mean final
validation loss; every setting then gets the number of steps its seed-averaged ``val_loss``
curve needs to reach that loss, as a fraction of the steps AdamW needed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from scratchlab.core.results import save_figure

REFERENCE = "adamw"


def optimizer_name(run: Any) -> str | None:
    opt = getattr(run.config, "optimizer", None)
    return getattr(opt, "name", None)


def mean_curve(runs: list[Any], metric: str = "val_loss") -> dict[int, float]:
    """Mean of ``metric`` over the runs at the steps every run logged."""
    curves = [{int(row["step"]): row[metric] for row in r.history() if metric in row} for r in runs]
    curves = [c for c in curves if c]
    if not curves:
        return {}
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    return {s: sum(c[s] for c in curves) / len(curves) for s in steps}


def steps_to_reach(curve: dict[int, float], target: float) -> int | None:
    return next((s for s in sorted(curve) if curve[s] <= target), None)


def _nearest(curve: dict[int, float], step: int) -> int:
    return min(curve, key=lambda s: abs(s - step))


def optimizer_report(task: str, results: Any, out_dir: Path) -> str | None:
    if task != "lm":
        return None
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in results.results:
        if r.status == "ok":
            groups[(r.run.variant, r.run.backend)].append(r)
    names = {key: optimizer_name(runs[0].run) or "?" for key, runs in groups.items()}
    if REFERENCE not in names.values() or len(set(names.values())) < 2:
        return None
    curves = {key: mean_curve(runs) for key, runs in groups.items()}
    curves = {k: c for k, c in curves.items() if c}
    lines = ["## Optimizers: steps to reach AdamW's final validation loss", "",
             "Per backend, the reference is the AdamW setting with the lowest mean final "
             "val_loss (mean over seeds). *steps to reach* is the first evaluation step at which "
             "a setting's mean val_loss curve is at or below it; *fraction* divides that by the "
             "steps AdamW itself needed (lower is faster; the issue's target for Muon is "
             "≤ 0.75).", ""]
    best_curves: dict[tuple[str, str], dict[int, float]] = {}
    for backend in results.spec.backends:
        mine = {k: c for k, c in curves.items() if k[1] == backend}
        ref = [k for k in mine if names[k] == REFERENCE]
        if not ref:
            continue
        ref_key = min(ref, key=lambda k: mine[k][max(mine[k])])
        target = mine[ref_key][max(mine[ref_key])]
        ref_steps = steps_to_reach(mine[ref_key], target) or max(mine[ref_key])
        last = max(mine[ref_key])
        marks = sorted({max(1, round(last * f / 4)) for f in (1, 2, 3, 4)})
        marks = [_nearest(mine[ref_key], m) for m in marks]
        lines += [f"**{backend}**: reference `{ref_key[0]}`, final val_loss {target:.4f} at "
                  f"step {last}.", "",
                  "| setting | optimizer | seeds | " + " | ".join(f"val_loss @ {m}" for m in marks)
                  + " | steps to reach | fraction |",
                  "|---|---|---|" + "---|" * len(marks) + "---|---|"]
        for key in sorted(mine, key=lambda k: (names[k] != REFERENCE, k[0])):
            curve = mine[key]
            reach = steps_to_reach(curve, target)
            cells = [f"{curve[m]:.4f}" if m in curve else "—" for m in marks]
            frac = f"{reach / ref_steps:.2f}" if reach is not None else "not reached"
            lines.append(f"| {key[0]} | {names[key]} | {len(groups[key])} | " + " | ".join(cells)
                         + f" | {reach if reach is not None else '—'} | {frac} |")
            best = (names[key], backend)
            if best not in best_curves or curve[max(curve)] < best_curves[best][max(best_curves[best])]:
                best_curves[best] = curve
        lines.append("")
    if _plot(best_curves, out_dir / "optimizers_best_val_loss.png"):
        lines += ["![best setting of each optimizer](optimizers_best_val_loss.png)", ""]
    return "\n".join(lines)


def _plot(curves: dict[tuple[str, str], dict[int, float]], path: Path) -> bool:
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, backend), curve in sorted(curves.items()):
        steps = sorted(curve)
        ax.plot(steps, [curve[s] for s in steps], label=f"{name} ({backend}), best lr")
    ax.set_xlabel("step")
    ax.set_ylabel("val_loss (mean over seeds)")
    ax.set_title("best learning rate of each optimizer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return True
