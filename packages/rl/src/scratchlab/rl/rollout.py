"""Collecting experience (framework-free): sample actions in NumPy, step the envs, keep arrays.

Actions are sampled here from the logits the policy returns, with a NumPy generator, so that
the torch and MLX agents given the same weights and seed produce the same trajectories.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ActFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # obs -> (logits, values)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def sample(logits: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel-max sampling: argmax(logits + Gumbel noise) ~ softmax(logits). -> (a, log pi(a))."""
    u = rng.random(logits.shape)
    actions = np.argmax(logits - np.log(-np.log(u + 1e-12) + 1e-12), axis=-1)
    logp = np.take_along_axis(log_softmax(logits), actions[..., None], -1)[..., 0]
    return actions, logp


@dataclass
class Rollout:
    """Time-major ``(T, N, ...)`` arrays of one batch of experience."""

    obs: np.ndarray  # (T, N, D) the observation each action was taken in
    actions: np.ndarray  # (T, N)
    logprobs: np.ndarray  # (T, N) log pi_old(a_t | s_t)
    values: np.ndarray  # (T, N) V_old(s_t)
    rewards: np.ndarray  # (T, N)
    dones: np.ndarray  # (T, N) 1.0 where the episode ended at step t
    mask: np.ndarray  # (T, N) 1.0 for steps that belong to the batch
    last_value: np.ndarray  # (N,) V(s_T), the bootstrap after the last step
    episodes: int  # complete episodes in the batch (the policy-gradient normaliser)

    @property
    def steps(self) -> int:
        return int(self.mask.sum())


def collect_steps(env: object, act: ActFn, obs: np.ndarray, num_steps: int,
                  rng: np.random.Generator) -> tuple[Rollout, np.ndarray]:
    """``num_steps`` steps of every env (PPO); episodes continue across rollouts."""
    buf: dict[str, list[np.ndarray]] = {k: [] for k in
                                        ("obs", "actions", "logprobs", "values", "rewards", "dones")}
    for _ in range(num_steps):
        logits, values = act(obs)
        actions, logp = sample(logits, rng)
        next_obs, rew, term, trunc, _ = env.step(actions)  # type: ignore[attr-defined]
        for k, v in zip(buf, (obs, actions, logp, values, rew, (term | trunc))):
            buf[k].append(v)
        obs = next_obs
    _, last_value = act(obs)
    arr = {k: np.stack(v) for k, v in buf.items()}
    dones = arr["dones"].astype(np.float64)
    roll = Rollout(arr["obs"], arr["actions"], arr["logprobs"], arr["values"], arr["rewards"],
                   dones, np.ones_like(dones), last_value, int(dones.sum()))
    return roll, obs


def collect_episodes(env: object, act: ActFn, rng: np.random.Generator) -> Rollout:
    """One complete episode per env (REINFORCE needs whole returns); later steps are masked."""
    obs = env.reset()  # type: ignore[attr-defined]
    n = len(obs)
    running = np.ones(n, bool)
    buf: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "actions", "logprobs", "values",
                                                        "rewards", "dones", "mask")}
    while running.any():
        logits, values = act(obs)
        actions, logp = sample(logits, rng)
        next_obs, rew, term, trunc, _ = env.step(actions)  # type: ignore[attr-defined]
        done = term | trunc
        for k, v in zip(buf, (obs, actions, logp, values, rew, done, running.copy())):
            buf[k].append(v)
        running &= ~done
        obs = next_obs
    arr = {k: np.stack(v) for k, v in buf.items()}
    return Rollout(arr["obs"], arr["actions"], arr["logprobs"], arr["values"], arr["rewards"],
                   arr["dones"].astype(np.float64), arr["mask"].astype(np.float64),
                   np.zeros(n), n)
