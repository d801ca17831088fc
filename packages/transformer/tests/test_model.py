"""The whole model: cross-backend logits and gradients, KV cache == full forward for every
positional variant, causality, hooks, aux collection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.errors import ScratchlabError
from scratchlab.core.testing import BACKENDS, MODEL_TOL, assert_close, needs_both
from scratchlab.transformer.config import GPTConfig

POSITIONALS = ["learned", "sinusoidal", "rope", {"name": "rope", "layout": "interleaved"},
               {"name": "rope", "scaling": "yarn", "factor": 4.0, "original_max_len": 8},
               {"name": "rope", "scaling": "ntk", "factor": 2.0}, "alibi", "none"]
VOCAB, MAX_LEN = 37, 24


def small(**kw: Any) -> GPTConfig:
    base = dict(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2)
    return GPTConfig(**{**base, **kw})


def build(backend: str, config: GPTConfig, vocab: int = VOCAB, max_len: int = MAX_LEN):
    if backend == "torch":
        import torch

        from scratchlab.transformer.torch.model import GPT

        torch.manual_seed(0)
        return GPT(config, vocab, max_len).eval()
    import mlx.core as mx

    from scratchlab.transformer.mlx.model import GPT  # type: ignore[assignment]

    mx.random.seed(0)
    model = GPT(config, vocab, max_len)
    model.eval()
    return model


def forward(backend: str, model, idx: np.ndarray, cache=None) -> np.ndarray:
    if backend == "torch":
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(idx), cache).numpy()
    import mlx.core as mx

    return np.array(model(mx.array(idx), cache))


def tokens(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, shape).astype(np.int64)


# --- cross-backend -----------------------------------------------------------------------------

@needs_both
@pytest.mark.parametrize("kw", [
    dict(),  # GPT-2 like: learned, layernorm, GELU MLP, tied
    dict(positional="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False),
    dict(positional="alibi", ffn={"name": "mlp", "activation": "gelu_tanh"},
         attention={"name": "causal", "fused": False, "window": 4}),
    dict(positional="sinusoidal", ffn="none", n_kv_heads=1),
])
def test_same_weights_same_logits_and_gradients(kw: dict) -> None:
    import mlx.core as mx
    import mlx.nn as mnn
    import torch
    import torch.nn.functional as F
    from mlx.utils import tree_flatten

    from scratchlab.core.backends import mlx as mb
    from scratchlab.core.backends import torch as tb

    config = small(**kw)
    t, m = build("torch", config), build("mlx", config)
    weights = tb.state_dict(t)
    # move every parameter away from its init so no term hides behind a 0 or a 1
    rng = np.random.default_rng(1)
    weights = {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in weights.items()}
    tb.load_state_dict(t, weights)
    mb.load_state_dict(m, weights)
    assert sorted(weights) == sorted(k for k, _ in tree_flatten(m.parameters()))
    idx = tokens((2, 12))
    assert_close(forward("torch", t, idx), forward("mlx", m, idx), **MODEL_TOL)

    t.train()  # dropout is 0: train mode only changes nothing, but exercises the path
    loss_t = F.cross_entropy(t(torch.from_numpy(idx[:, :-1])).flatten(0, 1),
                             torch.from_numpy(idx[:, 1:]).flatten())
    loss_t.backward()

    def loss_fn(model, x, y):
        return mnn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_m, grads = mnn.value_and_grad(m, loss_fn)(m, mx.array(idx[:, :-1]), mx.array(idx[:, 1:]))
    assert_close(loss_t, loss_m, **MODEL_TOL)
    grads = dict(tree_flatten(grads))
    for name, p in t.named_parameters():
        assert_close(p.grad, grads[name], **MODEL_TOL, msg=name)


# --- the KV cache ----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("positional", POSITIONALS, ids=str)
@pytest.mark.parametrize("fused", [True, False])
def test_cached_decoding_equals_full_forward(backend: str, positional: Any, fused: bool) -> None:
    config = small(positional=positional, attention={"name": "causal", "fused": fused})
    model = build(backend, config)
    idx = tokens((2, 14))
    full = forward(backend, model, idx)
    cache = model.make_cache(2, MAX_LEN)
    steps = [forward(backend, model, idx[:, :5], cache)]  # prefill 5, then one token at a time
    for t in range(5, 14):
        steps.append(forward(backend, model, idx[:, t:t + 1], cache))
    assert cache.offset == 14
    assert_close(np.concatenate(steps, axis=1), full, **MODEL_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cached_chunks_and_sliding_window(backend: str) -> None:
    config = small(positional="rope", attention={"name": "causal", "window": 4})
    model = build(backend, config)
    idx = tokens((1, 12), seed=2)
    full = forward(backend, model, idx)
    cache = model.make_cache(1, 12)
    parts = [forward(backend, model, idx[:, a:b], cache) for a, b in ((0, 3), (3, 8), (8, 12))]
    assert_close(np.concatenate(parts, axis=1), full, **MODEL_TOL)
    with pytest.raises(ScratchlabError, match="KV cache"):
        forward(backend, model, idx[:, :1], cache)


# --- properties ------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("positional", ["learned", "rope", "alibi"])
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_future_tokens_never_change_past_logits(backend: str, positional: str, data: Any) -> None:
    T = data.draw(st.integers(2, 12), label="T")
    cut = data.draw(st.integers(1, T - 1), label="cut")
    seq = data.draw(st.lists(st.integers(0, VOCAB - 1), min_size=T, max_size=T), label="seq")
    tail = data.draw(st.lists(st.integers(0, VOCAB - 1), min_size=T - cut, max_size=T - cut))
    model = _cached_model(backend, positional)
    a = np.array([seq], dtype=np.int64)
    b = np.array([seq[:cut] + tail], dtype=np.int64)
    assert_close(forward(backend, model, a)[:, :cut], forward(backend, model, b)[:, :cut], **MODEL_TOL)


_MODELS: dict[tuple[str, str], Any] = {}


def _cached_model(backend: str, positional: str):
    key = (backend, positional)
    if key not in _MODELS:
        _MODELS[key] = build(backend, small(positional=positional, attention={"name": "causal", "fused": False}))
    return _MODELS[key]


@pytest.mark.parametrize("backend", BACKENDS)
def test_learned_positions_refuse_to_extrapolate_others_do(backend: str) -> None:
    with pytest.raises(ScratchlabError, match="learned positions"):
        forward(backend, build(backend, small()), tokens((1, MAX_LEN + 1)))
    for positional in ("rope", "alibi", "sinusoidal", "none"):
        out = forward(backend, build(backend, small(positional=positional)), tokens((1, 2 * MAX_LEN)))
        assert out.shape == (1, 2 * MAX_LEN, VOCAB) and np.isfinite(out).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_gpt2_init_and_parameter_names(backend: str) -> None:
    from scratchlab.core.backends import get_backend

    be = get_backend(backend)
    model = build(backend, GPTConfig(d_model=64, n_layers=8, n_heads=4, ffn="swiglu", tie_weights=False))
    sd = be.state_dict(model)
    assert "lm_head.weight" in sd and "wpe.weight" in sd
    assert {"blocks.0.attn.q.weight", "blocks.0.attn.o.bias", "blocks.7.mlp.gate.weight",
            "blocks.7.mlp.down.weight", "blocks.0.ln_1.weight", "ln_f.bias"} <= set(sd)
    assert abs(sd["blocks.0.attn.q.weight"].std() - 0.02) < 0.002
    assert abs(sd["blocks.3.attn.o.weight"].std() - 0.02 / 4) < 0.0005  # 1/sqrt(2*8) = 1/4
    assert abs(sd["blocks.3.mlp.down.weight"].std() - 0.02 / 4) < 0.0005
    assert (sd["blocks.0.attn.q.bias"] == 0).all() and (sd["ln_f.weight"] == 1).all()
    tied = be.state_dict(build(backend, small(positional="rope")))
    assert "lm_head.weight" not in tied and "wpe.weight" not in tied
    assert model.num_params() == be.count_params(model)


# --- hooks and aux ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_hook_points(backend: str) -> None:
    model = build(backend, small(positional="rope", attention={"name": "causal", "fused": False}))
    points = model.hook_points()
    per_block = {"hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out",
                 "hook_mlp_out", "attn.hook_q", "attn.hook_k", "attn.hook_v",
                 "attn.hook_pattern", "attn.hook_z"}
    assert set(points) == {f"blocks.{i}.{n}" for i in range(2) for n in per_block}
    idx = tokens((1, 6))
    clean = forward(backend, model, idx)
    seen: dict[str, tuple] = {}
    for hp in points.values():
        hp.add_hook(lambda x, n: seen.__setitem__(n, tuple(x.shape)))
    assert_close(forward(backend, model, idx), clean, **MODEL_TOL)  # observing changes nothing
    assert seen["blocks.1.attn.hook_pattern"] == (1, 4, 6, 6)
    assert seen["blocks.0.attn.hook_q"] == (1, 6, 4, 8) and seen["blocks.0.attn.hook_k"] == (1, 6, 2, 8)
    assert seen["blocks.0.hook_resid_post"] == (1, 6, 32)
    for hp in points.values():
        hp.remove_hooks()
    # patching: zero the last block's attention output
    points["blocks.1.hook_attn_out"].add_hook(lambda x, n: x * 0)
    patched = forward(backend, model, idx)
    assert not np.allclose(patched, clean)
    points["blocks.1.hook_attn_out"].remove_hooks()
    assert_close(forward(backend, model, idx), clean, **MODEL_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hooks_are_not_parameters(backend: str) -> None:
    from scratchlab.core.backends import get_backend

    model = build(backend, small())
    for hp in model.hook_points().values():
        hp.add_hook(lambda x, n: None)
    names = get_backend(backend).state_dict(model)
    assert not any("hook" in k for k in names)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pattern_hook_forces_explicit_path_and_aux_of_tuple_ffn(backend: str) -> None:
    model = build(backend, small(attention={"name": "causal", "fused": True}))
    idx = tokens((2, 5))
    got: list = []
    model.hook_points()["blocks.0.attn.hook_pattern"].add_hook(lambda x, n: got.append(x.shape))
    forward(backend, model, idx)
    assert got == [(2, 4, 5, 5)]
    # an ffn that returns (y, aux), as the MoE package's does
    logits, aux = (model.forward_aux(_as(backend, idx)))
    assert aux == {}
    for i, block in enumerate(model.blocks):
        block.mlp = _AuxFFN(backend, block.mlp, i)
    logits, aux = model.forward_aux(_as(backend, idx))
    assert float(aux["aux_loss"]) == pytest.approx(0.5 + 1.5)  # layer 0: 0.5, layer 1: 1.5
    assert float(aux["blocks.1.mlp.load"]) == 1.0
    assert_close(forward(backend, model, idx), logits, **MODEL_TOL)


def _as(backend: str, idx: np.ndarray):
    if backend == "torch":
        import torch

        return torch.from_numpy(idx)
    import mlx.core as mx

    return mx.array(idx)


def _AuxFFN(backend: str, inner, layer: int):
    """Wraps a dense ffn to return (y, {"aux_loss": 0.5 + layer, "load": layer})."""
    if backend == "torch":
        import torch

        class T(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x), {"aux_loss": torch.tensor(0.5 + layer), "load": torch.tensor(float(layer))}

        return T()
    import mlx.core as mx
    import mlx.nn as nn

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def __call__(self, x):
            return self.inner(x), {"aux_loss": mx.array(0.5 + layer), "load": mx.array(float(layer))}

    return M()


# --- training-time behaviour -----------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fused", [True, False])
def test_dropout_acts_in_training_only(backend: str, fused: bool) -> None:
    model = build(backend, small(dropout=0.5, attention={"name": "causal", "fused": fused}))
    idx = tokens((2, 8))
    assert_close(forward(backend, model, idx), forward(backend, model, idx), **MODEL_TOL)  # eval
    model.train()
    a, b = forward(backend, model, idx), forward(backend, model, idx)
    assert not np.allclose(a, b)  # a fresh mask each call (attention, residual and embeddings)


@pytest.mark.parametrize("positional", ["learned", "rope", "alibi"])
@pytest.mark.parametrize("fused", [True, False])
def test_torch_bf16_autocast_runs_close_to_fp32(positional: str, fused: bool) -> None:
    torch = pytest.importorskip("torch")
    model = build("torch", small(positional=positional, norm="rmsnorm",
                                 attention={"name": "causal", "fused": fused}))
    idx = torch.from_numpy(tokens((2, 10)))
    with torch.no_grad():
        ref = model(idx)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(idx)
    assert low.dtype == torch.bfloat16 and torch.isfinite(low.float()).all()
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max() + 0.05
