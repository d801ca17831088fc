"""The ``scratchlab_report`` hook for lm sweeps that fine-tune with LoRA: trainable parameters
as a percentage, the loss improvement each variant recovers of full fine-tuning's, and how much
it forgets of the pretraining text. Framework-free.

It reads the lm task's metrics: ``val_loss`` (new text), ``val_loss_pretrain`` (old text),
``val_loss_init`` (new text, before the first step), ``params_trainable`` / ``params_total``,
``peak_mem_mb`` and ``wall_s`` where present. The references are found by their adapter: the
variant named ``base`` (the pretrained model, not fine-tuned), and full fine-tuning, the
variants without adapter; of several (a learning-rate grid) the one with the lowest mean
``val_loss`` is the reference, so LoRA is measured against the strongest full fine-tuning.

    recovered  = (base val_loss - variant val_loss) / (base val_loss - full val_loss)
    forgetting = variant val_loss_pretrain - base val_loss_pretrain
    forget/gain = forgetting / (base val_loss - variant val_loss)
    state MB   = 4 bytes x (params_total + 3 params_trainable)

Per seed (each seed has its own pretraining); without a ``base`` variant, the run's own
``val_loss_init`` stands for base val_loss. forget/gain is the old-text loss paid per nat
learned on the new text: it tells "forgets less because it learns less" from "forgets less
at equal learning". The state MB is the float32 memory of what training holds per parameter:
every weight, plus a gradient and AdamW's two moments for each trainable one (activations come
on top, about the same for every variant); ``peak_mem_mb`` is the measured peak of the run.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from scratchlab.core.results import format_mean_std, mean_std, save_figure

BASE = "base"
TARGET = {"r": 8, "recovered_pct": 90.0, "trainable_pct": 2.0}  # the target


def _adapter(group: list[Any]) -> Any:
    return getattr(group[0].run.config, "adapter", None)


def describe(variant: str, adapter: Any) -> str:
    if variant == BASE:
        return "pretrained, not fine-tuned"
    if adapter is None:
        return "full fine-tuning"
    c = adapter.config
    extra = ", rsLoRA" if getattr(c, "rslora", False) else ""
    return f"LoRA r={c.r}, alpha={c.alpha:g}{extra} on {', '.join(c.target_modules)}"


def _per_seed(runs: list[Any], metric: str) -> dict[int, float]:
    return {r.run.seed: float(r.metrics[metric]) for r in runs
            if r.status == "ok" and metric in r.metrics}


def _stat(values: list[float]) -> str:
    return format_mean_std(mean_std(values))


def _full_reference(groups: dict[tuple[str, str], list[Any]], backend: str) -> tuple[str, list[Any]]:
    """The full fine-tuning variant with the lowest mean val_loss on ``backend`` ("", [] if none)."""
    fulls = [(v, g) for (v, b), g in groups.items()
             if b == backend and v != BASE and _adapter(g) is None and _per_seed(g, "val_loss")]
    if not fulls:
        return "", []
    return min(fulls, key=lambda vg: statistics.fmean(_per_seed(vg[1], "val_loss").values()))


def _base_loss(base: list[Any], runs: list[Any]) -> dict[int, float]:
    """The pretrained model's val_loss on the new text per seed: the base variant's, else the
    runs' own val_loss_init (the same model, evaluated before the first step)."""
    return _per_seed(base, "val_loss") or _per_seed(runs, "val_loss_init")


