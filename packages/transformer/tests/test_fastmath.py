"""mlx/fastmath.py against the exact functions: float32 accuracy, gradients, -inf and overflow."""

from __future__ import annotations

import math

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

from scratchlab.transformer.mlx import fastmath  # noqa: E402


def test_erf_and_gelu_match_the_exact_functions() -> None:
    x = np.linspace(-12, 12, 100_001).astype(np.float32)
    exact = np.array([math.erf(v) for v in x.astype(np.float64)])
    assert np.abs(np.array(fastmath.erf(mx.array(x))) - exact).max() < 6e-7
    gelu = 0.5 * x.astype(np.float64) * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    assert np.abs(np.array(fastmath.gelu(mx.array(x))) - gelu).max() < 2e-6


def test_gelu_gradient_is_phi_plus_x_density() -> None:
    x = np.linspace(-8, 8, 20_001).astype(np.float32)
    grad = np.array(mx.grad(lambda v: fastmath.gelu(v).sum())(mx.array(x)))
    xd = x.astype(np.float64)
    exact = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in xd])) \
        + xd * np.exp(-xd ** 2 / 2) / math.sqrt(2 * math.pi)
    assert np.abs(grad - exact).max() < 1e-6


def test_tanh_has_float32_relative_accuracy_and_its_gradient() -> None:
    x = np.concatenate([np.linspace(-20, 20, 200_001), np.geomspace(1e-30, 1, 1001),
                        -np.geomspace(1e-30, 1, 1001)]).astype(np.float32)
    exact = np.tanh(x.astype(np.float64))
    ours = np.array(fastmath.tanh(mx.array(x))).astype(np.float64)
    assert (np.abs(ours - exact) / np.maximum(np.abs(exact), 1e-38)).max() < 4e-7
    assert np.abs(ours).max() <= 1.0
    grad = np.array(mx.grad(lambda v: fastmath.tanh(v).sum())(mx.array(x)))
    assert np.abs(grad - (1 - exact**2)).max() < 1e-6


def test_exp_has_float32_relative_accuracy_and_saturates() -> None:
    x = np.linspace(-87, 88, 200_001).astype(np.float32)
    ours = np.array(fastmath.exp(mx.array(x))).astype(np.float64)
    exact = np.exp(x.astype(np.float64))
    rel = np.abs(ours / exact - 1)
    assert rel[np.abs(x) < 1].max() < 3e-7
    assert rel[np.abs(x) < 10].max() < 1e-6
    assert rel.max() < 1e-5  # far out, float32's rounding of x log2(e) dominates (as in mx.exp)
    edge = np.array(fastmath.exp(mx.array([-np.inf, -1000.0, 0.0], dtype=mx.float32)))
    assert edge.tolist() == [0.0, 0.0, 1.0]


def test_softmax_and_its_vjp_match_mlx() -> None:
    rng = np.random.default_rng(0)
    s = (rng.standard_normal((3, 5, 17)) * 6).astype(np.float32)
    s[rng.random(s.shape) < 0.3] = -np.inf  # masked keys
    s[..., 0] = 1.0  # every row keeps one key
    ours, ref = fastmath.softmax(mx.array(s)), mx.softmax(mx.array(s), axis=-1)
    assert np.abs(np.array(ours) - np.array(ref)).max() < 2e-7
    assert np.array(ours)[s == -np.inf].max() == 0.0
    g = mx.array(rng.standard_normal(s.shape).astype(np.float32))
    z = mx.array((rng.standard_normal(s.shape) * 6).astype(np.float32))
    grad = mx.grad(lambda v: (fastmath.softmax(v) * g).sum())(z)
    grad_ref = mx.grad(lambda v: (mx.softmax(v, axis=-1) * g).sum())(z)
    assert np.abs(np.array(grad) - np.array(grad_ref)).max() < 1e-6
