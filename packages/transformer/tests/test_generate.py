"""Generation: cached == uncached token streams, greedy/top-k/top-p/stop/seed, both backends."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.errors import ScratchlabError
from scratchlab.core.testing import BACKENDS, needs_both
from scratchlab.transformer.config import GPTConfig
from scratchlab.transformer.sampling import sample_next


def _model(backend: str, positional: str = "rope", max_len: int = 16):
    config = GPTConfig(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, positional=positional)
    if backend == "torch":
        import torch

        from scratchlab.transformer.torch.generate import generate
        from scratchlab.transformer.torch.model import GPT

        torch.manual_seed(0)
        return GPT(config, 29, max_len), generate
    import mlx.core as mx

    from scratchlab.transformer.mlx.generate import generate  # type: ignore[assignment]
    from scratchlab.transformer.mlx.model import GPT  # type: ignore[assignment]

    mx.random.seed(0)
    return GPT(config, 29, max_len), generate


def _sharpen(backend: str, model) -> None:
    """Scale the output embedding so greedy decoding is far from ties and samples vary."""
    from scratchlab.core.backends import get_backend

    be = get_backend(backend)
    sd = be.state_dict(model)
    sd["wte.weight"] = sd["wte.weight"] * 60
    be.load_state_dict(model, sd)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("positional", ["learned", "rope", "alibi"])
def test_cached_and_uncached_generate_the_same_tokens(backend: str, positional: str) -> None:
    model, generate = _model(backend, positional)
    _sharpen(backend, model)
    prompt = [3, 1, 4, 1, 5]
    # 20 new tokens > max_seq_len 16: exercises the context window refill
    for kw in (dict(temperature=0), dict(temperature=1.0, top_k=5, seed=7),
               dict(temperature=0.8, top_p=0.9, seed=3)):
        cached = list(generate(model, prompt, 20, use_cache=True, **kw))
        uncached = list(generate(model, prompt, 20, use_cache=False, **kw))
        assert cached == uncached and len(cached) == 20
    assert model.training  # built in train mode; generate evaluates, then restores the mode


@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_seed_and_streaming(backend: str) -> None:
    model, generate = _model(backend)
    _sharpen(backend, model)
    stream = generate(model, [1, 2, 3], 10, temperature=1.0, seed=0)
    first = next(stream)  # an iterator: tokens come one at a time
    rest = list(stream)
    assert len(rest) == 9
    again = list(generate(model, [1, 2, 3], 10, temperature=1.0, seed=0))
    assert again == [first, *rest]
    stop_at = again[3]
    stopped = list(generate(model, [1, 2, 3], 10, temperature=1.0, seed=0, stop=[stop_at]))
    assert stopped == again[: again.index(stop_at) + 1]
    with pytest.raises(ScratchlabError, match="top_p"):
        list(generate(model, [1], 2, top_p=1.5))
    with pytest.raises(ScratchlabError, match="prompt"):
        list(generate(model, [], 2))


@needs_both
def test_same_seed_same_tokens_across_backends() -> None:
    from scratchlab.core.backends import mlx as mb
    from scratchlab.core.backends import torch as tb

    t, gen_t = _model("torch")
    m, gen_m = _model("mlx")
    _sharpen("torch", t)
    mb.load_state_dict(m, tb.state_dict(t))
    for kw in (dict(temperature=0), dict(temperature=1.0, top_k=8, seed=11)):
        assert list(gen_t(t, [5, 6, 7], 12, **kw)) == list(gen_m(m, [5, 6, 7], 12, **kw))


def test_sampling_rules() -> None:
    rng = np.random.default_rng(0)
    logits = np.array([0.0, 3.0, 2.9, -1.0, 1.0])
    assert sample_next(logits, rng, temperature=0) == 1
    assert {sample_next(logits, rng, top_k=1) for _ in range(20)} == {1}
    assert {sample_next(logits, rng, top_k=2) for _ in range(200)} == {1, 2}
    # top_p: p(1) ~ 0.49, p(2) ~ 0.44 -> 0.6 keeps exactly {1, 2}
    assert {sample_next(logits, rng, top_p=0.6) for _ in range(200)} == {1, 2}
    counts = np.bincount([sample_next(logits, rng) for _ in range(4000)], minlength=5) / 4000
    probs = np.exp(logits) / np.exp(logits).sum()
    assert np.abs(counts - probs).max() < 0.03
