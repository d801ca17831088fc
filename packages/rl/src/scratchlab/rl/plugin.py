"""scratchlab-rl's plugin: environments, algorithms, the ``rl`` and ``posttrain`` tasks, and
the report section of ``rl`` sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scratchlab.core import Component, hookimpl
from scratchlab.core.registry import lazy
from scratchlab.rl import config as C

ALGORITHMS = {
    # name: (config, module:class, summary)
    "reinforce": (C.ReinforceConfig, "pg:PolicyGradient", "REINFORCE with reward-to-go"),
    "reinforce_baseline": (C.ConstantBaselineConfig, "pg:PolicyGradient",
                           "REINFORCE minus a constant baseline (running mean return)"),
    "reinforce_value": (C.ValueBaselineConfig, "pg:PolicyGradient",
                        "REINFORCE minus a learned value baseline V(s)"),
    "actor_critic": (C.ActorCriticConfig, "pg:PolicyGradient",
                     "one-step actor-critic (TD error advantage)"),
    "gae": (C.GAEConfig, "pg:PolicyGradient", "policy gradient with GAE(lambda) advantages"),
    "ppo": (C.PPOConfig, "ppo:PPO", "PPO: clipped surrogate, GAE, vectorised envs (CleanRL)"),
}


@hookimpl
def scratchlab_components() -> list[Component]:
    from scratchlab.rl import envs
    from scratchlab.rl.posttrain import PostTrainConfig

    out = [
        Component("env", "cartpole", envs.cartpole, C.CartPoleConfig,
                  summary="CartPole-v1 (Gymnasium physics in NumPy), same-step autoreset"),
        Component("env", "corridor", envs.corridor, C.CorridorConfig,
                  summary="short corridor with switched actions (Sutton & Barto 13.1)"),
    ]
    for backend in ("torch", "mlx"):
        for name, (cfg, target, summary) in ALGORITHMS.items():
            out.append(Component("algorithm", name, lazy(f"scratchlab.rl.{backend}.{target}"),
                                 cfg, backend=backend, summary=summary))
        out.append(Component("task", "rl", lazy(f"scratchlab.rl.{backend}.task:run"),
                             C.RLConfig, backend=backend,
                             summary="an algorithm on an env: returns vs env steps"))
        out.append(Component("task", "posttrain", lazy(f"scratchlab.rl.{backend}.posttrain:run"),
                             PostTrainConfig, backend=backend,
                             summary="DPO or GRPO post-training of a tiny token policy"))
    return out


@hookimpl
def scratchlab_report(task: str, results: Any, out_dir: Path) -> str | None:
    if task != "rl":
        return None
    from scratchlab.rl.report import rl_report

    return rl_report(results, out_dir)
