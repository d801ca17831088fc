"""The ``bpe`` task's plot: bytes per token and training time against vocabulary size."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from scratchlab.core.results import save_figure


def vocab_plot(results: Any, out_dir: Path) -> str | None:
    points: dict[str, dict[float, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for r in results.results:
        m = r.metrics
        if r.status == "ok" and "vocab_size" in m:
            points[r.run.variant.split("[")[0]][m["vocab_size"]].append(
                (m["bytes_per_token"], m["train_s"]))
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, by_size in points.items():
        sizes = sorted(by_size)
        bpt = [sum(p[0] for p in by_size[s]) / len(by_size[s]) for s in sizes]
        secs = [sum(p[1] for p in by_size[s]) / len(by_size[s]) for s in sizes]
        ax1.plot(sizes, bpt, "o-", label=variant)
        ax2.plot(sizes, secs, "o-", label=variant)
    for ax, label in ((ax1, "bytes per token (validation)"), (ax2, "training time (s)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("vocabulary size")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_dir / "bpe_vocab.png", dpi=110)
    return ("## Vocabulary size\n\n![bytes per token and training time against vocabulary "
            "size](bpe_vocab.png)")
