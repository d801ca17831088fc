"""Muon in both backends against a NumPy reference of its update; Newton–Schulz properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.testing import BACKENDS, needs_mlx, needs_torch

A, B, C = 3.4445, -4.7750, 2.0315


def ns_reference(G: np.ndarray, steps: int = 5, eps: float = 1e-7) -> np.ndarray:
    """Newton–Schulz quintic in float64, written from the formula, one matrix at a time."""
    if G.ndim > 2:
        return np.stack([ns_reference(g, steps, eps) for g in G])
    X = G.astype(np.float64)
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    X = X / max(np.linalg.norm(X), eps)
    for _ in range(steps):
        S = X @ X.T
        X = A * X + (B * S + C * S @ S) @ X
    return X.T if tall else X


def muon_reference(params: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float,
                   nesterov: bool, wd: float, adjust: str) -> np.ndarray:
    """Keller Jordan's Muon: EMA momentum, Nesterov look-ahead, NS, shape-scaled step."""
    p, buf = params.astype(np.float64), np.zeros_like(params, dtype=np.float64)
    rows, cols = p.shape[-2:]
    scale = {"original": max(1, rows / cols) ** 0.5, "match_rms_adamw": 0.2 * max(rows, cols) ** 0.5,
             "none": 1.0}[adjust]
    for g in grads:
        buf = momentum * buf + (1 - momentum) * g
        u = (1 - momentum) * g + momentum * buf if nesterov else buf
        p = p * (1 - lr * wd) - lr * scale * ns_reference(u)
    return p


def run_ours(backend: str, params: np.ndarray, grads: list[np.ndarray], **hyper) -> np.ndarray:
    group = {"lr": 0.02, "weight_decay": 0.0, "momentum": 0.95, "nesterov": True, "ns_steps": 5,
             "ns_coefficients": (A, B, C), "eps": 1e-7, "adjust_lr": "original",
             "ns_dtype": "float32", **hyper}
    if backend == "torch":
        import torch

        from scratchlab.optim.torch.optimizers import Routed

        p = torch.nn.Parameter(torch.from_numpy(params.copy()))
        opt = Routed([{"params": [p], "algorithm": "muon", **group}])
        for g in grads:
            p.grad = torch.from_numpy(g.copy())
            opt.step()
        return p.detach().numpy()
    import mlx.core as mx

    from scratchlab.optim.mlx.optimizers import Muon

    opt = Muon(**group)
    tree = {"w": mx.array(params)}
    for g in grads:
        tree = opt.apply_gradients({"w": mx.array(g)}, tree)
        mx.eval(tree, opt.state)
    return np.array(tree["w"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(8, 12), (12, 8), (3, 6, 5)], ids=str)
@pytest.mark.parametrize("nesterov,wd,adjust", [(True, 0.0, "original"), (False, 0.1, "match_rms_adamw"),
                                               (True, 0.05, "none")])
def test_muon_matches_numpy_reference(backend: str, shape, nesterov, wd, adjust) -> None:
    rng = np.random.default_rng(0)
    params = rng.standard_normal(shape).astype(np.float32) * 0.1
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(5)]
    got = run_ours(backend, params, grads, nesterov=nesterov, weight_decay=wd, adjust_lr=adjust)
    want = muon_reference(params, grads, 0.02, 0.95, nesterov, wd, adjust)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, params)


def newton_schulz(backend: str, G: np.ndarray) -> np.ndarray:
    if backend == "torch":
        import torch

        from scratchlab.optim.torch.optimizers import zeropower_via_newtonschulz

        return zeropower_via_newtonschulz(torch.from_numpy(G)).numpy()
    import mlx.core as mx

    from scratchlab.optim.mlx.optimizers import zeropower_via_newtonschulz as ns

    return np.array(ns(mx.array(G)))


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    """G = U diag(s) V^T with singular values spread over [0.05, 1] times a random scale."""
    m, n = draw(st.integers(2, 24)), draw(st.integers(2, 24))
    seed = draw(st.integers(0, 2**31))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    rng = np.random.default_rng(seed)
    k = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, k)))
    V, _ = np.linalg.qr(rng.standard_normal((n, k)))
    s = rng.uniform(0.05, 1.0, k)
    return ((U * s) @ V.T * scale).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(G=matrices())
def test_newton_schulz_singular_values_near_one(backend: str, G: np.ndarray) -> None:
    """The quintic maps every singular value s/||G||_F >= 0.002 into [0.68, 1.21] in 5 steps
    (see docs/optimisers.md); the singular vectors are those of G."""
    X = newton_schulz(backend, G)
    assert X.shape == G.shape
    sv = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    assert sv.min() > 0.66 and sv.max() < 1.22, sv
    # same singular vectors: X = U f(S) V^T, so U^T X V is diagonal
    U, _, Vt = np.linalg.svd(G.astype(np.float64), full_matrices=False)
    D = U.T @ X @ Vt.T
    assert np.abs(D - np.diag(np.diag(D))).max() < 1e-3


@needs_torch
@needs_mlx
def test_newton_schulz_agrees_across_backends() -> None:
    G = np.random.default_rng(3).standard_normal((4, 16, 24)).astype(np.float32)
    np.testing.assert_allclose(newton_schulz("torch", G), newton_schulz("mlx", G), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(newton_schulz("torch", G), ns_reference(G), rtol=1e-5, atol=1e-5)
