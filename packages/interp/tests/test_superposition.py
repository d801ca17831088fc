"""Toy models of superposition: the geometry metrics, both backends, and cross-backend parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.config import build_config
from scratchlab.core.testing import OP_TOL, assert_close, needs_both
from scratchlab.interp import superposition as sp


def polygon(n: int, scale: float = 1.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n) / n
    return scale * np.stack([np.cos(angles), np.sin(angles)], 1)


def test_dimensionality_of_known_geometries():
    pentagon = polygon(5)[None]
    assert_close(sp.feature_dimensionality(pentagon), np.full((1, 5), 2 / 5))
    assert_close(sp.dims_per_feature(pentagon), [2 / 5])
    square = polygon(4)[None]  # two antipodal pairs
    assert_close(sp.feature_dimensionality(square), np.full((1, 4), 1 / 2))
    triangle = polygon(3)[None]  # in 2-d: each of 3 features owns 2/3 of a dimension
    assert_close(sp.feature_dimensionality(triangle), np.full((1, 3), 2 / 3))
    two = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])  # dense: 2 features, one dropped
    assert_close(sp.feature_dimensionality(two), [[1.0, 1.0, 0.0]])
    assert sp.represented(two).tolist() == [[True, True, False]]
    assert_close(sp.dims_per_feature(two), [1.0])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 12), m=st.integers(1, 6), scale=st.floats(0.1, 10.0),
       seed=st.integers(0, 1000))
def test_dimensionality_is_scale_free_and_sums_to_at_most_m(n, m, scale, seed):
    W = np.random.default_rng(seed).standard_normal((1, n, m))
    D = sp.feature_dimensionality(W)
    assert_close(sp.feature_dimensionality(scale * W), D, rtol=1e-6, atol=1e-9)
    assert np.all(D > 0) and np.all(D <= 1 + 1e-9)
    # sum_i D_i <= m: the features cannot own more dimensions than there are
    assert D.sum() <= m + 1e-6


def test_feature_probs_and_config_errors():
    cfg = sp.SuperpositionConfig(n_instances=3, p_max=1.0, p_min=0.01)
    assert_close(sp.feature_probs(cfg), [1.0, 0.1, 0.01], rtol=1e-6)
    assert_close(sp.feature_probs(sp.SuperpositionConfig(feature_probs=[0.5, 0.2])), [0.5, 0.2])
    with pytest.raises(ValueError):
        sp.SuperpositionConfig(feature_probs=[0.0])
    with pytest.raises(ValueError):
        sp.SuperpositionConfig(importance_decay=1.5)


@needs_both
def test_toy_model_parity_forward_and_gradients():
    import mlx.core as mx
    import mlx.nn as mnn
    import torch

    from scratchlab.core.backends import mlx as mbe
    from scratchlab.core.backends import torch as tbe
    from scratchlab.interp.mlx import superposition as msp
    from scratchlab.interp.torch import superposition as tsp

    cfg = build_config(sp.SuperpositionConfig, {"n_features": 6, "n_hidden": 3})
    weights = sp.init_weights(cfg, 4, seed=3)
    weights["b_final"] = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32) * .1
    x = sp.generate_batch(np.random.default_rng(0), 32, np.full(4, 0.4, np.float32), 6)
    imp = sp.importance(build_config(sp.SuperpositionConfig, {"n_features": 6,
                                                              "importance_decay": 0.8}))
    t_model, m_model = tsp.ToyModel(4, 6, 3), msp.ToyModel(4, 6, 3)
    tbe.load_state_dict(t_model, weights)
    mbe.load_state_dict(m_model, weights)
    assert_close(t_model(torch.from_numpy(x)), m_model(mx.array(x)), **OP_TOL)
    t_loss = tsp.loss_fn(t_model, torch.from_numpy(x), torch.from_numpy(imp))
    t_loss.backward()
    m_loss, m_grads = mnn.value_and_grad(m_model, msp.loss_fn)(m_model, mx.array(x),
                                                                mx.array(imp))
    assert_close(t_loss, m_loss, **OP_TOL)
    assert_close(t_model.W.grad, m_grads["W"], **OP_TOL)
    assert_close(t_model.b_final.grad, m_grads["b_final"], **OP_TOL)


def test_generated_features_have_the_right_density():
    """(instances, batch, features); present with probability p, and then U[0, 1) (mean 1/2,
    variance 1/12) whatever p."""
    x = sp.generate_batch(np.random.default_rng(0), 4096, np.array([1.0, 0.1], np.float32), 8)
    assert x.shape == (2, 4096, 8) and x.dtype == np.float32
    density = (x > 0).mean((1, 2))
    assert abs(density[0] - 1.0) < 1e-3 and abs(density[1] - 0.1) < 0.01
    assert x.max() < 1 and x.min() >= 0
    for k in range(2):
        v = x[k][x[k] > 0]
        assert abs(v.mean() - 0.5) < 0.02 and abs(v.var() - 1 / 12) < 0.01
