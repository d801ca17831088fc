"""Advantage estimators in NumPy, shared by both backends (see docs/rl.md).

Arrays are time-major ``(T, N)``. ``dones[t]`` is 1 when the episode ended at step t (after
action t), so nothing flows back across it. ``last_value`` (N,) bootstraps the step after the
rollout (0 where that step starts a new episode).
"""

from __future__ import annotations

import numpy as np


def reward_to_go(rewards: np.ndarray, dones: np.ndarray, gamma: float,
                 last_value: np.ndarray | None = None) -> np.ndarray:
    """G_t = r_t + gamma (1 - d_t) G_{t+1}: the return from step t on (REINFORCE's weight)."""
    g = np.zeros_like(rewards[0]) if last_value is None else last_value.astype(rewards.dtype)
    out = np.zeros_like(rewards)
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * (1.0 - dones[t]) * g
        out[t] = g
    return out


def td_errors(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, gamma: float,
              last_value: np.ndarray) -> np.ndarray:
    """delta_t = r_t + gamma (1 - d_t) V(s_{t+1}) - V(s_t)."""
    next_values = np.concatenate([values[1:], last_value[None]], axis=0)
    return rewards + gamma * (1.0 - dones) * next_values - values


def gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, gamma: float, lam: float,
        last_value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GAE(lambda): A_t = sum_l (gamma lambda)^l delta_{t+l}; returns (advantages, A + V).

    lambda = 0 is the one-step TD error (actor-critic); lambda = 1 is the reward-to-go minus
    V(s_t) (Monte Carlo with a learned baseline)."""
    delta = td_errors(rewards, values, dones, gamma, last_value)
    adv = np.zeros_like(delta)
    a = np.zeros_like(delta[0])
    for t in reversed(range(len(delta))):
        a = delta[t] + gamma * lam * (1.0 - dones[t]) * a
        adv[t] = a
    return adv, adv + values


def estimate(estimator: str, rewards: np.ndarray, values: np.ndarray, dones: np.ndarray,
             gamma: float, lam: float, last_value: np.ndarray, baseline: float = 0.0
             ) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, critic targets) for one of: return, constant, value, td, gae."""
    if estimator in ("return", "constant", "value"):
        g = reward_to_go(rewards, dones, gamma, last_value)
        base = {"return": 0.0, "constant": baseline}.get(estimator, values)
        return g - base, g
    if estimator == "td":
        return gae(rewards, values, dones, gamma, 0.0, last_value)
    if estimator == "gae":
        return gae(rewards, values, dones, gamma, lam, last_value)
    raise ValueError(f"unknown estimator '{estimator}'")


def grpo_advantages(rewards: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """GRPO (NumPy reference): (r - mean) / (std + eps) within each group (rows)."""
    first = rewards[..., :1]  # shift first: equal rewards give exactly 0, not rounding noise
    mean = first + (rewards - first).mean(axis=-1, keepdims=True)
    std = np.sqrt(((rewards - mean) ** 2).mean(axis=-1, keepdims=True))
    return (rewards - mean) / (std + eps)


def pg_targets(estimator: str, rollout: object, gamma: float, lam: float, baseline: float,
               normalize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and critic targets of a policy-gradient batch (a Rollout), float32."""
    r = rollout
    adv, targets = estimate(estimator, r.rewards, r.values, r.dones, gamma, lam,  # type: ignore[attr-defined]
                            r.last_value, baseline)  # type: ignore[attr-defined]
    if normalize:
        m = r.mask  # type: ignore[attr-defined]
        mean = (adv * m).sum() / m.sum()
        std = np.sqrt((((adv - mean) * m) ** 2).sum() / max(m.sum() - 1, 1))
        adv = (adv - mean) / (std + 1e-8)
    return adv.astype(np.float32), targets.astype(np.float32)


def updated_baseline(baseline: float, rollout: object, gamma: float, decay: float,
                     first: bool) -> float:
    """Running mean of the per-step returns G_t: the constant baseline b."""
    r = rollout
    g = reward_to_go(r.rewards, r.dones, gamma, r.last_value)  # type: ignore[attr-defined]
    mean = float((g * r.mask).sum() / r.mask.sum())  # type: ignore[attr-defined]
    return mean if first else decay * baseline + (1 - decay) * mean
