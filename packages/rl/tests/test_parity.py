"""Cross-backend parity: the same weights and the same batch of trajectories give the same
losses, gradients and updated weights in torch and MLX, for every algorithm; plus each loss
against its framework's reference."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from scratchlab.core.config import build_config
from scratchlab.core.registry import get_registry
from scratchlab.core.testing import (
    MODEL_TOL,
    OP_TOL,
    assert_close,
    assert_state_dicts_close,
    needs_both,
    needs_mlx,
    needs_torch,
)
from scratchlab.rl.config import AgentConfig, CartPoleConfig, CorridorConfig
from scratchlab.rl.envs import CartPole, ShortCorridor
from scratchlab.rl.networks import init_agent
from scratchlab.rl.rollout import collect_episodes, collect_steps

PG = ["reinforce", "reinforce_baseline", "reinforce_value", "actor_critic", "gae"]


def make(backend, name, settings, env, agent_cfg, seed=0):
    weights = init_agent(env.obs_dim, env.n_actions, agent_cfg, np.random.default_rng(seed))
    agent = importlib.import_module(f"scratchlab.rl.{backend}.task").make_agent(
        env.obs_dim, env.n_actions, agent_cfg, weights)
    comp = get_registry().get("algorithm", name, backend)
    cfg = build_config(comp.config, settings)
    return comp.factory(cfg, agent, 10_000, np.random.default_rng(seed + 1))


def resync(algos):
    from scratchlab.core.backends import mlx

    mlx.load_state_dict(algos["mlx"].agent, state("torch", algos["torch"]))


def state(backend, algo):
    from scratchlab.core.backends import get_backend

    return get_backend(backend).state_dict(algo.agent)


@needs_both
@pytest.mark.parametrize("name", PG)
@pytest.mark.parametrize("env_name", ["cartpole", "corridor"])
def test_policy_gradient_family_matches_across_backends(name, env_name):
    agent_cfg = AgentConfig(hidden=16, depth=2,
                            actor_input="constant" if env_name == "corridor" else "obs")
    env = (CartPole(CartPoleConfig(), 4, 0) if env_name == "cartpole"
           else ShortCorridor(CorridorConfig(max_episode_steps=50), 4, 0))
    settings = {"batch_episodes": 4, "lr": 1e-3, "gae_lambda": 0.9, "max_grad_norm": 1.0}
    algos = {b: make(b, name, settings, env, agent_cfg) for b in ("torch", "mlx")}
    rng = np.random.default_rng(0)
    for _ in range(3):  # three updates: the baseline, Adam moments and critic all move
        batch = collect_episodes(env, algos["torch"], rng)
        obs = batch.obs[0]
        assert_close(algos["mlx"].act(obs), algos["torch"].act(obs), **OP_TOL)
        assert_close(algos["mlx"].value(obs), algos["torch"].value(obs), **OP_TOL)
        grads = {b: a.policy_gradient(batch) for b, a in algos.items()}
        # normwise: the loss sums hundreds of fp32 terms of size ~|G_t| (up to 100)
        err = np.linalg.norm(grads["mlx"] - grads["torch"]) / np.linalg.norm(grads["torch"])
        assert err < 1e-4
        stats = {b: a.update(batch) for b, a in algos.items()}
        for k in stats["torch"]:
            assert stats["mlx"][k] == pytest.approx(stats["torch"][k], rel=1e-4, abs=1e-4), k
        assert_state_dicts_close(state("mlx", algos["mlx"]), state("torch", algos["torch"]),
                                 **MODEL_TOL)
        assert algos["mlx"].baseline == pytest.approx(algos["torch"].baseline)
        resync(algos)  # Adam amplifies fp32 noise where a gradient is ~0: no drift between steps
    fits = {b: a.fit_critic(batch) for b, a in algos.items()}
    assert fits["mlx"] == pytest.approx(fits["torch"], rel=1e-4)
    assert_state_dicts_close(state("mlx", algos["mlx"]), state("torch", algos["torch"]), **MODEL_TOL)


@needs_both
@pytest.mark.parametrize("bootstrap_truncated", [False, True])
def test_ppo_matches_across_backends(bootstrap_truncated):
    agent_cfg = AgentConfig(hidden=16, depth=2)
    # a 10-step time limit: most episodes are truncated, so the bootstrap is exercised
    env = CartPole(CartPoleConfig(max_episode_steps=10 if bootstrap_truncated else 500), 2, 0)
    settings = {"num_envs": 2, "num_steps": 32, "num_minibatches": 2, "update_epochs": 2,
                "bootstrap_truncated": bootstrap_truncated}
    algos = {b: make(b, "ppo", settings, env, agent_cfg) for b in ("torch", "mlx")}
    obs, rng = env.reset(), np.random.default_rng(0)
    for _ in range(2):
        batch, obs = collect_steps(env, algos["torch"], obs, 32, rng)
        assert batch.truncated_values is not None
        assert batch.truncated_values.any() or not bootstrap_truncated  # truncations to bootstrap
        stats = {b: a.update(batch) for b, a in algos.items()}
        for k in stats["torch"]:
            if math.isfinite(stats["torch"][k]):
                assert stats["mlx"][k] == pytest.approx(stats["torch"][k], rel=1e-4, abs=1e-5), k
        assert_state_dicts_close(state("mlx", algos["mlx"]), state("torch", algos["torch"]),
                                 **MODEL_TOL)
        # MLX acts through mx.compile: it must see the updated weights, not the traced ones
        assert_close(algos["mlx"].act(obs), algos["torch"].act(obs), **MODEL_TOL)
        assert_close(algos["mlx"].value(obs), algos["torch"].value(obs), **MODEL_TOL)
        resync(algos)


def _ppo_inputs(seed=0, n=64, a=3):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    return dict(logits=f(n, a), values=f(n), actions=rng.integers(0, a, n),
                old_logprobs=np.log(rng.dirichlet(np.ones(a), n)[:, 0]).astype(np.float32),
                advantages=f(n), returns=f(n), old_values=f(n))


@needs_both
@pytest.mark.parametrize("clip_vloss,norm_adv", [(True, True), (False, False)])
def test_ppo_loss_and_gradient_match_across_backends(clip_vloss, norm_adv):
    import mlx.core as mx
    import torch

    from scratchlab.rl.config import PPOConfig
    from scratchlab.rl.mlx.losses import ppo_loss as mlx_ppo
    from scratchlab.rl.torch.losses import ppo_loss as torch_ppo

    cfg = PPOConfig(clip_vloss=clip_vloss, norm_adv=norm_adv)
    x = _ppo_inputs()
    tl = torch.tensor(x["logits"], requires_grad=True)
    tv = torch.tensor(x["values"], requires_grad=True)
    rest = [torch.tensor(x[k]) for k in ("actions", "old_logprobs", "advantages", "returns",
                                         "old_values")]
    t_loss, t_aux = torch_ppo(tl, tv, *rest, cfg)
    t_loss.backward()

    def f(logits, values):
        return mlx_ppo(logits, values, *[mx.array(x[k]) for k in (
            "actions", "old_logprobs", "advantages", "returns", "old_values")], cfg)[0]

    m_loss, (gl, gv) = mx.value_and_grad(f, argnums=(0, 1))(mx.array(x["logits"]),
                                                             mx.array(x["values"]))
    assert_close(m_loss, t_loss, **OP_TOL)
    assert_close(gl, tl.grad, **OP_TOL)
    assert_close(gv, tv.grad, **OP_TOL)
    assert t_aux["clipfrac"].item() > 0  # the clip is exercised


@needs_torch
def test_torch_log_prob_and_entropy_match_categorical():
    import torch

    from scratchlab.rl.torch.losses import entropy, log_prob

    logits = torch.randn(10, 4)
    a = torch.randint(0, 4, (10,))
    dist = torch.distributions.Categorical(logits=logits)
    assert_close(log_prob(logits, a), dist.log_prob(a), **OP_TOL)
    assert_close(entropy(logits), dist.entropy(), **OP_TOL)


@needs_mlx
def test_mlx_log_prob_matches_cross_entropy():
    import mlx.core as mx
    import mlx.nn as nn

    from scratchlab.rl.mlx.losses import log_prob

    logits = mx.random.normal((10, 4))
    a = mx.random.randint(0, 4, (10,))
    assert_close(log_prob(logits, a), -nn.losses.cross_entropy(logits, a), **OP_TOL)


@needs_torch
def test_torch_ppo_surrogate_against_numpy():
    import torch

    from scratchlab.rl.config import PPOConfig
    from scratchlab.rl.rollout import log_softmax
    from scratchlab.rl.torch.losses import ppo_loss

    cfg = PPOConfig(norm_adv=False, clip_vloss=False, ent_coef=0.0, vf_coef=0.0)
    x = _ppo_inputs(1)
    loss, _ = ppo_loss(*[torch.tensor(x[k]) for k in ("logits", "values", "actions",
                                                      "old_logprobs", "advantages", "returns",
                                                      "old_values")], cfg)
    ratio = np.exp(log_softmax(x["logits"].astype(np.float64))[np.arange(64), x["actions"]]
                   - x["old_logprobs"])
    adv = x["advantages"]
    want = -np.minimum(ratio * adv, np.clip(ratio, 0.8, 1.2) * adv).mean()
    assert loss.item() == pytest.approx(want, rel=1e-5)


@needs_both
@pytest.mark.parametrize("method", ["dpo", "grpo"])
def test_posttrain_losses_and_gradients_match_across_backends(method):
    import mlx.core as mx
    import mlx.nn as mnn
    import torch
    from mlx.utils import tree_flatten

    from scratchlab.core.backends import mlx as mb
    from scratchlab.core.backends import torch as tb
    from scratchlab.rl.mlx import posttrain as M
    from scratchlab.rl.posttrain import PostTrainConfig, correct_answer, init_policy, wrong_answers
    from scratchlab.rl.torch import posttrain as T

    cfg = PostTrainConfig(vocab_size=8, response_len=3, d_model=16)
    rng = np.random.default_rng(0)
    w, w_ref = init_policy(cfg, rng), init_policy(cfg, rng)
    tm, tr = T.TokenPolicy(8, 16, 4), T.TokenPolicy(8, 16, 4)
    mm, mr = M.TokenPolicy(8, 16, 4), M.TokenPolicy(8, 16, 4)
    for model, weights, be in ((tm, w, tb), (tr, w_ref, tb), (mm, w, mb), (mr, w_ref, mb)):
        be.load_state_dict(model, weights)
    prompts = rng.integers(0, 8, 12)
    if method == "dpo":
        a, b = correct_answer(prompts, cfg), wrong_answers(prompts, cfg, rng)
        t_loss = T.dpo_step_loss(tm, tr, *map(torch.from_numpy, (prompts, a, b)), 0.3)
        m_loss, m_grads = mnn.value_and_grad(mm, M.dpo_step_loss)(
            mm, mr, *map(mx.array, (prompts, a, b)), 0.3)
    else:
        answers = rng.integers(0, 8, (12, 3))
        r = rng.random(12).astype(np.float32)
        t_loss = T.grpo_step_loss(tm, tr, *map(torch.from_numpy, (prompts, answers, r)), 4,
                                  0.2, 0.1)
        m_loss, m_grads = mnn.value_and_grad(mm, M.grpo_step_loss)(
            mm, mr, *map(mx.array, (prompts, answers, r)), 4, 0.2, 0.1)
    t_loss.backward()
    assert_close(m_loss, t_loss, **MODEL_TOL)
    t_grads = {n: p.grad for n, p in tm.named_parameters()}
    for n, g in tree_flatten(m_grads):
        assert_close(g, t_grads[n], **MODEL_TOL, msg=n)
