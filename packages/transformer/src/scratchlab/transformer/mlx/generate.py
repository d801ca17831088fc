"""Streaming generation in MLX: prefill the prompt into the KV cache, then one token at a
time. Without the cache, every step reruns the whole (cropped) context: the reference that the
cached path must equal. Sampling is NumPy (scratchlab.transformer.sampling), so a seed gives the
same tokens in both backends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import mlx.core as mx
import numpy as np

from scratchlab.core.errors import ScratchlabError
from scratchlab.transformer.mlx.model import GPT
from scratchlab.transformer.sampling import check_sampling, sample_next


def generate(model: GPT, prompt: list[int], max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, stop: Iterable[int] = (),
             seed: int | None = None, use_cache: bool = True) -> Iterator[int]:
    """Yield up to ``max_new_tokens`` token ids; stops after yielding a token in ``stop``.

    The context is the last ``model.max_seq_len`` tokens (as nanoGPT crops); when the cache is
    full it is refilled from that window, so cached and uncached runs see the same context.
    """
    check_sampling(temperature, top_k, top_p)
    if not prompt:
        raise ScratchlabError("generate needs a non-empty prompt (at least one token id).")
    stop_ids = set(stop)
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    tokens = list(prompt)
    window = model.max_seq_len
    cache = model.make_cache(1, window) if use_cache else None
    pending = tokens[-window:]  # tokens the model has not seen yet
    try:
        for _ in range(max_new_tokens):
            if cache is None:
                ids = tokens[-window:]
            else:
                if cache.offset + len(pending) > window:  # full: refill from the window
                    cache.reset()
                    pending = tokens[-window:]
                ids = pending
            logits = model(mx.array([ids], dtype=mx.int32), cache)
            nxt = sample_next(np.array(logits[0, -1].astype(mx.float32)), rng, temperature, top_k, top_p)
            tokens.append(nxt)
            pending = [nxt]
            yield nxt
            if nxt in stop_ids:
                break
    finally:
        model.train(was_training)
