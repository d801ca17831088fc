"""The actor-critic agent in PyTorch. Mirrors mlx/agent.py name for name."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchlab.rl.config import AgentConfig
from scratchlab.rl.networks import actor_input_dim, mlp_dims


class MLP(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.linear on each layer's parameters: calling the nn.Linear module (hooks, dispatch)
        # costs more Python than a 4x64 matmul. (Slicing a ModuleList builds a new module.)
        *hidden, head = cast("list[nn.Linear]", self.layers)
        for layer in hidden:
            x = torch.tanh(F.linear(x, layer.weight, layer.bias))
        return F.linear(x, head.weight, head.bias)


class Agent(nn.Module):
    """pi(a | s) from ``actor`` (logits) and V(s) from ``critic``; no shared parameters."""

    def __init__(self, obs_dim: int, n_actions: int, cfg: AgentConfig) -> None:
        super().__init__()
        self.constant_actor = cfg.actor_input == "constant"
        self.actor = MLP(mlp_dims(actor_input_dim(obs_dim, cfg), n_actions, cfg))
        self.critic = MLP(mlp_dims(obs_dim, 1, cfg))

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        x = torch.ones(*obs.shape[:-1], 1, dtype=obs.dtype) if self.constant_actor else obs
        return self.actor(x)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)
