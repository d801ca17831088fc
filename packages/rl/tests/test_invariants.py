"""DPO and GRPO by their invariants, in both backends."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scratchlab.core.testing import BACKENDS, assert_close
from scratchlab.rl.advantages import grpo_advantages as np_grpo


def ops(backend):
    if backend == "torch":
        import torch

        from scratchlab.rl.torch import losses

        return losses, lambda a: torch.tensor(np.asarray(a, np.float32))
    import mlx.core as mx

    from scratchlab.rl.mlx import losses

    return losses, lambda a: mx.array(np.asarray(a, np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), beta=st.floats(0.01, 5.0))
def test_dpo_loss_is_ln2_when_policy_equals_reference(backend, seed, beta):
    losses, arr = ops(backend)
    rng = np.random.default_rng(seed)
    chosen, rejected = rng.normal(-5, 3, 8), rng.normal(-5, 3, 8)
    loss = losses.dpo_loss(arr(chosen), arr(rejected), arr(chosen), arr(rejected), beta)
    assert float(loss.item()) == pytest.approx(math.log(2), abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dpo_loss_is_the_bradley_terry_negative_log_likelihood(backend):
    losses, arr = ops(backend)
    pc, pr, rc, rr = np.array([-1.0, -2.0]), np.array([-3.0, -1.0]), np.array([-2.0, -2.0]), np.array([-2.0, -2.0])
    beta = 0.5
    margin = beta * ((pc - rc) - (pr - rr))
    want = np.mean(np.log1p(np.exp(-margin)))  # -log sigmoid
    assert float(losses.dpo_loss(arr(pc), arr(pr), arr(rc), arr(rr), beta).item()) == pytest.approx(want, rel=1e-6)
    # a policy that prefers the chosen answer more than the reference does has a lower loss
    better = losses.dpo_loss(arr(pc + 1), arr(pr), arr(rc), arr(rr), beta)
    assert float(better.item()) < want


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), groups=st.integers(1, 5), size=st.integers(2, 9))
@example(seed=124, groups=1, size=2)  # two nearly equal rewards (found by hypothesis)
def test_grpo_advantages_zero_mean_and_match_numpy(backend, seed, groups, size):
    losses, arr = ops(backend)
    rewards = np.random.default_rng(seed).random((groups, size)).astype(np.float32)
    adv = losses.grpo_advantages(arr(rewards))
    assert_close(adv, np_grpo(rewards.astype(np.float64)), rtol=1e-4, atol=1e-4)
    # zero mean up to float32 rounding of r - mean, relative to the group's spread (two rewards
    # 6e-4 apart at 0.79 leave a mean of 1e-4: each r - mean carries a relative error of 2e-4)
    rounding = 4 * np.finfo(np.float32).eps * np.abs(rewards).max() / (rewards.std(-1).min() + 1e-6)
    assert_close(adv.mean(-1), np.zeros(groups), rtol=0, atol=1e-5 + rounding)


@pytest.mark.parametrize("backend", BACKENDS)
@given(value=st.floats(-10, 10), size=st.integers(2, 9))
@settings(max_examples=10, deadline=None)
def test_grpo_advantages_vanish_when_all_rewards_are_equal(backend, value, size):
    losses, arr = ops(backend)
    adv = losses.grpo_advantages(arr(np.full((3, size), value)))
    assert np.all(np.asarray(adv.tolist()) == 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_grpo_loss_is_minus_the_advantage_weighted_logprob_on_policy(backend):
    """At ratio 1 and policy == reference the clip and KL terms vanish: loss = -mean(A)."""
    losses, arr = ops(backend)
    lp = np.log(np.random.default_rng(0).random((4, 3)))
    adv = np.array([1.0, -1.0, 0.5, 2.0])
    loss = losses.grpo_loss(arr(lp), arr(lp), arr(lp), arr(adv), arr(np.ones((4, 3))), 0.2, 0.1)
    assert float(loss.item()) == pytest.approx(-adv.mean(), abs=1e-6)
