"""The ``rl`` task in MLX: the shared loop of task.py with the MLX Agent. Mirrors
torch/task.py."""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchlab.core.backends import mlx as backend
from scratchlab.core.context import RunContext
from scratchlab.rl import task
from scratchlab.rl.config import AgentConfig
from scratchlab.rl.mlx.agent import Agent


def make_agent(obs_dim: int, n_actions: int, cfg: AgentConfig,
               weights: dict[str, np.ndarray]) -> Agent:
    agent = Agent(obs_dim, n_actions, cfg)
    backend.load_state_dict(agent, weights)
    return agent


def run(ctx: RunContext) -> dict[str, Any]:
    return task.run(ctx, "mlx", make_agent)
