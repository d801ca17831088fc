"""Vectorised environments in NumPy (framework-free, shared by both backends).

Both environments follow one contract: ``reset() -> obs (N, D)`` and
``step(actions) -> (obs, rewards, terminated, truncated, final_obs)`` with *same-step
autoreset*: when env i ends at this step, ``obs[i]`` is already the first observation of its
next episode and ``final_obs[i]`` is the observation it ended in (for bootstrapping a
truncation). This is gymnasium 0.29's SyncVectorEnv behaviour, which CleanRL's ppo.py assumes;
gymnasium 1.x defaults to *next-step* autoreset (an extra no-op step after each episode), so we
keep our own small batch of environments instead of its vector env.
"""

from __future__ import annotations

import math

import numpy as np

from scratchlab.rl.config import CartPoleConfig, CorridorConfig


class EpisodeStats:
    """Running return and length per env; ``finished`` collects completed episodes."""

    def __init__(self, num_envs: int) -> None:
        self.ret = np.zeros(num_envs)
        self.len = np.zeros(num_envs, dtype=np.int64)
        self.finished: list[tuple[float, int]] = []

    def add(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self.ret += rewards
        self.len += 1
        if not done.any():
            return
        for i in np.flatnonzero(done):
            self.finished.append((float(self.ret[i]), int(self.len[i])))
        self.ret[done] = 0.0
        self.len[done] = 0


class GymVecEnv:
    """A batch of Gymnasium environments stepped one after the other (same-step autoreset)."""

    def __init__(self, cfg: CartPoleConfig, num_envs: int, seed: int) -> None:
        import gymnasium as gym

        self.envs = [gym.make(cfg.env_id, max_episode_steps=cfg.max_episode_steps,
                              disable_env_checker=True) for _ in range(num_envs)]
        self.num_envs, self.seed = num_envs, seed
        self.obs_dim = int(np.prod(self.envs[0].observation_space.shape or ()))
        self.n_actions = int(self.envs[0].action_space.n)  # type: ignore[attr-defined]
        self.stats = EpisodeStats(num_envs)

    def reset(self) -> np.ndarray:
        obs = [env.reset(seed=self.seed + i)[0] for i, env in enumerate(self.envs)]
        self.stats = EpisodeStats(self.num_envs)
        return np.stack(obs).astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        n = self.num_envs
        obs = np.empty((n, self.obs_dim), np.float32)
        final_obs = np.empty_like(obs)
        rew, term, trunc = np.empty(n), np.empty(n, bool), np.empty(n, bool)
        for i, env in enumerate(self.envs):
            # (a NumPy integer, not int(): Discrete.contains checks a Python int more slowly)
            o, rew[i], term[i], trunc[i], _ = env.step(actions[i])
            final_obs[i] = o
            if term[i] or trunc[i]:
                o, _ = env.reset()
            obs[i] = o
        self.stats.add(rew, term | trunc)
        return obs, rew, term, trunc, final_obs


class ShortCorridor:
    """Sutton & Barto, Example 13.1: three states and a goal; reward -1 per step; in the
    middle state the actions are switched (right goes left). The observation is the one-hot
    state; an agent with ``actor_input: constant`` cannot see it, so the best it can do is a
    stochastic policy: P(right) = 2 - sqrt(2), with value -(6 + 4 sqrt(2)) from the start."""

    LEFT, RIGHT, GOAL = 0, 1, 3

    def __init__(self, cfg: CorridorConfig, num_envs: int, seed: int) -> None:
        self.num_envs, self.max_steps = num_envs, cfg.max_episode_steps
        self.obs_dim, self.n_actions = 3, 2
        self.pos = np.zeros(num_envs, np.int64)
        self.t = np.zeros(num_envs, np.int64)
        self.stats = EpisodeStats(num_envs)

    def _obs(self) -> np.ndarray:
        return np.eye(3, dtype=np.float32)[self.pos]

    def reset(self) -> np.ndarray:
        self.pos[:] = 0
        self.t[:] = 0
        self.stats = EpisodeStats(self.num_envs)
        return self._obs()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        move = np.where(np.asarray(actions) == self.RIGHT, 1, -1)
        move = np.where(self.pos == 1, -move, move)  # the switched state
        self.pos = np.maximum(self.pos + move, 0)
        self.t += 1
        rew = -np.ones(self.num_envs)
        term = self.pos == self.GOAL
        trunc = ~term & (self.t >= self.max_steps)
        final_obs = np.eye(3, dtype=np.float32)[np.minimum(self.pos, 2)]
        done = term | trunc
        self.pos[done] = 0
        self.t[done] = 0
        self.stats.add(rew, done)
        return self._obs(), rew, term, trunc, final_obs


def corridor_value(p: float) -> float:
    """v(start) of the policy that picks "right" with probability p (gamma = 1)."""
    return (2 * p - 4) / (p * (1 - p))


def corridor_value_grad(p: float) -> float:
    """d v(start) / dp."""
    return (2 * p * (1 - p) - (2 * p - 4) * (1 - 2 * p)) / (p * (1 - p)) ** 2


CORRIDOR_OPTIMAL_P = 2 - math.sqrt(2)
CORRIDOR_OPTIMAL_VALUE = -(6 + 4 * math.sqrt(2))


def cartpole(cfg: CartPoleConfig, num_envs: int, seed: int) -> GymVecEnv:
    return GymVecEnv(cfg, num_envs, seed)


def corridor(cfg: CorridorConfig, num_envs: int, seed: int) -> ShortCorridor:
    return ShortCorridor(cfg, num_envs, seed)
