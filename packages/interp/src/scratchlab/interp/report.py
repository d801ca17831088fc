"""Plots and results.md sections the interp tasks add after a sweep (the scratchlab_report
hook). Each task leaves a small artifact in its run folder; these functions read them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.checkpoint import atomic_write_bytes
from scratchlab.interp import superposition as sp


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_fig(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    _plt().close(fig)


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
    save_fig(fig, path)


def plot_dimensionality(W: np.ndarray, probs: np.ndarray, path: Path, title: str) -> None:
    """D_i of every represented feature against 1/(1-S), with m/||W||_F^2 as a line and the
    fractions the paper sees features stick at (its figure 'Feature dimensionality')."""
    plt = _plt()
    D = sp.feature_dimensionality(W)
    rep = sp.represented(W, 0.1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    inv = 1.0 / probs
    rng = np.random.default_rng(0)
    for k in range(len(probs)):
        d = D[k][rep[k]]
        jitter = inv[k] * np.exp(rng.uniform(-0.04, 0.04, len(d)))
        ax.scatter(jitter, d, s=6, alpha=0.5, color="tab:blue")
    ax.plot(inv, sp.dims_per_feature(W), color="black", lw=1.5, label="m / ||W||_F^2")
    for a, b in sp.FRACTIONS:
        ax.axhline(a / b, color="gray", lw=0.6, ls="--")
        ax.text(inv.max() * 1.05, a / b, f"{a}/{b}", fontsize=7, va="center")
    ax.set_xscale("log")
    ax.set_xlabel("1 / (1 - S)")
    ax.set_ylabel("D_i  (dimensions per feature)")
    ax.set_ylim(0, 1.1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_fig(fig, path)


def superposition_report(results: Any, out_dir: Path) -> str | None:
    lines = ["## Superposition", ""]
    drew = False
    for r in first_ok_runs(results):
        path = r.dir / "superposition.npz"
        if not path.exists():
            continue
        data = np.load(path)
        W, probs, imp, losses = data["W"], data["probs"], data["importance"], data["losses"]
        name = slug(f"{r.run.variant}_{r.run.backend}")
        title = (f"{r.run.variant} ({r.run.backend}): n={W.shape[1]}, m={W.shape[2]}, "
                 f"seed {r.run.seed}")
        plot_columns(W, probs, imp, out_dir / f"superposition_W_{name}.png", title)
        plot_dimensionality(W, probs, out_dir / f"superposition_D_{name}.png", title)
        drew = True
        lines += [f"### {r.run.variant} ({r.run.backend}, seed {r.run.seed})", "",
                  f"![W](superposition_W_{name}.png) ![D](superposition_D_{name}.png)", "",
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
    return "\n".join(lines) if drew else None


def write_json(path: Path, data: Any) -> None:
    from scratchlab.core.checkpoint import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1))
