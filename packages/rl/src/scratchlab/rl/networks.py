"""Initial agent weights in NumPy, so both backends start from the very same numbers.

CleanRL's init: orthogonal matrices with gain sqrt(2) for hidden layers, 0.01 for the policy
head (an almost uniform first policy) and 1 for the value head; zero biases.
"""

from __future__ import annotations

import math

import numpy as np

from scratchlab.rl.config import AgentConfig


def orthogonal(shape: tuple[int, int], gain: float, rng: np.random.Generator) -> np.ndarray:
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # a uniformly distributed orthogonal matrix
    q = q if rows >= cols else q.T
    return (gain * q[:rows, :cols]).astype(np.float32)


def mlp_dims(d_in: int, d_out: int, cfg: AgentConfig) -> list[int]:
    return [d_in] + [cfg.hidden] * cfg.depth + [d_out]


def actor_input_dim(obs_dim: int, cfg: AgentConfig) -> int:
    return 1 if cfg.actor_input == "constant" else obs_dim


def init_agent(obs_dim: int, n_actions: int, cfg: AgentConfig,
               rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The state dict of a fresh Agent (names shared by torch/agent.py and mlx/agent.py)."""
    weights: dict[str, np.ndarray] = {}
    for net, d_in, d_out, head_gain in (("actor", actor_input_dim(obs_dim, cfg), n_actions, 0.01),
                                         ("critic", obs_dim, 1, 1.0)):
        dims = mlp_dims(d_in, d_out, cfg)
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            gain = head_gain if i == len(dims) - 2 else math.sqrt(2)
            weights[f"{net}.layers.{i}.weight"] = orthogonal((b, a), gain, rng)
            weights[f"{net}.layers.{i}.bias"] = np.zeros(b, np.float32)
    return weights
