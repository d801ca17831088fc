"""Every estimator finds the short corridor's optimum P(right) = 2 - sqrt(2) from a far start."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.backends import torch as tb
from scratchlab.core.config import build_config
from scratchlab.core.registry import get_registry
from scratchlab.core.testing import needs_torch
from scratchlab.rl.config import AgentConfig, CorridorConfig
from scratchlab.rl.envs import CORRIDOR_OPTIMAL_P, ShortCorridor
from scratchlab.rl.networks import init_agent
from scratchlab.rl.rollout import collect_episodes, log_softmax


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize("name", ["reinforce", "reinforce_baseline", "reinforce_value",
                                  "actor_critic", "gae"])
def test_every_estimator_reaches_the_corridor_optimum(name):
    from scratchlab.rl.torch.task import make_agent

    env = ShortCorridor(CorridorConfig(max_episode_steps=100), 16, 0)
    cfg = AgentConfig(depth=0, actor_input="constant")
    weights = init_agent(3, 2, cfg, np.random.default_rng(0))
    weights["actor.layers.0.bias"] = np.array([-1.0, 1.0], np.float32)  # start at P(right) ~ 0.88
    agent = make_agent(3, 2, cfg, weights)
    comp = get_registry().get("algorithm", name, "torch")
    algo = comp.factory(build_config(comp.config, {"lr": 0.05, "critic_lr": 0.5, "gamma": 1.0,
                                                   "batch_episodes": 16, "gae_lambda": 0.9}),
                        agent, 0, np.random.default_rng(0))
    rng = np.random.default_rng(1)

    def p_right() -> float:
        return float(np.exp(log_softmax(algo.act(env.reset()[:1])))[0, 1])

    assert p_right() > 0.8
    ps = []
    for i in range(120):
        algo.update(collect_episodes(env, algo, rng))
        if i >= 80:
            ps.append(p_right())
    assert np.mean(ps) == pytest.approx(CORRIDOR_OPTIMAL_P, abs=0.05)
    assert tb.count_params(agent) == 4 + 4  # a 2-logit actor, a tabular critic
