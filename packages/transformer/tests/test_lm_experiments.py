"""Smoke tests: each lm experiment spec runs through the real runner in a tiny configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchlab.core.runner import run_sweep
from scratchlab.core.spec import load_spec
from scratchlab.core.testing import needs_torch

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
TINY = ["seeds=[0]", "backends=[torch]", "train.steps=3", "train.batch_size=2",
        "train.eval_every=3", "train.eval_batches=1", "model.d_model=16", "model.n_layers=1",
        "eval.sample_tokens=4"]


def check(sweep) -> None:  # type: ignore[no-untyped-def]
    assert sweep.results and not sweep.failed, [(r.run.variant, r.error) for r in sweep.failed]
    assert (sweep.dir / "results.md").exists()


@needs_torch
@pytest.mark.slow
def test_positional_spec(tmp_path: Path) -> None:
    spec = load_spec(EXPERIMENTS / "positional.yaml", [
        *TINY, "data.block_size=16", "eval.lengths=[32]",
        "data.dataset.part=docs", "data.dataset.max_bytes=20000"])
    sweep = run_sweep(spec, tmp_path)
    check(sweep)
    assert sorted(r.run.variant for r in sweep.results) == [
        "alibi", "learned", "none", "rope", "sinusoidal"]
    assert "val_loss_at_32" in (sweep.dir / "results.csv").read_text()


@needs_torch
def test_shakespeare_char_spec(tmp_path: Path) -> None:
    text = tmp_path / "tiny.txt"
    text.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 40)
    spec = load_spec(EXPERIMENTS / "shakespeare_char.yaml", [
        *TINY, "data.block_size=16", f"data.dataset.path={text}"])
    sweep = run_sweep(spec, tmp_path)
    check(sweep)
    run_dir = sweep.results[0].dir
    assert run_dir is not None and (run_dir / "sample.txt").read_text().startswith("\n")
