"""The actor-critic agent in MLX. Mirrors torch/agent.py name for name."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from scratchlab.rl.config import AgentConfig
from scratchlab.rl.networks import actor_input_dim, mlp_dims
from scratchlab.transformer.mlx.fastmath import tanh


class MLP(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]

    def __call__(self, x: mx.array) -> mx.array:
        *hidden, head = self.layers
        for layer in hidden:
            x = tanh(layer(x))  # mx.tanh is scalar on MLX's CPU backend: fastmath.py
        return head(x)


class Agent(nn.Module):
    """pi(a | s) from ``actor`` (logits) and V(s) from ``critic``; no shared parameters."""

    def __init__(self, obs_dim: int, n_actions: int, cfg: AgentConfig) -> None:
        super().__init__()
        self.constant_actor = cfg.actor_input == "constant"
        self.actor = MLP(mlp_dims(actor_input_dim(obs_dim, cfg), n_actions, cfg))
        self.critic = MLP(mlp_dims(obs_dim, 1, cfg))

    def logits(self, obs: mx.array) -> mx.array:
        x = mx.ones((*obs.shape[:-1], 1), dtype=obs.dtype) if self.constant_actor else obs
        return self.actor(x)

    def value(self, obs: mx.array) -> mx.array:
        return self.critic(obs).squeeze(-1)
