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
    """Gumbel-max sampling: argmax(log pi + Gumbel noise) ~ pi. -> (a, log pi(a)).

    (u = 0 would give -inf noise, i.e. never that action: probability 2^-53 per draw.)"""
    logp = log_softmax(logits)
    actions = np.argmax(logp - np.log(-np.log(rng.random(logits.shape))), axis=-1)
    return actions, np.take_along_axis(logp, actions[..., None], -1)[..., 0]


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
    """``num_steps`` steps of every env (PPO); episodes continue across rollouts.

    CleanRL's storage: buffers allocated once, row t written at step t. The step loop only
    acts, samples and steps: the Gumbel noise of the whole rollout is drawn up front (the
    same draws ``sample`` would make) and log pi(a_t | s_t) is computed once at the end."""
    shape = (num_steps, len(obs))
    n_actions: int = env.n_actions  # type: ignore[attr-defined]
    obs_buf = np.zeros(shape + obs.shape[1:], np.float32)
    logits = np.zeros(shape + (n_actions,), np.float32)
    actions, values, rewards, dones = (np.zeros(shape, dt) for dt in (
        np.int64, np.float32, np.float64, np.float64))
    gumbel = -np.log(-np.log(rng.random(logits.shape)))
    for t in range(num_steps):
        obs_buf[t] = obs
        logits[t], values[t] = act(obs)
        actions[t] = np.argmax(logits[t] + gumbel[t], axis=-1)  # Gumbel-max, as in sample()
        obs, rewards[t], term, trunc, _ = env.step(actions[t])  # type: ignore[attr-defined]
        dones[t] = term | trunc
    _, last_value = act(obs)
    logprobs = np.take_along_axis(log_softmax(logits), actions[..., None], -1)[..., 0]
    roll = Rollout(obs_buf, actions, logprobs, values, rewards, dones, np.ones_like(dones),
                   last_value, int(dones.sum()))
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
