"""DPO and GRPO post-training of a tiny token policy in PyTorch. Mirrors mlx/posttrain.py.

``TokenPolicy`` follows the ``model`` contract (``model(idx) -> logits``), so the same
functions post-train any causal LM of the transformer package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from scratchlab.core.backends import torch as backend
from scratchlab.core.context import RunContext
from scratchlab.rl.posttrain import (
    PostTrainConfig,
    correct_answer,
    init_policy,
    reward,
    wrong_answers,
)
from scratchlab.rl.rollout import sample
from scratchlab.rl.torch.losses import (
    dpo_loss,
    grpo_advantages,
    grpo_loss,
    log_prob,
    sequence_logprob,
)


class TokenPolicy(nn.Module):
    """Logits of token t+1 from token t, the prompt (token 0) and the position t."""

    def __init__(self, vocab_size: int, d_model: int, n_positions: int) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.prompt_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(n_positions, d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1])
        h = torch.tanh(self.tok_emb(idx) + self.prompt_emb(idx[:, :1]) + self.pos_emb(pos))
        return self.head(h)


def build_policy(cfg: PostTrainConfig, weights: dict[str, np.ndarray]) -> nn.Module:
    """The tiny TokenPolicy (from ``weights``), or the spec's ``model`` component."""
    if cfg.model is not None:
        return cfg.model.build("torch", cfg.vocab_size, cfg.response_len + 1)
    policy = TokenPolicy(cfg.vocab_size, cfg.d_model, cfg.response_len + 1)
    backend.load_state_dict(policy, weights)
    return policy


def token_logprobs(model: nn.Module, prompts: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """(B, L) log pi(y_t | x, y_<t) of each answer token (teacher forcing)."""
    idx = torch.cat([prompts[:, None], answers[:, :-1]], dim=1)
    return log_prob(model(idx), answers)


@torch.no_grad()
def generate(model: nn.Module, prompts: np.ndarray, length: int,
             rng: np.random.Generator | None) -> np.ndarray:
    """Sample (rng given) or greedily decode ``length`` answer tokens per prompt."""
    idx = torch.from_numpy(prompts[:, None])
    for _ in range(length):
        logits = model(idx)[:, -1].numpy()
        nxt = sample(logits, rng)[0] if rng is not None else logits.argmax(-1)
        idx = torch.cat([idx, torch.from_numpy(nxt[:, None])], dim=1)
    return idx[:, 1:].numpy()


def dpo_step_loss(model: nn.Module, ref: nn.Module, prompts: torch.Tensor, chosen: torch.Tensor,
                  rejected: torch.Tensor, beta: float) -> torch.Tensor:
    mask = torch.ones(chosen.shape)
    with torch.no_grad():
        ref_c = sequence_logprob(ref(torch.cat([prompts[:, None], chosen[:, :-1]], 1)), chosen, mask)
        ref_r = sequence_logprob(ref(torch.cat([prompts[:, None], rejected[:, :-1]], 1)), rejected, mask)
    pi_c = token_logprobs(model, prompts, chosen).sum(-1)
    pi_r = token_logprobs(model, prompts, rejected).sum(-1)
    return dpo_loss(pi_c, pi_r, ref_c, ref_r, beta)


def grpo_step_loss(model: nn.Module, ref: nn.Module, prompts: torch.Tensor, answers: torch.Tensor,
                   rewards: torch.Tensor, group_size: int, clip_coef: float,
                   beta: float) -> torch.Tensor:
    adv = grpo_advantages(rewards.reshape(-1, group_size)).reshape(-1)
    with torch.no_grad():
        ref_lp = token_logprobs(ref, prompts, answers)
    lp = token_logprobs(model, prompts, answers)
    return grpo_loss(lp, lp.detach(), ref_lp, adv, torch.ones(lp.shape), clip_coef, beta)


def run(ctx: RunContext) -> dict[str, Any]:
    cfg: PostTrainConfig = ctx.config
    torch.set_num_threads(1)
    rng = np.random.default_rng(ctx.seed)
    weights = init_policy(cfg, rng)
    model, ref = build_policy(cfg, weights), build_policy(cfg, weights)
    backend.load_state_dict(ref, backend.state_dict(model))  # the reference: a frozen copy
    ref.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
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
            loss = dpo_step_loss(model, ref, torch.from_numpy(prompts), torch.from_numpy(chosen),
                                 torch.from_numpy(rejected), cfg.beta)
            batch_reward = float("nan")
        else:
            group = np.repeat(prompts, cfg.group_size)
            answers = generate(model, group, cfg.response_len, rng)
            r = reward(group, answers, cfg).astype(np.float32)
            loss = grpo_step_loss(model, ref, torch.from_numpy(group), torch.from_numpy(answers),
                                  torch.from_numpy(r), cfg.group_size, cfg.clip_coef, cfg.beta)
            batch_reward = float(r.mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.sqrt(sum(((p.grad ** 2).sum() for p in model.parameters()
                                    if p.grad is not None), torch.tensor(0.0)))
        opt.step()
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