def lora_report(task: str, results: Any, out_dir: Path) -> str | None:
    if task != "lm":
        return None
    groups = results.groups()
    if not any(_adapter(g) is not None and _adapter(g).name == "lora" for g in groups.values()):
        return None
    backends = list(dict.fromkeys(b for _, b in groups))
    refs = {b: _full_reference(groups, b) for b in backends}
    ref_names = ", ".join(f"`{name}` ({b})" for b, (name, _) in refs.items() if name)
    lines = ["## LoRA vs full fine-tuning", "",
             "trainable % = params_trainable / params_total; recovered = (base - variant) / "
             "(base - full) of val_loss on the new text, per seed, where full is the best full "
             f"fine-tuning variant ({ref_names or 'none'}); forgetting = val_loss_pretrain "
             "(the old text) minus the base model's; forget/gain = forgetting per nat of new-text "
             "loss gained; state MB = float32 weights + gradients and AdamW moments of the "
             "trainable parameters; peak_mem_mb = measured peak of the run. Mean ± std over "
             "seeds.", ""]
    header = ["variant", "backend", "method", "trainable %", "val_loss (new)", "recovered %",
              "val_loss_pretrain (old)", "forgetting", "forget/gain", "state MB", "peak_mem_mb",
              "wall_s"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    verdicts, points = [], []
    for (variant, backend), runs in groups.items():
        ok = [r for r in runs if r.status == "ok"]
        if not ok:
            continue
        adapter = _adapter(runs)
        base = groups.get((BASE, backend), [])
        full_name, full = refs[backend]
        pct = [100 * r.metrics["params_trainable"] / r.metrics["params_total"] for r in ok
               if r.metrics.get("params_total")]
        val, val_f = _per_seed(ok, "val_loss"), _per_seed(full, "val_loss")
        val_b = _base_loss(base, ok)
        old, old_b = _per_seed(ok, "val_loss_pretrain"), _per_seed(base, "val_loss_pretrain")
        rec = [100 * (val_b[s] - val[s]) / (val_b[s] - val_f[s]) for s in val
               if s in val_b and s in val_f and val_b[s] != val_f[s]]
        forget = {s: old[s] - old_b[s] for s in old if s in old_b}
        ratio = [forget[s] / (val_b[s] - val[s]) for s in forget
                 if s in val and s in val_b and val_b[s] - val[s] > 0]
        method = describe(variant, adapter) + (" (reference)" if variant == full_name else "")
        cells = [variant, backend, method, _stat(pct) if variant != BASE else "0",
                 _stat(list(val.values())), _stat(rec) if variant != BASE else "0",
                 _stat(list(old.values())), _stat(list(forget.values())),
                 _stat(ratio) if variant != BASE else "—",
                 _stat([4 * (r.metrics["params_total"] + 3 * r.metrics.get("params_trainable", 0))
                        / 2**20 for r in ok if r.metrics.get("params_total")]),
                 _stat([r.metrics["peak_mem_mb"] for r in ok if "peak_mem_mb" in r.metrics]),
                 _stat([r.metrics["wall_s"] for r in ok if "wall_s" in r.metrics])]
        lines.append("| " + " | ".join(cells) + " |")
        if pct and val and variant != BASE:
            points.append((variant, backend, statistics.fmean(pct), statistics.fmean(val.values()),
                           statistics.fmean(old.values()) if old else None))
        if (adapter is not None and variant != BASE and adapter.config.r == TARGET["r"]
                and rec and pct):
            full_forget = [full_old - old_b[s] for s, full_old in
                           _per_seed(full, "val_loss_pretrain").items() if s in old_b]
            ok_rec = statistics.fmean(rec) >= TARGET["recovered_pct"]
            ok_pct = statistics.fmean(pct) < TARGET["trainable_pct"]
            ok_forget = bool(forget and full_forget) and \
                statistics.fmean(forget.values()) < statistics.fmean(full_forget)
            met = ok_rec and ok_pct and ok_forget
            verdicts.append(
                f"- **{variant}** ({backend}): recovers {statistics.fmean(rec):.1f}% of "
                f"`{full_name}`'s improvement (target >= {TARGET['recovered_pct']:g}%: "
                f"{'yes' if ok_rec else 'no'}) with {statistics.fmean(pct):.2f}% of the "
                f"parameters trainable (< {TARGET['trainable_pct']:g}%: "
                f"{'yes' if ok_pct else 'no'}), forgetting "
                f"{statistics.fmean(forget.values()) if forget else float('nan'):+.4f} vs "
                f"full's {statistics.fmean(full_forget) if full_forget else float('nan'):+.4f} "
                f"(less: {'yes' if ok_forget else 'no'}): target **{'met' if met else 'not met'}**.")
    if verdicts:
        lines += ["", "Target (LoRA r=8: >= 90% of full fine-tuning's loss improvement, < 2% of "
                  "the parameters trainable, less forgetting):", "", *verdicts]
    if points and _plot(points, out_dir / "lora_tradeoff.png"):
        lines += ["", "![loss vs trainable parameters](lora_tradeoff.png)"]
    return "\n".join(lines)


def _plot(points: list[tuple[str, str, float, float, float | None]], path: Path) -> bool:
    """New-text and old-text loss against the trainable percentage (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, ax = plt.subplots(figsize=(7, 4.5))
    several = len({p[1] for p in points}) > 1
    for variant, backend, pct, new, old in points:
        ax.scatter(pct, new, color="C0")
        ax.annotate(f"{variant} ({backend})" if several else variant, (pct, new), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if old is not None:
            ax.scatter(pct, old, color="C1", marker="s")
    ax.scatter([], [], color="C0", label="val_loss (new text)")
    ax.scatter([], [], color="C1", marker="s", label="val_loss_pretrain (old text)")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (% of total)")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title("LoRA vs full fine-tuning")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return True
