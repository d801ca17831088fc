"""experiments/adam_vs_muon.yaml through the real runner, tiny; and the report section."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchlab.core.registry import get_registry

SPEC = Path(__file__).resolve().parents[3] / "experiments" / "adam_vs_muon.yaml"
TINY = ["train.steps=4", "train.eval_every=2", "train.eval_batches=1", "train.batch_size=2",
        "train.checkpoint_every=4", "data.block_size=8", "model.d_model=16", "model.n_layers=1",
        "model.n_heads=2", "model.ffn.hidden=32", "seeds=[0]", "data.dataset.max_bytes=20000",
        "schedule.warmup=1"]


def has_lm() -> bool:
    return get_registry().find("task", "lm", "torch") is not None


@pytest.mark.slow
@pytest.mark.skipif(not has_lm(), reason="the lm task (scratchlab-transformer) is not installed")
def test_adam_vs_muon_smoke(tmp_path: Path) -> None:
    from scratchlab.core.runner import run_sweep
    from scratchlab.core.spec import load_spec

    spec = load_spec(SPEC, overrides=TINY)
    sweep = run_sweep(spec, tmp_path)
    assert sweep.results and all(r.status == "ok" for r in sweep.results), \
        [(r.run.variant, r.error) for r in sweep.results if r.status != "ok"]
    assert {r.run.backend for r in sweep.results} == {"torch", "mlx"}
    md = (sweep.dir / "results.md").read_text()
    assert "steps to reach AdamW's final validation loss" in md
    assert "| muon[optimizer.lr=0.02] | muon |" in md
    assert (sweep.dir / "optimizers_best_val_loss.png").exists()


@pytest.mark.skipif(not has_lm(), reason="the lm task (scratchlab-transformer) is not installed")
def test_report_is_silent_for_sweeps_without_optimizer_variants(tmp_path: Path) -> None:
    from scratchlab.core.results import RunResult, SweepResults
    from scratchlab.core.spec import load_spec
    from scratchlab.optim.report import optimizer_report

    spec = load_spec(SPEC, overrides=TINY)
    runs = [r for r in spec.runs() if r.variant.startswith("adamw")]
    results = SweepResults(spec, [RunResult(r, "ok", {}, dir=tmp_path) for r in runs], tmp_path)
    assert optimizer_report("lm", results, tmp_path) is None
    assert optimizer_report("classify", results, tmp_path) is None


@pytest.mark.skipif(not has_lm(), reason="the lm task (scratchlab-transformer) is not installed")
def test_report_counts_steps_to_reach_the_best_adamw_loss(tmp_path: Path) -> None:
    import json

    from scratchlab.core.results import RunResult, SweepResults
    from scratchlab.core.spec import load_spec
    from scratchlab.optim.report import optimizer_report

    spec = load_spec(SPEC, overrides=[*TINY, "backends=[torch]"])
    curves = {  # per variant label: val_loss at steps 10..40 (the same for every seed)
        "adamw[optimizer.lr=0.001]": [3.0, 2.8, 2.7, 2.6],
        "adamw[optimizer.lr=0.003]": [2.9, 2.6, 2.5, 2.4],  # the best AdamW: target 2.4 at 40
        "adamw[optimizer.lr=0.01]": [3.1, 3.0, 2.9, 2.8],
        "muon[optimizer.lr=0.01]": [2.7, 2.4, 2.2, 2.1],  # reaches 2.4 at step 20: 0.50
        "muon[optimizer.lr=0.02]": [2.8, 2.5, 2.45, 2.41],  # never reaches it
        "muon[optimizer.lr=0.05]": [2.3, 2.2, 2.1, 2.0],  # at step 10: 0.25
    }
    results = []
    for run in spec.runs():
        d = tmp_path / run.id
        d.mkdir()
        rows = [{"step": 10 * (i + 1), "val_loss": v} for i, v in enumerate(curves[run.variant])]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        results.append(RunResult(run, "ok", {"val_loss": rows[-1]["val_loss"]}, dir=d))
    md = optimizer_report("lm", SweepResults(spec, results, tmp_path), tmp_path)
    assert md is not None
    assert "reference `adamw[optimizer.lr=0.003]`, final val_loss 2.4000 at step 40" in md
    assert "| muon[optimizer.lr=0.01] | muon | 1 | 2.7000 | 2.4000 | 2.2000 | 2.1000 | 20 | 0.50 |" in md
    assert "| muon[optimizer.lr=0.02] | muon | 1 | 2.8000 | 2.5000 | 2.4500 | 2.4100 | — | not reached |" in md
    assert "| muon[optimizer.lr=0.05] | muon | 1 | 2.3000 | 2.2000 | 2.1000 | 2.0000 | 10 | 0.25 |" in md
    assert (tmp_path / "optimizers_best_val_loss.png").exists()
