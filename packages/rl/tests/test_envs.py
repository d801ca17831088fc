"""The environments: the corridor's exact solution, and the CartPole batch vs Gymnasium."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from scratchlab.rl.config import CartPoleConfig, CorridorConfig
from scratchlab.rl.envs import (
    CORRIDOR_OPTIMAL_P,
    CORRIDOR_OPTIMAL_VALUE,
    CartPole,
    ShortCorridor,
    corridor_value,
    corridor_value_grad,
)


def test_corridor_optimum_is_sutton_and_barto():
    assert pytest.approx(0.5858, abs=1e-4) == CORRIDOR_OPTIMAL_P
    assert pytest.approx(-11.657, abs=1e-3) == CORRIDOR_OPTIMAL_VALUE
    assert corridor_value(CORRIDOR_OPTIMAL_P) == pytest.approx(CORRIDOR_OPTIMAL_VALUE)
    assert corridor_value_grad(CORRIDOR_OPTIMAL_P) == pytest.approx(0.0, abs=1e-9)
    ps = np.linspace(0.05, 0.95, 181)
    assert abs(ps[np.argmax([corridor_value(p) for p in ps])] - CORRIDOR_OPTIMAL_P) < 0.005
    eps = 1e-6
    assert corridor_value_grad(0.3) == pytest.approx(
        (corridor_value(0.3 + eps) - corridor_value(0.3 - eps)) / (2 * eps), rel=1e-5)


@pytest.mark.parametrize("p", [0.3, CORRIDOR_OPTIMAL_P, 0.8])
def test_corridor_monte_carlo_return_matches_the_formula(p):
    env = ShortCorridor(CorridorConfig(max_episode_steps=10_000), num_envs=4000, seed=0)
    rng = np.random.default_rng(0)
    env.reset()
    ret, first = np.zeros(4000), np.full(4000, np.nan)  # each env's first episode: no
    while np.isnan(first).any():                       # bias toward short episodes
        _, rew, term, trunc, _ = env.step((rng.random(env.num_envs) < p).astype(np.int64))
        ret += rew
        ended = (term | trunc) & np.isnan(first)
        first[ended] = ret[ended]
        ret[term | trunc] = 0.0
    assert first.mean() == pytest.approx(corridor_value(p), abs=4 * first.std() / math.sqrt(4000))

def test_corridor_switched_state_and_goal():
    env = ShortCorridor(CorridorConfig(), num_envs=1, seed=0)
    obs = env.reset()
    assert obs.tolist() == [[1, 0, 0]]
    obs, *_ = env.step(np.array([0]))  # left at the wall: stays
    assert obs.tolist() == [[1, 0, 0]]
    obs, *_ = env.step(np.array([1]))
    assert obs.tolist() == [[0, 1, 0]]
    obs, *_ = env.step(np.array([1]))  # switched: right goes left
    assert obs.tolist() == [[1, 0, 0]]
    env.step(np.array([1]))
    obs, *_ = env.step(np.array([0]))  # switched: left goes right
    assert obs.tolist() == [[0, 0, 1]]
    obs, rew, term, trunc, final = env.step(np.array([1]))
    assert term.tolist() == [True] and rew.tolist() == [-1.0] and obs.tolist() == [[1, 0, 0]]


def test_cartpole_batch_matches_gymnasium_with_same_step_autoreset():
    cfg = CartPoleConfig(max_episode_steps=60)
    vec = CartPole(cfg, num_envs=3, seed=5)
    refs = [gym.make("CartPole-v1", max_episode_steps=60) for _ in range(3)]
    obs = vec.reset()
    ref_obs = [env.reset(seed=5 + i)[0] for i, env in enumerate(refs)]
    np.testing.assert_array_equal(obs, np.stack(ref_obs))
    rng = np.random.default_rng(0)
    episodes = 0
    for _ in range(600):
        # env 0 acts at random (short episodes), the others mostly push toward the pole's lean
        rule = rng.random(3) < np.array([0.0, 0.9, 0.9])
        a = np.where(rule, obs[:, 2] + 0.5 * obs[:, 3] > 0, rng.integers(0, 2, 3))
        obs, rew, term, trunc, final = vec.step(a.astype(np.int64))
        for i, env in enumerate(refs):
            o, r, te, tr, _ = env.step(int(a[i]))
            np.testing.assert_allclose(final[i], o, rtol=1e-6, atol=1e-7)
            assert (r, te, tr) == (rew[i], term[i], trunc[i])
            if te or tr:
                o, _ = env.reset()
                episodes += 1
            np.testing.assert_allclose(obs[i], o, rtol=1e-6, atol=1e-7)  # already the next one
    assert episodes == len(vec.stats.finished) > 10
    lengths = [le for _, le in vec.stats.finished]
    assert 60 in lengths and min(lengths) < 40  # truncations and failures both happened
