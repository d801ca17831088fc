"""How low-rank is full fine-tuning's weight change? LoRA assumes the update a fine-tuning
needs, ΔW = W_finetuned - W_pretrained, has a low "intrinsic rank"; this measures it on the
runs of a finished lora_vs_full sweep (no training, NumPy only).

    run-exp experiments/lora_vs_full.yaml --jobs 2 --threads 1
    python benchmarks/lora_rank.py results/lora_vs_full            # -> docs/benchmarks.md
    python benchmarks/lora_rank.py results/lora_vs_full --no-write

For every seed of every full fine-tuning variant (no adapter; ``--variant`` picks some) and
every weight matrix, ΔW against the cached
pretrained weights of the same seed: its size relative to W, the share of its energy (squared
Frobenius norm) in its top-r singular directions, which is what the best rank-r update could
hold, and how many directions hold 90%.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from scratchlab.core.bench import write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"


def runs_of(sweep: Path) -> list[tuple[dict, Path]]:
    """(config.json header, folder) of every finished run."""
    out = []
    for folder in sorted((sweep / "runs").iterdir()):
        result = folder / "result.json"
        if result.exists() and json.loads(result.read_text()).get("status") == "ok":
            out.append((json.loads((folder / "config.json").read_text()), folder))
    return out


def full_variants(sweep: Path, runs: list[tuple[dict, Path]]) -> list[str]:
    """The full fine-tuning variants (no adapter, not base), in the spec's order."""
    import yaml

    names = {h["variant"] for h, _ in runs
             if h["variant"] != "base" and h["config"].get("adapter") is None}
    if not names:
        raise SystemExit("no full fine-tuning run in this sweep")
    spec = sweep / "spec.resolved.yaml"
    runs_in_order = yaml.safe_load(spec.read_text()).get("runs", []) if spec.exists() else []
    order = list(dict.fromkeys(r["variant"] for r in runs_in_order))
    return sorted(names, key=lambda v: (order.index(v) if v in order else len(order), v))


def pretrained(sweep: Path, seed: int, backend: str) -> Path:
    for folder in sorted((sweep / "pretrain").iterdir()):
        head = json.loads((folder / "config.json").read_text()) \
            if (folder / "config.json").exists() else {}
        if head.get("seed") == seed and head.get("backend") == backend:
            return folder / "model.safetensors"
    raise SystemExit(f"no pretrained weights for seed {seed} ({backend}) in {sweep}/pretrain")


def spectrum(dw: np.ndarray, r: int) -> tuple[float, int]:
    """(share of ΔW's energy in its top r singular directions, directions for 90%)."""
    energy = np.linalg.svd(dw.astype(np.float64), compute_uv=False) ** 2
    cum = np.cumsum(energy) / energy.sum()
    return float(cum[min(r, len(cum)) - 1]), int(np.searchsorted(cum, 0.9) + 1)


def main() -> None:
    from scratchlab.transformer.lm.data import model_tensors

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep", nargs="?", default=str(ROOT / "results" / "lora_vs_full"))
    p.add_argument("--variant", nargs="+", help="full fine-tuning variants (default: all)")
    p.add_argument("--r", type=int, default=8, help="the LoRA rank to compare with")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = p.parse_args()
    sweep = Path(args.sweep)
    runs = runs_of(sweep)
    variants = args.variant or full_variants(sweep, runs)
    rows: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for head, folder in sorted(runs, key=lambda hf: variants.index(hf[0]["variant"])
                               if hf[0]["variant"] in variants else -1):
        if head["variant"] not in variants:
            continue
        after = model_tensors(folder / "checkpoint.safetensors")
        before = model_tensors(pretrained(sweep, head["seed"], head["backend"]))
        for name, w0 in before.items():
            if w0.ndim != 2:
                continue
            dw = after[name] - w0
            rel = float(np.linalg.norm(dw) / np.linalg.norm(w0))
            top, rank90 = spectrum(dw, args.r) if name != "wte.weight" else (float("nan"), 0)
            rows.setdefault((head["variant"], name), []).append((rel, top, rank90))
            shapes[name] = w0.shape
    if not rows:
        raise SystemExit(f"no finished run of {variants} in {sweep}")
    lines = []
    for (variant, name), vals in rows.items():
        rel, top, rank90 = (np.mean([v[i] for v in vals]) for i in range(3))
        spec = "—" if name == "wte.weight" else f"{100 * top:.0f}"
        r90 = "—" if name == "wte.weight" else f"{rank90:.0f} of {min(shapes[name])}"
        lines.append(f"| {variant} | `{name}` | {shapes[name][0]} x {shapes[name][1]} | {rel:.3f} | {spec} "
                     f"| {r90} |")
        print(lines[-1], flush=True)
    n_seeds = len(next(iter(rows.values())))
    body = "\n".join([
        "## How low-rank is full fine-tuning's update? (lora_rank)",
        "",
        f"`python benchmarks/lora_rank.py {args.sweep}` after `run-exp "
        "experiments/lora_vs_full.yaml --jobs 2 --threads 1`: ΔW = fine-tuned - pretrained "
        f"weights of each full fine-tuning run, mean over {n_seeds} seeds. |ΔW|/|W| in Frobenius norm; "
        f"top-{args.r} energy = share of |ΔW|² in its {args.r} largest singular directions "
        f"(the most a rank-{args.r} update could hold); rank for 90% = singular directions "
        "holding 90% of it. `wte` is the (tied) embedding, which LoRA on linear layers leaves "
        "frozen.",
        "",
        f"| variant | weight | shape | \\|ΔW\\|/\\|W\\| | top-{args.r} energy % | rank for 90% |",
        "|---|---|---|---|---|---|",
        *lines,
    ])
    print(body)
    if not args.no_write:
        write_section("lora_rank", body, DOC)


if __name__ == "__main__":
    main()
