"""Attention: explicit vs fused vs the frameworks' reference kernels, GQA, windows, across backends."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import OP_TOL, assert_close, needs_both, needs_mlx, needs_torch
from scratchlab.transformer.config import GPTConfig


def _attn(backend: str, **attention):
    c = GPTConfig(d_model=32, n_heads=4, n_kv_heads=2, positional="none",
                  attention={"name": "causal", **attention})
    if backend == "torch":
        from scratchlab.transformer.torch.attention import CausalSelfAttention
        from scratchlab.transformer.torch.positional import NoPositions
    else:
        from scratchlab.transformer.mlx.attention import CausalSelfAttention  # type: ignore[assignment]
        from scratchlab.transformer.mlx.positional import NoPositions  # type: ignore[assignment]
    return CausalSelfAttention(c.attention.config, c), NoPositions(None, c, max_seq_len=16)


def _qkv(shape_q=(2, 4, 7, 8), shape_kv=(2, 2, 7, 8), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape_q).astype(np.float32),
            rng.standard_normal(shape_kv).astype(np.float32),
            rng.standard_normal(shape_kv).astype(np.float32))


@needs_torch
@pytest.mark.parametrize("window", [None, 3])
@pytest.mark.parametrize("offset, kv_len", [(0, 7), (5, 12)])
def test_torch_paths_match_sdpa(window, offset, kv_len) -> None:
    import torch
    import torch.nn.functional as F

    from scratchlab.transformer.torch.attention import attention_mask

    attn, _ = _attn("torch", window=window)
    q, k, v = (torch.from_numpy(a) for a in _qkv((2, 4, 7, 8), (2, 2, kv_len, 8)))
    mask = attention_mask(offset, 7, kv_len, window, q.device)
    ref = F.scaled_dot_product_attention(q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1),
                                         attn_mask=mask)
    assert_close(attn._explicit(q, k, v, offset, None), ref, **OP_TOL)
    assert_close(attn._fused(q, k, v, offset, None), ref, **OP_TOL)
    if offset == 0 and window is None:  # the naive definition, written out in NumPy
        qn, kn, vn = (a.numpy().astype(np.float64) for a in (q, k, v))
        kn, vn = np.repeat(kn, 2, 1), np.repeat(vn, 2, 1)
        s = qn @ kn.transpose(0, 1, 3, 2) / np.sqrt(8)
        s = np.where(np.tril(np.ones((7, 7), bool)), s, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        assert_close(attn._explicit(q, k, v, 0, None), (p / p.sum(-1, keepdims=True)) @ vn, **OP_TOL)


@needs_mlx
@pytest.mark.parametrize("window", [None, 3])
@pytest.mark.parametrize("offset, kv_len", [(0, 7), (5, 12)])
def test_mlx_paths_match_fast_sdpa(window, offset, kv_len) -> None:
    import mlx.core as mx

    from scratchlab.transformer.mlx.attention import attention_mask

    attn, _ = _attn("mlx", window=window)
    q, k, v = (mx.array(a) for a in _qkv((2, 4, 7, 8), (2, 2, kv_len, 8)))
    mask = attention_mask(offset, 7, kv_len, window)
    ref = mx.fast.scaled_dot_product_attention(q, k, v, scale=8 ** -0.5, mask=mask)
    assert_close(attn._explicit(q, k, v, offset, None), ref, **OP_TOL)
    assert_close(attn._fused(q, k, v, offset, None), ref, **OP_TOL)


@needs_both
@pytest.mark.parametrize("fused", [True, False])
def test_alibi_bias_paths_agree_across_backends(fused: bool) -> None:
    import mlx.core as mx
    import torch

    c = GPTConfig(d_model=32, n_heads=4, positional="alibi")
    from scratchlab.transformer.mlx.positional import ALiBi as MA
    from scratchlab.transformer.torch.positional import ALiBi as TA

    ta, _ = _attn("torch", fused=fused)
    ma, _ = _attn("mlx", fused=fused)
    q, k, v = _qkv((1, 4, 3, 8), (1, 2, 9, 8))
    tb = TA(None, c, max_seq_len=4).bias(6, 3, 9)
    mb = MA(None, c, max_seq_len=4).bias(6, 3, 9)
    run_t = ta._fused if fused else ta._explicit
    run_m = ma._fused if fused else ma._explicit
    out_t = run_t(*(torch.from_numpy(a) for a in (q, k, v)), 6, tb)
    out_m = run_m(*(mx.array(a) for a in (q, k, v)), 6, mb)
    assert_close(out_t, out_m, **OP_TOL)


@needs_both
@pytest.mark.parametrize("fused", [True, False])
def test_attention_module_same_outputs_and_gradients_across_backends(fused: bool) -> None:
    import mlx.core as mx
    import mlx.nn as mnn
    import torch
    from mlx.utils import tree_flatten

    from scratchlab.core.backends import mlx as mb
    from scratchlab.core.backends import torch as tb

    ta, tpos = _attn("torch", fused=fused)
    ma, mpos = _attn("mlx", fused=fused)
    mb.load_state_dict(ma, tb.state_dict(ta))
    x = np.random.default_rng(3).standard_normal((2, 6, 32)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = ta(xt, tpos)
    (out_t ** 2).sum().backward()

    def loss(model, xm):
        return (model(xm, mpos) ** 2).sum()

    out_m = ma(mx.array(x), mpos)
    assert_close(out_t, out_m, **OP_TOL)
    grads = dict(tree_flatten(mnn.value_and_grad(ma, loss)(ma, mx.array(x))[1]))
    for name, p in ta.named_parameters():
        assert_close(p.grad, grads[name], **OP_TOL, msg=name)
