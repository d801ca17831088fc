"""DPO and GRPO post-training of a tiny token policy in MLX. Mirrors torch/posttrain.py.

``TokenPolicy`` follows the ``model`` contract (``model(idx) -> logits``), so the same
functions post-train any causal LM of the transformer package.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from scratchlab.core.backends import mlx as backend
from scratchlab.core.context import RunContext
from scratchlab.rl.mlx.losses import (
    dpo_loss,
    grpo_advantages,
    grpo_loss,
    log_prob,
    sequence_logprob,
)
from scratchlab.rl.posttrain import (
    PostTrainConfig,
    correct_answer,
    init_policy,
    reward,
    wrong_answers,
)
from scratchlab.rl.rollout import sample


class TokenPolicy(nn.Module):
    """Logits of token t+1 from token t, the prompt (token 0) and the position t."""

    def __init__(self, vocab_size: int, d_model: int, n_positions: int) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.prompt_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(n_positions, d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def __call__(self, idx: mx.array) -> mx.array:
        pos = mx.arange(idx.shape[1])
        h = mx.tanh(self.tok_emb(idx) + self.prompt_emb(idx[:, :1]) + self.pos_emb(pos))
        return self.head(h)


def build_policy(cfg: PostTrainConfig, weights: dict[str, np.ndarray]) -> nn.Module:
    """The tiny TokenPolicy (from ``weights``), or the spec's ``model`` component."""
    if cfg.model is not None:
        return cfg.model.build("mlx", cfg.vocab_size, cfg.response_len + 1)
    policy = TokenPolicy(cfg.vocab_size, cfg.d_model, cfg.response_len + 1)
    backend.load_state_dict(policy, weights)
    return policy


def token_logprobs(model: nn.Module, prompts: mx.array, answers: mx.array) -> mx.array:
    """(B, L) log pi(y_t | x, y_<t) of each answer token (teacher forcing)."""
    idx = mx.concatenate([prompts[:, None], answers[:, :-1]], axis=1)
    return log_prob(model(idx), answers)


def generate(model: nn.Module, prompts: np.ndarray, length: int,
             rng: np.random.Generator | None) -> np.ndarray:
    """Sample (rng given) or greedily decode ``length`` answer tokens per prompt."""
    idx = mx.array(prompts[:, None])
    for _ in range(length):
        logits = np.array(model(idx)[:, -1])
        nxt = sample(logits, rng)[0] if rng is not None else logits.argmax(-1)
        idx = mx.concatenate([idx, mx.array(nxt[:, None])], axis=1)
    return np.array(idx[:, 1:])


def dpo_step_loss(model: nn.Module, ref: nn.Module, prompts: mx.array, chosen: mx.array,
                  rejected: mx.array, beta: float) -> mx.array:
    mask = mx.ones(chosen.shape)
    ref_c = mx.stop_gradient(sequence_logprob(
        ref(mx.concatenate([prompts[:, None], chosen[:, :-1]], 1)), chosen, mask))
    ref_r = mx.stop_gradient(sequence_logprob(
        ref(mx.concatenate([prompts[:, None], rejected[:, :-1]], 1)), rejected, mask))
    pi_c = token_logprobs(model, prompts, chosen).sum(-1)
    pi_r = token_logprobs(model, prompts, rejected).sum(-1)
    return dpo_loss(pi_c, pi_r, ref_c, ref_r, beta)


def grpo_step_loss(model: nn.Module, ref: nn.Module, prompts: mx.array, answers: mx.array,
                   rewards: mx.array, group_size: int, clip_coef: float,
                   beta: float) -> mx.array:
    adv = grpo_advantages(rewards.reshape(-1, group_size)).reshape(-1)
    ref_lp = mx.stop_gradient(token_logprobs(ref, prompts, answers))
    lp = token_logprobs(model, prompts, answers)
    return grpo_loss(lp, mx.stop_gradient(lp), ref_lp, adv, mx.ones(lp.shape), clip_coef, beta)


def run(ctx: RunContext) -> dict[str, Any]:
    cfg: PostTrainConfig = ctx.config
    rng = np.random.default_rng(ctx.seed)
    weights = init_policy(cfg, rng)
    model, ref = build_policy(cfg, weights), build_policy(cfg, weights)
    backend.load_state_dict(ref, backend.state_dict(model))  # the reference: a frozen copy
    ref.freeze()
    opt = optim.Adam(learning_rate=cfg.lr, bias_correction=True)
    eval_prompts = np.random.default_rng([ctx.seed, 9]).integers(0, cfg.vocab_size, cfg.eval_prompts)

    def evaluate() -> dict[str, float]:
        sampled = generate(model, eval_prompts, cfg.response_len, np.random.default_rng(0))
        greedy = generate(model, eval_prompts, cfg.response_len, None)
        return {"reward": float(reward(eval_prompts, sampled, cfg).mean()),
                "exact_match": float((greedy == correct_answer(eval_prompts, cfg)).all(-1).mean())}

    start = evaluate()
    for step in range(1, cfg.steps + 1):
        prompts = rng.integers(0, cfg.vocab_size, cfg.batch_size)
        if cfg.method == "dpo":
            chosen, rejected = correct_answer(prompts, cfg), wrong_answers(prompts, cfg, rng)
            loss, grads = nn.value_and_grad(model, dpo_step_loss)(
                model, ref, mx.array(prompts), mx.array(chosen), mx.array(rejected), cfg.beta)
            batch_reward = float("nan")
        else:
            group = np.repeat(prompts, cfg.group_size)
            answers = generate(model, group, cfg.response_len, rng)
            r = reward(group, answers, cfg).astype(np.float32)
            loss, grads = nn.value_and_grad(model, grpo_step_loss)(
                model, ref, mx.array(group), mx.array(answers), mx.array(r), cfg.group_size,
                cfg.clip_coef, cfg.beta)
            batch_reward = float(r.mean())
        grad_norm = mx.sqrt(sum((g ** 2).sum() for _, g in tree_flatten(grads)))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, grad_norm)
        row = {"loss": loss.item(), "grad_norm": grad_norm.item()}
        if batch_reward == batch_reward:
            row["batch_reward"] = batch_reward
        if step % cfg.eval_every == 0 or step == cfg.steps:
            row.update(evaluate())
        ctx.log_metrics(step, **row)
        ctx.progress(step, cfg.steps, loss=row["loss"])
    end = evaluate()
    return {"reward_before": start["reward"], "reward": end["reward"],
            "exact_match_before": start["exact_match"], "exact_match": end["exact_match"],
            "final_loss": loss.item()}
