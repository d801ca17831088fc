"""Plots and results.md sections the interp tasks add after a sweep (the scratchlab_report
hook). Each task leaves a small artifact in its run folder; these functions read them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.results import save_figure
from scratchlab.interp import superposition as sp


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt



def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def first_ok_runs(results: Any) -> list[Any]:
    """One ok run (the first seed) per variant x backend: the one we draw."""
    out = []
    for _, runs in results.groups().items():
        ok = [r for r in runs if r.status == "ok" and r.dir is not None]
        if ok:
            out.append(ok[0])
    return out


# --- superposition -----------------------------------------------------------------------

def plot_columns(W: np.ndarray, probs: np.ndarray, importance: np.ndarray, path: Path,
                 title: str) -> None:
    """m = 2: each feature's direction W_i as an arrow, one panel per instance (the paper's
    figure 'Superposition as a phase change'); m > 2: the Gram matrix W W^T per instance."""
    plt = _plt()
    k = len(probs)
    cols = min(k, 6)
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.5 * rows), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, W.shape[1]))
    for idx, ax in enumerate(axes.flat):
        if idx >= k:
            ax.axis("off")
            continue
        if W.shape[-1] == 2:
            for i, (x, y) in enumerate(W[idx]):
                ax.plot([0, x], [0, y], color=colors[i], lw=1.5)
                ax.scatter([x], [y], color=colors[i], s=12)
            ax.set_xlim(-1.5, 1.5)
            ax.set_ylim(-1.5, 1.5)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            gram = W[idx] @ W[idx].T
            ax.imshow(gram, cmap="RdBu", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(f"1-S = {probs[idx]:.3g}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_dimensionality(Ws: list[np.ndarray], probs: np.ndarray, path: Path, title: str) -> None:
    """D_i of every represented feature against 1/(1-S), pooled over seeds (one W per seed),
    with m/||W||_F^2 as a line per seed and the fractions the paper sees features stick at
    (its figure 'Feature dimensionality')."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    inv = 1.0 / probs
    rng = np.random.default_rng(0)
    for W in Ws:
        D = sp.feature_dimensionality(W)
        rep = sp.represented(W, 0.1)
        for k in range(len(probs)):
            d = D[k][rep[k]]
            jitter = inv[k] * np.exp(rng.uniform(-0.04, 0.04, len(d)))
            ax.scatter(jitter, d, s=4, alpha=0.35, color="tab:blue", lw=0)
    for s, W in enumerate(Ws):
        ax.plot(inv, sp.dims_per_feature(W), color="black", lw=1.2, alpha=0.8,
                label="m / ||W||_F^2" + (f" ({len(Ws)} seeds)" if len(Ws) > 1 else "")
                if s == 0 else None)
    for a, b in sp.FRACTIONS:
        ax.axhline(a / b, color="gray", lw=0.6, ls="--")
        ax.text(inv.max() * 1.08, a / b, f"{a}/{b}", fontsize=7, va="center")
    ax.set_xscale("log")
    ax.set_xlabel("1 / (1 - S)")
    ax.set_ylabel("D_i  (dimensions per feature)")
    ax.set_ylim(0, 1.1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path)


def load_superposition(results: Any) -> dict[tuple[str, str], list[tuple[Any, dict]]]:
    """(variant, backend) -> [(run, superposition.npz contents)] over the ok seeds."""
    out = {}
    for key, runs in results.groups().items():
        ok = [(r, dict(np.load(r.dir / "superposition.npz"))) for r in runs
              if r.status == "ok" and r.dir is not None
              and (r.dir / "superposition.npz").exists()]
        if ok:
            out[key] = ok
    return out


