"""The ``rl`` task in PyTorch: the shared loop of task.py with the torch Agent. Mirrors
mlx/task.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scratchlab.core.backends import torch as backend
from scratchlab.core.context import RunContext
from scratchlab.rl import task
from scratchlab.rl.config import AgentConfig
from scratchlab.rl.torch.agent import Agent


def make_agent(obs_dim: int, n_actions: int, cfg: AgentConfig,
               weights: dict[str, np.ndarray]) -> Agent:
    agent = Agent(obs_dim, n_actions, cfg)
    backend.load_state_dict(agent, weights)
    return agent


def run(ctx: RunContext) -> dict[str, Any]:
    torch.set_num_threads(1)  # 64-wide MLPs: extra threads only add synchronisation
    return task.run(ctx, "torch", make_agent)
