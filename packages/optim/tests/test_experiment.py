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
