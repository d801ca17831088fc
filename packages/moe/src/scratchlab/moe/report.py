"""The ``scratchlab_report`` hook: expert load per layer over training, for lm sweeps with MoE.

The lm task logs each ffn's aux values at every evaluation as ``blocks.{i}.mlp.<key>`` (1-D
arrays as ``<key>.{e}``), so a MoE layer leaves ``blocks.{i}.mlp.load.{e}``: the fraction of the
step's token-to-expert assignments that went to expert e. Perfect balance is 1/E everywhere.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.results import save_figure

LOAD_KEY = re.compile(r"^blocks\.(\d+)\.mlp\.load\.(\d+)$")


def load_history(history: list[dict[str, float]]) -> dict[int, tuple[list[int], np.ndarray]]:
    """``{layer: (steps, loads (steps, E))}`` from one run's metrics rows."""
    per_layer: dict[int, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in history:
        for key, value in row.items():
            m = LOAD_KEY.match(key)
            if m:
                per_layer[int(m[1])][int(row["step"])][int(m[2])] = value
    out = {}
    for layer, by_step in sorted(per_layer.items()):
        steps = sorted(by_step)
        n_experts = 1 + max(e for s in steps for e in by_step[s])
        out[layer] = (steps, np.array([[by_step[s].get(e, 0.0) for e in range(n_experts)]
                                       for s in steps]))
    return out


def plot_load(variant: str, backend: str, loads: dict[int, tuple[list[int], np.ndarray]],
              path: Path) -> None:
    """One panel per MoE layer: each expert's load fraction over training (seed-averaged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    layers = sorted(loads)
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.6), squeeze=False,
                             sharey=True)
    for ax, layer in zip(axes[0], layers):
        steps, load = loads[layer]
        ax.stackplot(steps, load.T, labels=[f"expert {e}" for e in range(load.shape[1])],
                     alpha=0.85)
        for level in np.arange(1, load.shape[1]) / load.shape[1]:
            ax.axhline(level, color="white", lw=0.5, ls=":")  # where perfect balance sits
        ax.set_title(f"layer {layer}")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
        ax.margins(x=0)
    axes[0][0].set_ylabel("share of assignments (stacked)")
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"expert load: {variant} ({backend})")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def expert_load_report(task: str, results: Any, out_dir: Path) -> str | None:
    """Plots and a Markdown section for every (variant, backend) whose runs logged expert load."""
    if task != "lm":
        return None
    lines: list[str] = []
    for (variant, backend), runs in results.groups().items():
        per_seed = [load_history(r.history()) for r in runs if r.status == "ok"]
        per_seed = [h for h in per_seed if h]
        if not per_seed:
            continue
        mean = _average(per_seed)
        name = f"expert_load_{_slug(variant)}_{backend}.png"
        plot_load(variant, backend, mean, out_dir / name)
        if not lines:
            lines += ["## Expert load", "",
                      "Share of the token-to-expert assignments each expert received, at each "
                      "evaluation, averaged over seeds (perfect balance: 1/E each). Entropy "
                      "is in nats (log E when balanced); last evaluation.", "",
                      "| variant | backend | layer | experts | load entropy / log E | "
                      "busiest expert | idlest expert |", "|---|---|---|---|---|---|---|"]
        for layer, (_, load) in mean.items():
            last = load[-1]
            e = last.shape[0]
            ent = -(last[last > 0] * np.log(last[last > 0])).sum()
            ratio = ent / math.log(e) if e > 1 else 1.0
            lines.append(f"| {variant} | {backend} | {layer} | {e} | {ratio:.3f} | "
                         f"{last.max():.3f} | {last.min():.3f} |")
        lines.append("")
        lines.append(f"![expert load {variant} {backend}]({name})")
        lines.append("")
    return "\n".join(lines) if lines else None


def _average(histories: list[dict[int, tuple[list[int], np.ndarray]]]
             ) -> dict[int, tuple[list[int], np.ndarray]]:
    """Mean over seeds at the steps every seed logged."""
    out = {}
    for layer in sorted(set.intersection(*(set(h) for h in histories))):
        steps = sorted(set.intersection(*(set(h[layer][0]) for h in histories)))
        if not steps:
            continue
        stacked = [h[layer][1][[h[layer][0].index(s) for s in steps]] for h in histories]
        width = min(a.shape[1] for a in stacked)
        out[layer] = (steps, np.mean([a[:, :width] for a in stacked], axis=0))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
