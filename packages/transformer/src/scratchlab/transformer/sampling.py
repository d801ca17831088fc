"""Choosing the next token from logits, in NumPy so both backends sample identically.

temperature 0 is greedy (argmax); otherwise softmax(logits / temperature), restricted to the
``top_k`` most likely tokens and/or the smallest set whose probability reaches ``top_p``
(nucleus sampling), then one draw from a seeded NumPy generator.
"""

from __future__ import annotations

import numpy as np

from scratchlab.core.errors import ScratchlabError


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if temperature < 0:
        raise ScratchlabError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ScratchlabError(f"top_k must be at least 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ScratchlabError(f"top_p must be in (0, 1], got {top_p}")


def sample_next(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None) -> int:
    """One token id from a (V,) vector of logits."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits / temperature
    if top_k is not None and top_k < z.shape[0]:
        kth = np.partition(z, -top_k)[-top_k]
        z = np.where(z < kth, -np.inf, z)
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        cum = np.cumsum(probs[order])
        keep = cum - probs[order] < top_p  # a token stays if the mass before it is below top_p
        mask = np.zeros_like(probs, dtype=bool)
        mask[order[keep]] = True
        probs = np.where(mask, probs, 0.0)
        probs /= probs.sum()
    return int(rng.choice(probs.shape[0], p=probs))
