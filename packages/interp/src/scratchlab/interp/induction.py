"""Induction heads (Olsson et al. 2022), the framework-free half: repeated random sequences,
the induction score of every head, the task's config.

On [BOS, r_1..r_L, r_1..r_L] the first half is unpredictable (loss about ln V) and the second is
predictable by copying: at position t of the repeat, find the previous occurrence of the current
token (t - L) and predict the token that followed it (t - L + 1). A head that attends there is an
induction head; in a 2-layer attention-only model it needs a previous-token head in layer 0 to
compose with (K-composition), so it appears in layer 1, abruptly (the phase change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchlab.core.config import choice

BOS = 0  # token 0 starts every sequence; the random tokens are drawn from 1..vocab_size-1


@dataclass
class InductionConfig:
    # ALiBi: position enters only as a penalty growing with distance, so no head can attend
    # to "exactly L - 1 back" by position (the shortcut learned positions allow), while a
    # previous-token head is easy. Attention-only, explicit attention so hook_pattern fires.
    model: Any = choice("model", {"name": "gpt", "n_layers": 2, "n_heads": 4, "d_model": 128,
                                  "ffn": "none", "positional": "alibi",
                                  "attention": {"name": "causal", "fused": False}})
    vocab_size: int = 64
    half_len: int = 32  # L: each sequence is BOS + L random tokens + the same L again
    # training rows repeat segments of length U[min_half_len, L] filled up with fresh tokens
    # (None: always L). Varying the distance fights the positional shortcut of learned positions;
    # with ALiBi it is not needed.
    min_half_len: int | None = None
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 100  # steps of linear learning-rate warmup
    weight_decay: float = 0.01
    eval_every: int = 50
    eval_batch: int = 64
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        if self.vocab_size < 3 or self.half_len < 2:
            raise ValueError("vocab_size must be at least 3 and half_len at least 2")
        if self.min_half_len is not None and not 1 <= self.min_half_len <= self.half_len:
            raise ValueError(f"min_half_len must lie in [1, half_len={self.half_len}], got "
                             f"{self.min_half_len}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be non-negative, got {self.warmup}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_batch < 1:
            raise ValueError("steps, batch_size and eval_batch must be positive")
        if self.model is None:
            raise ValueError("induction needs a model, e.g. {name: gpt, n_layers: 2, ffn: none}")

    @property
    def seq_len(self) -> int:
        return 1 + 2 * self.half_len

    def lr_scale(self, step: int) -> float:
        """Linear warmup over the first ``warmup`` steps (1-based), then constant."""
        return min(1.0, step / self.warmup) if self.warmup else 1.0


def repeated_tokens(batch: int, half_len: int, vocab_size: int, rng: np.random.Generator,
                    min_half_len: int | None = None) -> np.ndarray:
    """(batch, 1 + 2L) int64: BOS, L random tokens, the same L tokens again. With
    ``min_half_len``, each row repeats a segment of its own length l in [min_half_len, L] and
    is filled up with fresh random tokens: the distance between the copies then varies, so a
    head cannot copy by attending to a fixed offset through the position embeddings."""
    r = rng.integers(1, vocab_size, size=(batch, 2 * half_len))
    lengths = (np.full(batch, half_len) if min_half_len is None
               else rng.integers(min_half_len, half_len + 1, size=batch))
    for row, n in zip(r, lengths):
        row[n:2 * n] = row[:n]
    return np.concatenate([np.full((batch, 1), BOS), r], axis=1).astype(np.int64)


def induction_scores(pattern: np.ndarray, half_len: int) -> np.ndarray:
    """Mean attention from each position of the repeat to the token after the previous
    occurrence of its token: pattern[..., t, t - L + 1] for t in the second half.
    pattern: (batch, heads, T, T) with T = 1 + 2L -> (heads,)."""
    L = half_len
    t = np.arange(L + 1, 2 * L + 1)  # positions of the repeated tokens
    return pattern[:, :, t, t - L + 1].mean(axis=(0, 2))


def prev_token_scores(pattern: np.ndarray) -> np.ndarray:
    """Mean attention to the previous position (the layer-0 half of the circuit): (heads,)."""
    t = np.arange(1, pattern.shape[-1])
    return pattern[:, :, t, t - 1].mean(axis=(0, 2))


def half_losses(token_losses: np.ndarray, half_len: int) -> tuple[float, float]:
    """token_losses: (batch, T-1) loss of predicting token t+1 at position t. Returns the mean
    loss on the first half's predictions (of r_2..r_L) and on the repeat's (of r_1..r_L again,
    positions L+1 .. 2L-1 predicting the second copy)."""
    L = half_len
    first = token_losses[:, 1:L]  # predicting r_2..r_L from the first copy
    repeated = token_losses[:, L + 1:2 * L]  # predicting r_2..r_L of the second copy
    return float(first.mean()), float(repeated.mean())


def head_scores(patterns: dict[int, np.ndarray], half_len: int) -> dict[str, float]:
    """``{"L1H3": {"induction": ..., "prev_token": ...}}`` for every head."""
    out: dict[str, Any] = {}
    for layer, p in sorted(patterns.items()):
        ind_s, prev_s = induction_scores(p, half_len), prev_token_scores(p)
        for h in range(p.shape[1]):
            out[f"L{layer}H{h}"] = {"induction": float(ind_s[h]), "prev_token": float(prev_s[h])}
    return out


def evaluate(patterns: dict[int, np.ndarray], token_losses: np.ndarray,
             half_len: int) -> dict[str, float]:
    """The numbers logged over training: the two half losses, and per layer the best
    induction and previous-token scores (the last layer's induction score is the headline)."""
    first, repeated = half_losses(token_losses, half_len)
    out = {"loss_first_half": first, "loss_repeated_half": repeated}
    for layer, p in sorted(patterns.items()):
        out[f"induction_max_L{layer}"] = float(induction_scores(p, half_len).max())
        out[f"prev_token_max_L{layer}"] = float(prev_token_scores(p).max())
    out["induction_max_last"] = out[f"induction_max_L{max(patterns)}"]
    return out
