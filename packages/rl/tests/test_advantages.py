"""GAE, reward-to-go and TD errors against their definitions (NumPy, framework-free)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.rl.advantages import estimate, gae, grpo_advantages, reward_to_go, td_errors


def brute_gae(r, v, d, gamma, lam, last_v):
    """A_t = sum_l (gamma lambda)^l delta_{t+l}, stopping after an episode's end."""
    T, N = r.shape
    nv = np.concatenate([v[1:], last_v[None]])
    delta = r + gamma * (1 - d) * nv - v
    adv = np.zeros_like(r)
    for n in range(N):
        for t in range(T):
            acc, w = 0.0, 1.0
            for k in range(t, T):
                acc += w * delta[k, n]
                if d[k, n]:
                    break
                w *= gamma * lam
            adv[t, n] = acc
    return adv


def random_batch(seed, T=7, N=3):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(T, N)), rng.normal(size=(T, N)),
            (rng.random((T, N)) < 0.3).astype(float), rng.normal(size=N))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.floats(0.0, 1.0), lam=st.floats(0.0, 1.0))
def test_gae_is_the_exponentially_weighted_sum_of_td_errors(seed, gamma, lam):
    r, v, d, lv = random_batch(seed)
    adv, ret = gae(r, v, d, gamma, lam, lv)
    np.testing.assert_allclose(adv, brute_gae(r, v, d, gamma, lam, lv), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret, adv + v)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.floats(0.0, 1.0))
def test_gae_endpoints_are_td_error_and_monte_carlo(seed, gamma):
    r, v, d, lv = random_batch(seed)
    np.testing.assert_allclose(gae(r, v, d, gamma, 0.0, lv)[0], td_errors(r, v, d, gamma, lv))
    np.testing.assert_allclose(gae(r, v, d, gamma, 1.0, lv)[0],
                               reward_to_go(r, d, gamma, lv) - v, atol=1e-10)


def test_reward_to_go_of_one_episode():
    r = np.array([[1.0], [2.0], [3.0]])
    d = np.array([[0.0], [0.0], [1.0]])
    np.testing.assert_allclose(reward_to_go(r, d, 0.5), [[1 + 0.5 * 2 + 0.25 * 3], [2 + 1.5], [3]])


def test_estimators_agree_on_their_definitions():
    r, v, d, lv = random_batch(3)
    g = reward_to_go(r, d, 0.9, lv)
    np.testing.assert_allclose(estimate("return", r, v, d, 0.9, 0.5, lv)[0], g)
    np.testing.assert_allclose(estimate("constant", r, v, d, 0.9, 0.5, lv, baseline=2.0)[0], g - 2)
    np.testing.assert_allclose(estimate("value", r, v, d, 0.9, 0.5, lv)[0], g - v)
    np.testing.assert_allclose(estimate("td", r, v, d, 0.9, 0.5, lv)[0], td_errors(r, v, d, 0.9, lv))


def test_grpo_reference_invariants():
    rng = np.random.default_rng(0)
    a = grpo_advantages(rng.random((5, 8)))
    np.testing.assert_allclose(a.mean(-1), 0, atol=1e-7)
    np.testing.assert_allclose(a.std(-1), 1, atol=1e-4)
    assert np.all(grpo_advantages(np.full((3, 4), 0.7)) == 0)
