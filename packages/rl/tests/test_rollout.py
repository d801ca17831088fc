"""Collecting experience: what a rollout records at the end of an episode (NumPy only)."""

from __future__ import annotations

import numpy as np

from scratchlab.rl.advantages import td_errors
from scratchlab.rl.config import CartPoleConfig
from scratchlab.rl.envs import CartPole
from scratchlab.rl.rollout import collect_steps


class LinearPolicy:
    """A fixed linear actor and critic: any Policy will do, the rollout is under test."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w_pi, self.w_v = rng.normal(size=(4, 2)), rng.normal(size=4)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return obs @ self.w_pi

    def value(self, obs: np.ndarray) -> np.ndarray:
        return 10.0 + obs @ self.w_v


def test_truncations_are_bootstrapped_and_failures_are_not():
    """truncated_values holds V(s_final) exactly where the time limit ended an episode that
    had not failed, and the bootstrapped TD error there is r + gamma V(s_final) - V(s_t)."""
    cfg, n, steps, gamma = CartPoleConfig(max_episode_steps=12), 4, 60, 0.99
    policy, env, twin = LinearPolicy(), CartPole(cfg, n, 3), CartPole(cfg, n, 3)
    batch, _ = collect_steps(env, policy, env.reset(), steps, np.random.default_rng(0))
    twin.reset()  # replay the rollout's actions to see each step's flags and final observation
    truncated, failed = np.zeros((steps, n), bool), np.zeros((steps, n), bool)
    final = np.zeros((steps, n, 4), np.float32)
    for t in range(steps):
        _, _, term, trunc, final[t] = twin.step(batch.actions[t])
        truncated[t], failed[t] = trunc & ~term, term
    assert truncated.any() and failed.any()  # both kinds of ending occur in this rollout
    assert batch.truncated_values is not None
    np.testing.assert_allclose(batch.truncated_values[truncated], policy.value(final[truncated]))
    assert not batch.truncated_values[~truncated].any()
    np.testing.assert_array_equal(batch.dones, truncated | failed)

    delta = td_errors(batch.bootstrapped_rewards(gamma), batch.values, batch.dones, gamma,
                      batch.last_value)
    expected = 1.0 + gamma * policy.value(final[truncated]) - batch.values[truncated]
    np.testing.assert_allclose(delta[truncated], expected)
    np.testing.assert_allclose(delta[failed], 1.0 - batch.values[failed])  # a failure: no V