def fraction_table(Ws: list[np.ndarray], probs: np.ndarray) -> list[str]:
    """Per instance: m/||W||_F^2 (mean and range over seeds) and the represented features, pooled
    over seeds, whose D_i lies within 0.01 of each fraction."""
    dpf = np.stack([sp.dims_per_feature(W) for W in Ws])
    counts = np.sum([sp.fraction_counts(W) for W in Ws], axis=0)
    n_rep = np.sum([sp.represented(W).sum(-1) for W in Ws], axis=0)
    head = " | ".join(f"{a}/{b}" for a, b in sp.FRACTIONS)
    lines = [f"| 1/(1-S) | m/‖W‖² (seeds: mean, min-max) | represented | {head} |",
             "|---|---|---|" + "---|" * len(sp.FRACTIONS)]
    for k, p in enumerate(probs):
        cells = " | ".join(str(int(c)) if c else "" for c in counts[k])
        lines.append(f"| {1 / p:.3g} | {dpf[:, k].mean():.3f} ({dpf[:, k].min():.3f}-"
                     f"{dpf[:, k].max():.3f}) | {int(n_rep[k])} | {cells} |")
    return lines


def superposition_report(results: Any, out_dir: Path) -> str | None:
    groups = load_superposition(results)
    if not groups:
        return None
    lines = ["## Superposition", ""]
    for (variant, backend), runs in groups.items():
        r, data = runs[0]
        W, probs, imp, losses = data["W"], data["probs"], data["importance"], data["losses"]
        Ws = [d["W"] for _, d in runs]
        seeds = ", ".join(str(x.run.seed) for x, _ in runs)
        name = slug(f"{variant}_{backend}")
        shape = f"n={W.shape[1]}, m={W.shape[2]}"
        plot_columns(W, probs, imp, out_dir / f"superposition_W_{name}.png",
                     f"{variant} ({backend}): {shape}, seed {r.run.seed}")
        plot_dimensionality(Ws, probs, out_dir / f"superposition_D_{name}.png",
                            f"{variant} ({backend}): {shape}, seeds {seeds}")
        lines += [f"### {variant} ({backend}, seeds {seeds})", "",
                  f"![W](superposition_W_{name}.png) ![D](superposition_D_{name}.png)", "",
                  "Represented features (‖W_i‖ > 0.5) with D_i within 0.01 of each fraction, "
                  "summed over seeds:", "", *fraction_table(Ws, probs), "",
                  f"Seed {r.run.seed}, per instance:", "",
                  "| 1-S | 1/(1-S) | loss | m/‖W‖² | represented | D_i of represented "
                  "features (sorted) |", "|---|---|---|---|---|---|"]
        D = sp.feature_dimensionality(W)
        rep = sp.represented(W)
        for k, row in enumerate(sp.summarize(W, probs, losses)):
            d = np.sort(D[k][rep[k]])[::-1]
            shown = ", ".join(f"{v:.2f}" for v in d[:12]) + (" ..." if len(d) > 12 else "")
            lines.append(f"| {row['p']:.3g} | {row['inv_density']:.3g} | {row['loss']:.4g} | "
                         f"{row['dims_per_feature']:.3f} | {row['n_represented']} | {shown} |")
        lines.append("")
    lines += backend_comparison(groups)
    return "\n".join(lines)


def backend_comparison(groups: dict[tuple[str, str], list[tuple[Any, dict]]]) -> list[str]:
    """Torch against MLX per variant: m/||W||_F^2 per instance over the seeds of each. Runs of the
    same seed share initial weights and data but drift apart (float rounding, then different
    local minima), so the comparison is statistical: the two spreads should overlap."""
    lines: list[str] = []
    for variant in dict.fromkeys(v for v, _ in groups):
        if (variant, "torch") not in groups or (variant, "mlx") not in groups:
            continue
        dpf = {b: np.stack([sp.dims_per_feature(d["W"]) for _, d in groups[(variant, b)]])
               for b in ("torch", "mlx")}
        probs = groups[(variant, "torch")][0][1]["probs"]
        diff = np.abs(dpf["torch"].mean(0) - dpf["mlx"].mean(0))
        lines += [f"### {variant}: torch vs MLX", "",
                  f"m/‖W‖² per instance (mean over {len(dpf['torch'])} torch and "
                  f"{len(dpf['mlx'])} MLX seeds); mean |difference| {diff.mean():.3f}, "
                  f"largest {diff.max():.3f} at 1/(1-S) = {1 / probs[diff.argmax()]:.3g}.", "",
                  "| 1/(1-S) | torch | MLX |", "|---|---|---|"]
        for k, p in enumerate(probs):
            lines.append(f"| {1 / p:.3g} | {dpf['torch'][:, k].mean():.3f} | "
                         f"{dpf['mlx'][:, k].mean():.3f} |")
        lines.append("")
    return lines


