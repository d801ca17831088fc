"""shakespeare_char: validation loss and wall time of experiments/shakespeare_char.yaml (nanoGPT's
tiny CPU configuration) through the real runner, against nanoGPT's 1.886 in 76 s measured on the
same 2-core machine (the target: loss <= 1.89 in less time).

    python benchmarks/transformer_shakespeare.py                       # torch, 2000 steps
    python benchmarks/transformer_shakespeare.py --backend mlx
    python benchmarks/transformer_shakespeare.py --path /data/tinyshakespeare.txt --steps 200 --no-write

wall_s is the task's own time: reading and encoding the text, 2000 training steps and the 9
evaluations (20 batches of 12 windows each, as nanoGPT's CPU command with eval_iters=20); no
text sample (eval.sample_tokens=0), since nanoGPT's time does not include one either.

The table also turns each wall time into the FLOP rate it implies (6 N + 12 L d T per trained
token, a third of that per evaluated token; transformer_train.py's count), next to this
machine's measured fp32 matmul rates, so a reference time can be checked against what the
hardware can do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transformer_train import DOC, command, matmul_peak

from scratchlab.core.bench import write_section

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "shakespeare_char.yaml"
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
REFERENCE = ("nanoGPT (published reference, same machine)", "torch", 2000, 1.886, 76.0, None)
SHAPE = {"n_layers": 4, "d_model": 128, "block": 64, "batch": 12, "vocab": 65,
         "eval_every": 250, "eval_batches": 20}


def work_flops(steps: int, nanogpt: bool = False) -> float:
    """FLOPs of a run: training steps (6 N + 12 L d T per token) plus its evaluations (a third
    per token: forward only). nanoGPT evaluates both splits, we evaluate the val split."""
    L, d, T, B, V = (SHAPE[k] for k in ("n_layers", "d_model", "block", "batch", "vocab"))
    n = L * 12 * d * d + V * d  # blocks (no biases) + the tied embedding / output matrix
    per_token = 6 * n + 12 * L * d * T
    evals = steps // SHAPE["eval_every"] + 1
    eval_tokens = evals * SHAPE["eval_batches"] * B * T * (2 if nanogpt else 1)
    return per_token * (steps * B * T) + per_token / 3 * eval_tokens


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--path", type=Path, default=DEFAULT_TEXT, help="tinyshakespeare.txt")
    p.add_argument("--backend", action="append", default=None, help="torch (default) and/or mlx")
    p.add_argument("--steps", type=int, default=None, help="fewer steps for a quick look")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    p.add_argument("--note", default="", help="a line to print under the table (e.g. the load)")
    args = p.parse_args()
    if not args.path.exists():
        sys.exit(f"no text at {args.path}; give --path /path/to/tinyshakespeare.txt")
    from scratchlab.core.runner import run_sweep
    from scratchlab.core.spec import load_spec

    overrides = [f"data.dataset.path={args.path}", "eval.sample_tokens=0", *args.overrides]
    if args.steps:
        overrides.append(f"train.steps={args.steps}")
    spec = load_spec(SPEC, overrides, args.backend or ["torch"])
    rows = [REFERENCE]
    with tempfile.TemporaryDirectory() as out:
        sweep = run_sweep(spec, Path(out), threads=args.threads)
        for r in sweep.results:
            if r.status != "ok":
                sys.exit(f"{r.run.backend}: {r.status}: {r.error}")
            m = r.metrics
            steps = args.steps or 2000
            rows.append(("scratchlab lm task", r.run.backend, steps, m["val_loss"], m["wall_s"],
                         m["tokens_per_s"]))
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    peak_large, peak_small = matmul_peak(2048), matmul_peak(768, 128, 512, repeats=50)
    cmd = command("benchmarks/transformer_shakespeare.py")
    lines = [
        "## shakespeare_char: loss and wall time (transformer_shakespeare)", "",
        "experiments/shakespeare_char.yaml: characters of Tiny Shakespeare, 4 layers, 4 heads, "
        "128 wide, context 64, batch 12, lr 1e-3 warmup 100 + cosine to 1e-4, no dropout; "
        "evaluation every 250 steps on 20 batches. Target: val loss <= 1.89 in less than 76 s.", "",
        "| implementation | backend | steps | val loss | wall s | training tokens/s | "
        "GFLOP/s over the wall time |",
        "|---|---|---|---|---|---|---|",
        *(f"| {n} | {b} | {s} | {v:.3f} | {w:.1f} | {'' if t is None else f'{t:,.0f}'} | "
          f"{work_flops(s, nanogpt=t is None) / w / 1e9:.0f} |" for n, b, s, v, w, t in rows),
        "", f"torch {torch.__version__}, {threads} thread(s). This machine's fp32 matmul rate "
        f"with {threads} thread(s): {peak_large / 1e9:.0f} GFLOP/s at 2048x2048x2048, "
        f"{peak_small / 1e9:.0f} GFLOP/s at 768x128x512 (the MLP's shape here). The reference's "
        f"76 s means {work_flops(2000, nanogpt=True) / 76 / 1e9:.0f} GFLOP/s sustained over the "
        "whole run, elementwise work, evaluation and start-up included.",
        "", f"Command: `{cmd.strip()}`",
        *(["", f"Note: {args.note}"] if args.note else []),
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("transformer_shakespeare", table, DOC)


if __name__ == "__main__":
    main()
