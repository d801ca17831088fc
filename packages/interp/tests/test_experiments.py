"""Every interp experiment spec runs through the real runner in a tiny configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchlab.core.runner import run_sweep
from scratchlab.core.spec import load_spec

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"

SMOKE = {
    "superposition.yaml": ["steps=20", "batch_size=64", "n_instances=3", "eval_every=10"],
    "sae_toy.yaml": ["steps=20", "batch_size=64", "eval_samples=256", "eval_every=10"],
    "sae_lm.yaml": ["steps=10", "batch_size=64", "eval_samples=256", "lm.steps=3",
                    "lm.buffer_tokens=512", "lm.eval_batches=1", "lm.batch_size=4",
                    "sae.d_sae=32", "sae.k=4", "lm.n_feature_page=3"],
    "induction.yaml": ["steps=6", "eval_every=3", "half_len=6", "eval_batch=4",
                       "batch_size=4", "min_half_len=3"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMOKE))
def test_experiment_smoke(name, tmp_path):
    spec = load_spec(EXPERIMENTS / name, overrides=SMOKE[name])
    sweep = run_sweep(spec, tmp_path)
    assert [r.status for r in sweep.results] == ["ok"] * len(sweep.results), \
        [(r.run.variant, r.run.backend, r.error) for r in sweep.results]
    md = (sweep.dir / "results.md").read_text()
    assert md.startswith(f"# {spec.name}")
    expected = {"superposition.yaml": "superposition_D_", "sae_toy.yaml": "sae_training.png",
                "sae_lm.yaml": "features_", "induction.yaml": "induction_"}[name]
    assert expected in md
