"""experiments/moe_vs_dense.yaml through the real runner, shrunk by --set overrides, and the
expert-load report it produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchlab.core.runner import run_sweep
from scratchlab.core.spec import load_spec
from scratchlab.core.testing import BACKENDS

pytest.importorskip("scratchlab.transformer.lm.config")

SPEC = Path(__file__).resolve().parents[3] / "experiments" / "moe_vs_dense.yaml"
TINY = ["seeds=[0]", "train.steps=4", "train.eval_every=2", "train.eval_batches=1",
        "train.batch_size=2", "model.n_layers=2", "model.d_model=16", "model.n_heads=2",
        "data.block_size=16", "data.dataset.max_bytes=4000"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_moe_vs_dense_smoke(tmp_path: Path, backend: str) -> None:
    spec = load_spec(SPEC, overrides=TINY, backends=[backend])
    sweep = run_sweep(spec, tmp_path)
    assert [r.status for r in sweep.results] == ["ok"] * len(spec.variants), \
        [r.error for r in sweep.results]
    metrics = {r.run.variant: r.metrics for r in sweep.results}
    # equal active parameters (within the router's E*d per layer), 8 experts hold ~4x more
    dense, moe, total = metrics["dense_active"], metrics["moe"], metrics["dense_total"]
    assert abs(moe["params_active"] - dense["params_active"]) <= 0.05 * dense["params_active"]
    assert moe["params_total"] > 2 * moe["params_active"]
    assert abs(total["params_total"] - moe["params_total"]) <= 0.05 * moe["params_total"]
    md = (tmp_path / "moe_vs_dense" / "results.md").read_text()
    assert "## Expert load" in md and "| moe |" in md
    assert (tmp_path / "moe_vs_dense" / f"expert_load_moe_{backend}.png").exists()
    moe_run = next(r for r in sweep.results if r.run.variant == "moe")
    last = moe_run.history()[-1]
    loads = [last[f"blocks.0.mlp.load.{e}"] for e in range(8)]
    assert sum(loads) == pytest.approx(1.0, abs=1e-6)
    assert "blocks.1.mlp.aux_loss" in last and "blocks.0.mlp.dropped_frac" in last
