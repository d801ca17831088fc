"""Each experiment spec runs through the real runner in a tiny configuration; bad input gets
one clear error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from scratchlab.core.errors import ScratchlabError
from scratchlab.core.runner import run_sweep
from scratchlab.core.spec import load_spec
from scratchlab.core.testing import needs_both

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def run_tiny(name: str, tmp_path: Path, overrides: list[str], seeds: list[int] | None = None):
    spec = load_spec(EXPERIMENTS / name, overrides=overrides)
    if seeds is not None:
        spec = spec.__class__(**{**spec.__dict__, "seeds": seeds})
    sweep = run_sweep(spec, tmp_path)
    assert [r.status for r in sweep.results] == ["ok"] * len(sweep.results), \
        [(r.run.variant, r.error) for r in sweep.results]
    md = (sweep.dir / "results.md").read_text()
    assert "## Reinforcement learning" in md
    return sweep, md


@needs_both
@pytest.mark.slow
def test_ppo_cartpole_spec_smoke(tmp_path):
    # a 2-episode window and a target of 25 a random policy reaches now and then, so that
    # late_below_target is neither 0 nor 1 and its bookkeeping is checked against the log
    sweep, md = run_tiny("ppo_cartpole.yaml", tmp_path, [
        "train.total_steps=1024", "algorithm.num_steps=32", "algorithm.num_envs=2",
        "agent.hidden=8", "train.window=2", "train.target_return=25"])
    assert len(sweep.results) == 6  # 3 seeds x 2 backends
    for r in sweep.results:
        rows = r.history()
        assert rows and rows[-1]["step"] == 1024 and "grad_norm" in rows[-1]
        late = [row.get("return_mean2", -math.inf) < 25 for row in rows if row["step"] > 512]
        assert r.metrics["late_below_target"] == pytest.approx(sum(late) / len(late))
        assert 0 < r.metrics["late_below_target"] < 1
        assert (r.dir / "checkpoint.safetensors").exists()
    assert (sweep.dir / "returns.png").exists() or "steps to target" in md


@pytest.mark.slow
def test_pg_variance_spec_smoke(tmp_path):
    sweep, md = run_tiny("pg_variance.yaml", tmp_path, [
        "train.total_steps=100", "variance.batches=3", "variance.critic_fit_batches=1",
        "algorithm.batch_episodes=2", "env.max_episode_steps=20"], seeds=[0])
    assert len(sweep.results) == 13  # 13 variants, one seed here
    assert "Gradient estimators" in md
    for r in sweep.results:
        assert r.metrics["grad_var"] >= 0 and r.metrics["grad_bias"] >= 0


def test_ppo_with_a_variance_measurement_is_a_clear_error(tmp_path):
    spec = load_spec(EXPERIMENTS / "ppo_cartpole.yaml", overrides=[
        "variance.batches=2", "train.total_steps=64", "algorithm.num_steps=16"])
    sweep = run_sweep(spec.__class__(**{**spec.__dict__, "backends": ["torch"], "seeds": [0]}),
                      tmp_path)
    assert sweep.results[0].status == "failed"
    assert "policy-gradient algorithm" in sweep.results[0].error


@pytest.mark.parametrize("override,needle", [
    ("algorithm.num_minibatches=3", "divisible"),
    ("algorithm.name=ppo2", "ppo"),
    ("env.max_episode_steps=0", "positive"),
    ("algorithm.clip_cof=0.1", "clip_coef"),
])
def test_bad_specs_name_the_problem(override, needle):
    with pytest.raises(ScratchlabError, match=needle):
        load_spec(EXPERIMENTS / "ppo_cartpole.yaml", overrides=[override]).runs()


@needs_both
def test_rl_posttrain_spec_smoke(tmp_path):
    spec = load_spec(EXPERIMENTS / "rl_posttrain.yaml", overrides=[
        "steps=3", "eval_every=2", "eval_prompts=8", "batch_size=4", "d_model=8"])
    sweep = run_sweep(spec, tmp_path)
    assert [r.status for r in sweep.results] == ["ok"] * 8  # incl. the transformer's gpt
    assert (sweep.dir / "results.md").exists()
    for r in sweep.results:
        assert 0.0 <= r.metrics["reward"] <= 1.0


def test_pg_variance_variants_differ_only_in_the_estimator():
    """A variant that renames its algorithm replaces the base mapping: guard the shared
    hyperparameters, or the comparison (and the exact gamma = 1 reference) would be void."""
    runs = load_spec(EXPERIMENTS / "pg_variance.yaml").runs()
    shared = {(a.lr, a.gamma, a.batch_episodes) for a in (r.config.algorithm.config for r in runs)}
    assert shared == {(0.05, 1.0, 8)}
    critic = {(r.config.algorithm.config.critic_lr, r.config.variance.batches,
                r.config.variance.critic_fit_batches) for r in runs if "rough" not in r.variant}
    assert critic == {(0.5, 300, 20)}
    rough = {(r.config.algorithm.config.critic_lr, r.config.variance.batches,
              r.config.variance.critic_fit_batches) for r in runs if "rough" in r.variant}
    assert rough == {(0.05, 300, 10)}
    assert len(runs) == 13 * 3
    assert {r.config.algorithm.name for r in runs} == {
        "reinforce", "reinforce_baseline", "reinforce_value", "actor_critic", "gae"}


def test_ppo_time_limits_is_the_spec_with_and_without_the_bootstrap():
    """The comparison is only about the truncation: its bootstrapped arm must be exactly
    ppo_cartpole.yaml's PPO (same runs, same numbers), the other differ in that flag alone."""
    base = load_spec(EXPERIMENTS / "ppo_cartpole.yaml").runs()[0].config
    runs = load_spec(EXPERIMENTS / "ppo_time_limits.yaml").runs()
    assert len(runs) == 2 * 2 * 10
    for r in runs:
        algo = r.config.algorithm.config
        assert algo.bootstrap_truncated == (r.variant == "bootstrapped")
        assert {**algo.__dict__, "bootstrap_truncated": True} == base.algorithm.config.__dict__
        assert (r.config.agent, r.config.train, r.config.env) == (base.agent, base.train, base.env)
