"""Vectorised environments in NumPy (framework-free, shared by both backends).

Both environments follow one contract: ``reset() -> obs (N, D)`` and
``step(actions) -> (obs, rewards, terminated, truncated, final_obs)`` with *same-step
autoreset*: when env i ends at this step, ``obs[i]`` is already the first observation of its
next episode and ``final_obs[i]`` is the observation it ended in (for bootstrapping a
truncation). This is gymnasium 0.29's SyncVectorEnv behaviour, which CleanRL's ppo.py assumes;
gymnasium 1.x's vector envs default to *next-step* autoreset (an extra no-op step after each
episode), so we keep our own batch of environments instead.
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


class CartPole:
    """Gymnasium's CartPole-v1 for a whole batch of envs at once: its physics (Euler steps of
    the cart-pole equations, Barto, Sutton & Anderson 1983) on ``(N,)`` NumPy arrays, so one
    step costs the same ~20 array operations for 4 envs or 64, instead of a Python loop of
    Gymnasium envs. Env i resets from its own generator seeded ``seed + i``, as
    ``gym.make("CartPole-v1").reset(seed=seed + i)`` would, so the batch reproduces N
    Gymnasium envs number for number (tests/test_envs.py checks it step by step).

    (Gymnasium's own ``CartPoleVectorEnv`` is vectorised too, but resets on the *next* step.)
    """

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold, x_threshold = 12 * 2 * math.pi / 360, 2.4  # where an episode fails
    total_mass = masscart + masspole
    polemass_length = masspole * length

    def __init__(self, cfg: CartPoleConfig, num_envs: int, seed: int) -> None:
        self.num_envs, self.seed, self.max_steps = num_envs, seed, cfg.max_episode_steps
        self.obs_dim, self.n_actions = 4, 2
        self.state = np.zeros((num_envs, 4))  # x, x_dot, theta, theta_dot (float64)
        self.t = np.zeros(num_envs, np.int64)
        self.rngs: list[np.random.Generator] = []
        self.stats = EpisodeStats(num_envs)

    def reset(self) -> np.ndarray:
        self.rngs = [np.random.default_rng(self.seed + i) for i in range(self.num_envs)]
        self.state = np.stack([rng.uniform(-0.05, 0.05, 4) for rng in self.rngs])
        self.t[:] = 0
        self.stats = EpisodeStats(self.num_envs)
        return self.state.astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        x, x_dot, theta, theta_dot = self.state.T
        force = np.where(actions == 1, self.force_mag, -self.force_mag)
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + self.polemass_length * theta_dot**2 * sin) / self.total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos**2 / self.total_mass))
        x_acc = temp - self.polemass_length * theta_acc * cos / self.total_mass
        self.state = np.stack((x + self.tau * x_dot, x_dot + self.tau * x_acc,
                               theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc), 1)
        self.t += 1
        x, theta = self.state[:, 0], self.state[:, 2]
        term = (x < -self.x_threshold) | (x > self.x_threshold) | \
               (theta < -self.theta_threshold) | (theta > self.theta_threshold)
        trunc = self.t >= self.max_steps  # gymnasium's TimeLimit (both can be true)
        rew = np.ones(self.num_envs)
        final_obs = self.state.astype(np.float32)
        done = term | trunc
        if done.any():  # same-step autoreset: those envs start their next episode now
            for i in np.flatnonzero(done):
                self.state[i] = self.rngs[i].uniform(-0.05, 0.05, 4)
            self.t[done] = 0
        self.stats.add(rew, done)
        return self.state.astype(np.float32), rew, term, trunc, final_obs


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


def cartpole(cfg: CartPoleConfig, num_envs: int, seed: int) -> CartPole:
    return CartPole(cfg, num_envs, seed)


def corridor(cfg: CorridorConfig, num_envs: int, seed: int) -> ShortCorridor:
    return ShortCorridor(cfg, num_envs, seed)
