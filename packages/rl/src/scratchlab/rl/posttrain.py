"""Post-training a tiny token policy with DPO or GRPO on a verifiable task (framework-free part).

The task: given a prompt token x, answer the next ``response_len`` tokens counting up,
``x+1, x+2, ...`` (mod the vocabulary). The reward is verifiable: the fraction of answer
tokens that are right. DPO learns from pairs (the right answer preferred over a sampled wrong
one); GRPO samples a group of answers per prompt and pushes up those better than the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from scratchlab.core.config import choice


@dataclass
class PostTrainConfig:
    method: Literal["dpo", "grpo"] = "grpo"
    vocab_size: int = 16
    response_len: int = 4
    d_model: int = 64
    steps: int = 200
    batch_size: int = 32  # prompts per step
    group_size: int = 8  # GRPO: answers sampled per prompt
    lr: float = 1e-2
    beta: float = 0.1  # DPO temperature; GRPO's KL(pi || ref) weight
    clip_coef: float = 0.2  # GRPO's ratio clip
    sft_steps: int = 0  # optional warm start on a few right answers, then frozen as reference
    eval_every: int = 20
    eval_prompts: int = 256
    # any `model` component (e.g. {name: gpt, d_model: 32, n_layers: 2, n_heads: 2}) instead
    # of the tiny TokenPolicy; its context is response_len + 1 tokens
    model: Any = choice("model", None)

    def __post_init__(self) -> None:
        if self.vocab_size < 2 or self.response_len < 1 or self.d_model < 1:
            raise ValueError("vocab_size >= 2, response_len >= 1 and d_model >= 1 are required")
        if self.steps < 1 or self.batch_size < 1 or self.group_size < 2:
            raise ValueError("steps >= 1, batch_size >= 1 and group_size >= 2 are required")
        if not self.lr > 0 or not self.beta >= 0:
            raise ValueError("lr must be positive and beta non-negative")


def correct_answer(prompts: np.ndarray, cfg: PostTrainConfig) -> np.ndarray:
    """(B,) prompts -> (B, L) the right answers x+1, ..., x+L (mod vocab)."""
    return (prompts[:, None] + np.arange(1, cfg.response_len + 1)) % cfg.vocab_size


def reward(prompts: np.ndarray, answers: np.ndarray, cfg: PostTrainConfig) -> np.ndarray:
    """The verifiable reward: fraction of answer tokens that are right, in [0, 1]."""
    return (answers == correct_answer(prompts, cfg)).mean(-1)


def wrong_answers(prompts: np.ndarray, cfg: PostTrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random answers with at least one token wrong (DPO's rejected responses)."""
    right = correct_answer(prompts, cfg)
    out = rng.integers(0, cfg.vocab_size, right.shape)
    same = (out == right).all(-1)
    out[same, 0] = (right[same, 0] + 1) % cfg.vocab_size
    return out


def init_policy(cfg: PostTrainConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Weights of TokenPolicy (names shared by torch/posttrain.py and mlx/posttrain.py)."""
    d, v, n = cfg.d_model, cfg.vocab_size, cfg.response_len + 1
    return {"tok_emb.weight": (0.5 * rng.standard_normal((v, d))).astype(np.float32),
            "prompt_emb.weight": (0.5 * rng.standard_normal((v, d))).astype(np.float32),
            "pos_emb.weight": (0.5 * rng.standard_normal((n, d))).astype(np.float32),
            "head.weight": (rng.standard_normal((v, d)) / np.sqrt(d)).astype(np.float32),
            "head.bias": np.zeros(v, np.float32)}
