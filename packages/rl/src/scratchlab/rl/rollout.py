"""Collecting experience (framework-free): sample actions in NumPy, step the envs, keep arrays.

Actions are sampled here from the logits the policy returns, with a NumPy generator, so that
the torch and MLX agents given the same weights and seed produce the same trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Policy(Protocol):
    """What collecting needs from an algorithm (both backends' algorithms are one)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """(N, D) observations -> (N, A) logits of pi(. | s)."""
        ...

    def value(self, obs: np.ndarray) -> np.ndarray:
        """(M, D) observations -> (M,) V(s)."""
        ...


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
    # (T, N) V(s_{t+1}) of the observation an episode was *truncated* in (time limit, not a
    # failure), 0 elsewhere: what bootstrapping a truncation adds, gamma times it, to r_t
    truncated_values: np.ndarray | None = None

    def bootstrapped_rewards(self, gamma: float) -> np.ndarray:
        """r_t + gamma V(s_{t+1}) where the time limit cut the episode at t (Pardo et al.,
        2018): the time is not in the observation, so to the critic the episode did not end."""
        if self.truncated_values is None:
            return self.rewards
        return self.rewards + gamma * self.truncated_values

    @property
    def steps(self) -> int:
        return int(self.mask.sum())


def critic_values(policy: Policy, obs: np.ndarray) -> np.ndarray:
    """V(s) of (..., D) observations in one batched call. The critic does not steer acting,
    so a rollout asks for its values once at the end rather than at every step: on a small
    network the per-call overhead is what a step costs (in MLX above all, where every
    evaluation hands work to another thread)."""
    return policy.value(obs.reshape(-1, obs.shape[-1])).reshape(obs.shape[:-1])


def collect_steps(env: object, policy: Policy, obs: np.ndarray, num_steps: int,
                  rng: np.random.Generator) -> tuple[Rollout, np.ndarray]:
    """``num_steps`` steps of every env (PPO); episodes continue across rollouts.

    CleanRL's storage: buffers allocated once, row t written at step t. The step loop only
    acts, samples and steps: the Gumbel noise of the whole rollout is drawn up front (the
    same draws ``sample`` would make), and log pi(a_t | s_t), V(s_t) and the bootstrap V(s_T)
    are computed once at the end."""
    shape = (num_steps, len(obs))
    n_actions: int = env.n_actions  # type: ignore[attr-defined]
    obs_buf = np.zeros(shape + obs.shape[1:], np.float32)
    logits = np.zeros(shape + (n_actions,), np.float32)
    actions = np.zeros(shape, np.int64)
    rewards, dones, truncated = np.zeros(shape), np.zeros(shape), np.zeros(shape, bool)
    final_obs: list[np.ndarray] = []  # where an episode was truncated, in step order
    gumbel = -np.log(-np.log(rng.random(logits.shape)))
    for t in range(num_steps):
        obs_buf[t] = obs
        logits[t] = policy.act(obs)
        actions[t] = np.argmax(logits[t] + gumbel[t], axis=-1)  # Gumbel-max, as in sample()
        obs, rewards[t], term, trunc, last = env.step(actions[t])  # type: ignore[attr-defined]
        dones[t] = term | trunc
        truncated[t] = trunc & ~term
        if truncated[t].any():
            final_obs.append(last[truncated[t]])
    values = critic_values(policy, np.concatenate([obs_buf, obs[None]]))  # (T + 1, N)
    truncated_values = np.zeros(shape)  # V of each truncated episode's last observation
    if final_obs:
        truncated_values[truncated] = policy.value(np.concatenate(final_obs))  # row-major order
    logprobs = np.take_along_axis(log_softmax(logits), actions[..., None], -1)[..., 0]
    roll = Rollout(obs_buf, actions, logprobs, values[:-1], rewards, dones, np.ones_like(dones),
                   values[-1], int(dones.sum()), truncated_values)
    return roll, obs


def collect_episodes(env: object, policy: Policy, rng: np.random.Generator) -> Rollout:
    """One complete episode per env (REINFORCE needs whole returns); later steps are masked."""
    obs = env.reset()  # type: ignore[attr-defined]
    n = len(obs)
    running = np.ones(n, bool)
    buf: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "actions", "logprobs",
                                                        "rewards", "dones", "mask")}
    while running.any():
        actions, logp = sample(policy.act(obs), rng)
        next_obs, rew, term, trunc, _ = env.step(actions)  # type: ignore[attr-defined]
        done = term | trunc
        for k, v in zip(buf, (obs, actions, logp, rew, done, running.copy())):
            buf[k].append(v)
        running &= ~done
        obs = next_obs
    arr = {k: np.stack(v) for k, v in buf.items()}
    values = critic_values(policy, arr["obs"])
    return Rollout(arr["obs"], arr["actions"], arr["logprobs"], values, arr["rewards"],
                   arr["dones"].astype(np.float64), arr["mask"].astype(np.float64),
                   np.zeros(n), n)
