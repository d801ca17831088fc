"""The ``rl`` task, framework-free: run an algorithm on an environment, log returns against
environment steps, wall time and gradient statistics; optionally measure the gradient
estimator's variance and bias at the initial parameters first (experiments/pg_variance.yaml).

torch/task.py and mlx/task.py only supply their Agent class.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from scratchlab.core.context import RunContext
from scratchlab.core.errors import ScratchlabError
from scratchlab.rl.config import RLConfig, VarianceConfig
from scratchlab.rl.envs import ShortCorridor, corridor_value_grad
from scratchlab.rl.networks import init_agent
from scratchlab.rl.rollout import collect_episodes, collect_steps, log_softmax


def run(ctx: RunContext, backend_name: str, make_agent: Callable[..., Any]) -> dict[str, float]:
    cfg: RLConfig = ctx.config
    algo_cfg = cfg.algorithm.config
    env = cfg.env.build(None, algo_cfg.num_envs, ctx.seed)
    weights = init_agent(env.obs_dim, env.n_actions, cfg.agent, np.random.default_rng(ctx.seed))
    agent = make_agent(env.obs_dim, env.n_actions, cfg.agent, weights)
    rng = np.random.default_rng([ctx.seed, 1])
    algo = cfg.algorithm.build(backend_name, agent, cfg.train.total_steps, rng)
    metrics: dict[str, float] = {}
    if cfg.variance.batches:
        if algo.mode != "episodes":
            raise ScratchlabError(f"variance measurement needs a policy-gradient algorithm "
                                  f"(reinforce, ..., gae), not '{cfg.algorithm.name}'")
        metrics.update(measure_gradient(algo, env, cfg.variance, ctx.seed))
    metrics.update(train(ctx, algo, env, rng))
    from scratchlab.core.backends import get_backend

    ctx.save_checkpoint(get_backend(backend_name).state_dict(agent),
                        {"step": int(metrics["env_steps"]), "final": True})
    return metrics


def train(ctx: RunContext, algo: Any, env: Any, rng: np.random.Generator) -> dict[str, float]:
    """The learning loop: collect, update, log (step = environment steps)."""
    cfg: RLConfig = ctx.config
    total, window = cfg.train.total_steps, cfg.train.window
    if algo.mode == "steps":  # whole rollouts only, as CleanRL (total // batch_size updates)
        total = max(1, total // algo.cfg.batch_size) * algo.cfg.batch_size
    recent: deque[float] = deque(maxlen=window)
    last100: deque[float] = deque(maxlen=100)  # a second, longer "final return" window
    steps, updates, steps_to_target = 0, 0, math.inf
    late, late_below = 0, 0  # updates in the run's second half; those below the target
    grad_norms: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()  # CPU time: less load-sensitive
    obs = env.reset() if algo.mode == "steps" else None
    while steps < total:
        if algo.mode == "steps":
            assert obs is not None
            batch, obs = collect_steps(env, algo, obs, algo.cfg.num_steps, rng)
            finished, env.stats.finished = env.stats.finished, []
            returns = [r for r, _ in finished]
        else:
            batch = collect_episodes(env, algo, rng)
            returns = list((batch.rewards * batch.mask).sum(0))
        steps += batch.steps
        stats = algo.update(batch)
        updates += 1
        grad_norms.append(stats["grad_norm"])
        recent.extend(returns)
        last100.extend(returns)
        row = {k: v for k, v in stats.items() if math.isfinite(v)}
        if returns:
            row["episode_return"] = float(np.mean(returns))
        if len(recent) == window:
            row[f"return_mean{window}"] = float(np.mean(recent))
            if row[f"return_mean{window}"] >= cfg.train.target_return and math.isinf(steps_to_target):
                steps_to_target = steps
        if steps > total / 2:
            late += 1
            late_below += int(len(recent) < window or float(np.mean(recent)) < cfg.train.target_return)
        row["wall_s"] = time.perf_counter() - start
        ctx.log_metrics(steps, **row)
        ctx.progress(min(steps, total), total, ret=float(np.mean(recent)) if recent else 0.0)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    reached = math.isfinite(steps_to_target)
    return {"final_return": float(np.mean(recent)) if recent else math.nan,
            "final_return100": float(np.mean(last100)) if last100 else math.nan,
            # censored at the run's length when never reached (keeps the table finite)
            "steps_to_target": float(steps_to_target if reached else steps),
            "reached_target": float(reached), "env_steps": float(steps),
            # how well it holds what it learned: the share of the second half's updates whose
            # running mean is below the target (0 for a run that never falls back)
            "late_below_target": late_below / late if late else math.nan,
            "updates": float(updates), "train_wall_s": wall, "us_per_step": 1e6 * wall / steps,
            "cpu_us_per_step": 1e6 * cpu / steps,
            "grad_norm_mean": float(np.mean(grad_norms))}


def measure_gradient(algo: Any, env: Any, vcfg: VarianceConfig, seed: int) -> dict[str, float]:
    """Variance and bias of the algorithm's gradient estimator at its initial parameters.

    Every estimator sees the same random numbers (seeded from ``seed`` alone): the same critic
    fitting batches, the same reference batches, the same measured batches."""
    fit_rng = np.random.default_rng([seed, 2])
    for _ in range(vcfg.critic_fit_batches):
        algo.fit_critic(collect_episodes(env, algo, fit_rng))
    g_ref, ref_var, n_ref = exact_corridor_gradient(algo, env), 0.0, 1
    if g_ref is None:
        ref_rng = np.random.default_rng([seed, 3])
        ref = np.stack([algo.policy_gradient(collect_episodes(env, algo, ref_rng), "value")
                        for _ in range(vcfg.reference_batches)])
        g_ref, ref_var, n_ref = ref.mean(0), ref.var(0, ddof=1).sum(), len(ref)
    rng = np.random.default_rng([seed, 4])
    g = np.stack([algo.policy_gradient(collect_episodes(env, algo, rng))
                  for _ in range(vcfg.batches)])
    g_mean = g.mean(0)
    var = g.var(0, ddof=1).sum()  # E||g - E g||^2: the trace of the covariance
    bias_sq = float(((g_mean - g_ref) ** 2).sum())
    noise_sq = var / len(g) + ref_var / n_ref  # what bias_sq would be for an unbiased one
    return {"grad_var": float(var), "grad_bias": math.sqrt(bias_sq),
            "grad_bias_noise": math.sqrt(noise_sq),
            "grad_mse": float(((g - g_ref) ** 2).sum(1).mean()),
            "grad_ref_norm": float(np.linalg.norm(g_ref)),
            "grad_cosine": float(g_mean @ g_ref / (np.linalg.norm(g_mean) * np.linalg.norm(g_ref)
                                                   + 1e-12))}


def exact_corridor_gradient(algo: Any, env: Any) -> np.ndarray | None:
    """The true grad J on the short corridor (state-blind actor): dJ/dp * grad p, where
    grad p = p grad log pi(right). None for other environments."""
    if not isinstance(env, ShortCorridor) or not algo.agent.constant_actor:
        return None
    obs = env.reset()[:1]
    p = float(np.exp(log_softmax(algo.act(obs)))[0, ShortCorridor.RIGHT])
    right = np.array([ShortCorridor.RIGHT])
    return algo.score_gradient(obs, right, np.array([corridor_value_grad(p) * p]))
