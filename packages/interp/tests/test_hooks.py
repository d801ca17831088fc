"""run_with_cache / run_with_hooks on real scratchlab GPTs, in both backends."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.config import build_config
from scratchlab.core.errors import ScratchlabError
from scratchlab.core.testing import BACKENDS, MODEL_TOL, assert_close, needs_both, to_np
from scratchlab.transformer.config import GPTConfig

VOCAB, T = 50, 12


def make(backend: str, ffn: str = "none", seed: int = 0):
    """A tiny 2-layer GPT with fixed NumPy weights (the same in both backends)."""
    cfg = build_config(GPTConfig, {"d_model": 16, "n_layers": 2, "n_heads": 2, "ffn": ffn,
                                   "attention": {"name": "causal", "fused": False}})
    if backend == "torch":
        from scratchlab.core.backends import torch as be
        from scratchlab.transformer.torch.model import gpt
    else:
        from scratchlab.core.backends import mlx as be
        from scratchlab.transformer.mlx.model import gpt
    model = gpt(cfg, VOCAB, T)
    rng = np.random.default_rng(seed)
    sd = {k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
          for k, v in be.state_dict(model).items()}
    be.load_state_dict(model, sd)
    model.eval()
    return model, be


def api(backend: str):
    if backend == "torch":
        import torch

        from scratchlab.interp.torch import hooks
        return hooks, torch.from_numpy, torch.zeros_like
    import mlx.core as mx

    from scratchlab.interp.mlx import hooks
    return hooks, mx.array, mx.zeros_like


def tokens(seed: int = 1, batch: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, T)).astype(np.int64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cache_matches_direct_recomputation(backend):
    model, be = make(backend)
    hooks, arr, _ = api(backend)
    x = arr(tokens())
    logits, cache = hooks.run_with_cache(model, x)
    assert_close(logits, model(x), **MODEL_TOL)
    # every hook point that runs was recorded (an attention-only model has no MLP to hook)
    assert set(cache) == {n for n in model.hook_points() if "mlp_out" not in n}
    c = cache.to_numpy()
    for i in range(2):
        # the residual stream adds up: pre + attn_out = mid; mid = post without an MLP
        assert_close(c[f"blocks.{i}.hook_resid_pre"] + c[f"blocks.{i}.hook_attn_out"],
                     c[f"blocks.{i}.hook_resid_mid"], **MODEL_TOL)
        assert_close(c[f"blocks.{i}.hook_resid_mid"], c[f"blocks.{i}.hook_resid_post"])
        # the pattern is softmax(q k^T / sqrt(d_head)) under the causal mask
        q = c[f"blocks.{i}.attn.hook_q"].transpose(0, 2, 1, 3).astype(np.float64)
        k = c[f"blocks.{i}.attn.hook_k"].transpose(0, 2, 1, 3).astype(np.float64)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
        scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
        pattern = np.exp(scores - scores.max(-1, keepdims=True))
        pattern /= pattern.sum(-1, keepdims=True)
        assert_close(c[f"blocks.{i}.attn.hook_pattern"], pattern, **MODEL_TOL)
        # z is the pattern-weighted sum of the values
        v = c[f"blocks.{i}.attn.hook_v"].transpose(0, 2, 1, 3)
        assert_close(c[f"blocks.{i}.attn.hook_z"], (pattern @ v).transpose(0, 2, 1, 3),
                     **MODEL_TOL)
    assert_close(c["blocks.0.hook_resid_post"], c["blocks.1.hook_resid_pre"])
    # short names and stacking
    assert_close(cache["pattern", 1], c["blocks.1.attn.hook_pattern"])
    assert cache.stack("resid_post").shape == (2, 3, T, 16)


@pytest.mark.parametrize("backend", BACKENDS)
def test_names_filter_and_unknown_names(backend):
    model, _ = make(backend)
    hooks, arr, _ = api(backend)
    _, cache = hooks.run_with_cache(model, arr(tokens()),
                                    names_filter=lambda n: n.endswith("hook_pattern"))
    assert sorted(cache) == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    _, cache = hooks.run_with_cache(model, arr(tokens()), names_filter="blocks.1.hook_resid_pre")
    assert list(cache) == ["blocks.1.hook_resid_pre"]
    with pytest.raises(ScratchlabError, match="did you mean"):
        hooks.run_with_cache(model, arr(tokens()), names_filter="blocks.1.hook_resid_prе")
    with pytest.raises(KeyError):
        cache["blocks.0.hook_resid_pre"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_ablating_attention_leaves_the_embedding_path(backend):
    """With every attention output zeroed, an attention-only model is unembed(ln_f(embed))."""
    model, _ = make(backend)
    hooks, arr, zeros_like = api(backend)
    x = arr(tokens())
    logits = hooks.run_with_hooks(model, x, [(lambda n: n.endswith("hook_attn_out"),
                                              lambda a, name: zeros_like(a))])
    _, cache = hooks.run_with_cache(model, x, names_filter="blocks.0.hook_resid_pre")
    resid = cache["blocks.0.hook_resid_pre"]
    expected = model.ln_f(resid) @ model.wte.weight.T
    assert_close(logits, expected, **MODEL_TOL)
    assert not np.allclose(to_np(logits), to_np(model(x)), atol=1e-3)  # it did change
    assert all(not p._hooks for p in model.hook_points().values())  # and came off again


@pytest.mark.parametrize("backend", BACKENDS)
def test_activation_patching(backend):
    """Patch the clean run's residual stream into a corrupted run: at every position it
    restores the clean logits; at one position it changes only that position and later ones."""
    model, _ = make(backend, ffn="mlp")
    hooks, arr, _ = api(backend)
    clean, corrupt = tokens(1), tokens(1).copy()
    corrupt[:, 5] = (corrupt[:, 5] + 1) % VOCAB
    clean_logits, clean_cache = hooks.run_with_cache(model, arr(clean))
    corrupt_logits = hooks.run_with_hooks(model, arr(corrupt))
    name = "blocks.1.hook_resid_pre"
    patched = hooks.run_with_hooks(model, arr(corrupt), [(name, lambda a, n: clean_cache[name])])
    assert_close(patched, clean_logits, **MODEL_TOL)

    def patch_position(pos):
        def fn(a, n):
            out = to_np(a).copy()
            out[:, pos] = to_np(clean_cache[n])[:, pos]
            return arr(out.astype(np.float32))
        return fn

    one = to_np(hooks.run_with_hooks(model, arr(corrupt), [(name, patch_position(7))]))
    assert_close(one[:, :7], corrupt_logits[:, :7], **MODEL_TOL)
    assert not np.allclose(one[:, 7], to_np(corrupt_logits)[:, 7], atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hooks_come_off_after_an_exception(backend):
    model, _ = make(backend)
    hooks, arr, _ = api(backend)

    def boom(a, name):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        hooks.run_with_hooks(model, arr(tokens()), [("blocks.1.hook_attn_out", boom)])
    assert all(not p._hooks for p in model.hook_points().values())


@needs_both
def test_cache_parity_across_backends():
    t_model, _ = make("torch")
    m_model, _ = make("mlx")
    t_hooks, t_arr, _ = api("torch")
    m_hooks, m_arr, _ = api("mlx")
    t_logits, t_cache = t_hooks.run_with_cache(t_model, t_arr(tokens()))
    m_logits, m_cache = m_hooks.run_with_cache(m_model, m_arr(tokens()))
    assert_close(t_logits, m_logits, **MODEL_TOL)
    assert sorted(t_cache) == sorted(m_cache)
    for name in t_cache:
        assert_close(t_cache[name], m_cache[name], **MODEL_TOL, msg=name)