def write_json(path: Path, data: Any) -> None:
    from scratchlab.core.checkpoint import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1))


# --- induction ---------------------------------------------------------------------------

def plot_phase_change(history: list[dict[str, float]], path: Path, title: str) -> bool:
    """Loss on the first half vs the repeated half, and each layer's best induction score,
    over training steps: the induction bump (Olsson et al. 2022, 'phase change')."""
    rows = [h for h in history if "loss_repeated_half" in h]
    if not rows:
        return False
    plt = _plt()
    steps = [h["step"] for h in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(steps, [h["loss_first_half"] for h in rows], label="first half (random)")
    a.plot(steps, [h["loss_repeated_half"] for h in rows], label="repeated half")
    a.set_xlabel("step")
    a.set_ylabel("loss (nats)")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    layers = sorted({k for h in rows for k in h if k.startswith("induction_max_L")})
    for key in layers:
        b.plot(steps, [h.get(key, np.nan) for h in rows], label=key.replace("induction_max_", ""))
    for key in sorted({k for h in rows for k in h if k.startswith("prev_token_max_L0")}):
        b.plot(steps, [h.get(key, np.nan) for h in rows], ls="--", label="prev-token L0")
    b.axhline(0.5, color="gray", lw=0.6, ls=":")
    b.set_xlabel("step")
    b.set_ylabel("best head score")
    b.set_ylim(0, 1)
    b.legend(fontsize=8)
    b.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return True


def induction_report(results: Any, out_dir: Path) -> str | None:
    import shutil

    lines = ["## Induction heads", ""]
    drew = False
    for r in first_ok_runs(results):
        name = slug(f"{r.run.variant}_{r.run.backend}")
        if not plot_phase_change(r.history(), out_dir / f"induction_{name}.png",
                                 f"{r.run.variant} ({r.run.backend}, seed {r.run.seed})"):
            continue
        drew = True
        lines += [f"### {r.run.variant} ({r.run.backend}, seed {r.run.seed})", "",
                  f"![phase change](induction_{name}.png)"]
        if (r.dir / "attention.png").exists():
            shutil.copyfile(r.dir / "attention.png", out_dir / f"attention_{name}.png")
            shutil.copyfile(r.dir / "attention.html", out_dir / f"attention_{name}.html")
            lines += [f"![attention](attention_{name}.png) ([interactive](attention_{name}.html))"]
        scores = r.dir / "induction_scores.json"
        if scores.exists():
            data = json.loads(scores.read_text())
            lines += ["", "| head | induction score | previous-token score |", "|---|---|---|"]
            lines += [f"| {h} | {s['induction']:.3f} | {s['prev_token']:.3f} |"
                      for h, s in data.items()]
        lines.append("")
    return "\n".join(lines) if drew else None


# --- sae ----------------------------------------------------------------------------------

def sae_report(results: Any, out_dir: Path) -> str | None:
    """Curves of FVE, L0 and MMCS over training, and links to the feature pages."""
    import shutil

    plt = _plt()
    keys = [k for k in ("fve", "l0", "mmcs", "dead_frac")
            if any(k in h for r in first_ok_runs(results) for h in r.history())]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for r in first_ok_runs(results):
            rows = [h for h in r.history() if key in h]
            ax.plot([h["step"] for h in rows], [h[key] for h in rows],
                    label=f"{r.run.variant} ({r.run.backend})")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out_dir / "sae_training.png")
    lines = ["## Sparse autoencoders", "", "![training](sae_training.png)", ""]
    for r in first_ok_runs(results):
        page = r.dir / "features.html"
        if page.exists():
            name = slug(f"{r.run.variant}_{r.run.backend}")
            shutil.copyfile(page, out_dir / f"features_{name}.html")
            lines.append(f"- feature page of {r.run.variant} ({r.run.backend}): "
                         f"[features_{name}.html](features_{name}.html)")
    return "\n".join(lines)
