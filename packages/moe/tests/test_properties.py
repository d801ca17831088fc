"""Properties of routing and dispatch, for random shapes and settings (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.testing import BACKENDS, OP_TOL, assert_close, to_np
from scratchlab.moe.config import MoEConfig, expert_capacity

SETTINGS = settings(max_examples=12, deadline=None)


def impl(backend: str):
    if backend == "torch":
        from scratchlab.core.backends import torch as bk
        from scratchlab.moe.torch import moe, router
    else:
        from scratchlab.core.backends import mlx as bk
        from scratchlab.moe.mlx import moe, router
    return bk, moe, router


def greedy_keep(indices: np.ndarray, n_experts: int, capacity: int) -> np.ndarray:
    """The dropping rule, written as the obvious loop: first choices of all tokens in order,
    then second choices, ...; an expert accepts until it holds ``capacity``. Shape (k, n)."""
    n, k = indices.shape
    taken = np.zeros(n_experts, dtype=int)
    keep = np.zeros((k, n), dtype=bool)
    for j in range(k):
        for t in range(n):
            e = indices[t, j]
            if taken[e] < capacity:
                taken[e] += 1
                keep[j, t] = True
    return keep


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(n=st.integers(1, 40), n_experts=st.integers(1, 9), data=st.data(),
       kind=st.sampled_from(["softmax", "sigmoid"]))
def test_routing_weights_sum_to_one(backend, n, n_experts, data, kind) -> None:
    bk, _, router = impl(backend)
    top_k = data.draw(st.integers(1, n_experts))
    r = router.build_router(kind, 6, n_experts)
    x = np.random.default_rng(n).standard_normal((n, 6)).astype(np.float32) * 3
    out = r(bk.from_numpy(x), top_k)
    w, idx, probs = to_np(out.weights), to_np(out.indices).astype(int), to_np(out.probs)
    assert w.shape == idx.shape == (n, top_k)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    assert (w >= 0).all()
    assert all(len(set(row)) == top_k for row in idx)  # k distinct experts per token
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    # the chosen experts are the k most probable ones
    chosen = np.take_along_axis(probs, idx, -1)
    assert (chosen.min(-1) >= np.sort(probs, -1)[:, n_experts - top_k] - 1e-7).all()


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(n=st.integers(1, 50), n_experts=st.integers(1, 8), data=st.data(),
       factor=st.floats(0.1, 3.0))
def test_capacity_is_never_exceeded(backend, n, n_experts, data, factor) -> None:
    bk, moe, _ = impl(backend)
    top_k = data.draw(st.integers(1, n_experts))
    rng = np.random.default_rng(n * 31 + n_experts)
    indices = np.argsort(rng.random((n, n_experts)), -1)[:, :top_k]  # distinct per token
    capacity = expert_capacity(n, top_k, n_experts, factor)
    plan = moe.dispatch(bk.from_numpy(indices), n_experts, capacity)
    keep = to_np(plan.keep).astype(bool).reshape(top_k, n)
    flat = indices.T.reshape(-1)
    per_expert = np.bincount(flat[keep.reshape(-1)], minlength=n_experts)
    assert (per_expert <= capacity).all()
    assert list(per_expert) == plan.kept
    np.testing.assert_array_equal(keep, greedy_keep(indices, n_experts, capacity))
    # the sort puts every kept assignment, grouped by expert, before the dropped ones
    order = to_np(plan.order).astype(int)
    assert sorted(order) == list(range(n * top_k))
    n_kept = int(keep.sum())
    assert keep.reshape(-1)[order[:n_kept]].all()
    assert (np.diff(flat[order[:n_kept]]) >= 0).all()


def dense_reference(model, x: np.ndarray, capacity_factor) -> np.ndarray:
    """Every expert on every token (a loop over experts), combined with a dense (n, E) gate
    matrix that is zero off the chosen (and kept) experts."""
    bk = impl("torch" if type(model).__module__.startswith("scratchlab.moe.torch") else "mlx")[0]
    xt = bk.from_numpy(x)
    r = model.router(xt, model.config.top_k)
    w, idx = to_np(r.weights), to_np(r.indices).astype(int)
    n, k = idx.shape
    n_experts = model.config.n_experts
    capacity = expert_capacity(n, k, n_experts, capacity_factor)
    keep = greedy_keep(idx, n_experts, capacity).T  # (n, k)
    gates = np.zeros((n, n_experts))
    np.put_along_axis(gates, idx, w * keep, -1)
    out = np.zeros_like(x, dtype=np.float64)
    for e in range(n_experts):
        out += gates[:, e:e + 1] * to_np(model.experts.expert(e, xt))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(n=st.integers(1, 30), n_experts=st.integers(1, 6), data=st.data(),
       capacity_factor=st.sampled_from([None, 0.5, 1.0, 2.0]),
       activation=st.sampled_from(["gelu", "swiglu"]))
def test_dispatch_equals_dense_loop(backend, n, n_experts, data, capacity_factor,
                                    activation) -> None:
    bk, moe, _ = impl(backend)
    top_k = data.draw(st.integers(1, n_experts))
    config = MoEConfig(n_experts=n_experts, top_k=top_k, hidden=5, activation=activation,
                       capacity_factor=capacity_factor)
    model = moe.MoE(config, 6)
    weights = {k: np.random.default_rng(7).standard_normal(v.shape).astype(np.float32) * 0.5
               for k, v in bk.state_dict(model).items()}
    bk.load_state_dict(model, weights)
    x = np.random.default_rng(n).standard_normal((n, 6)).astype(np.float32)
    y, aux = model(bk.from_numpy(x[None]))
    assert_close(to_np(y)[0], dense_reference(model, x, capacity_factor), **OP_TOL)
    load = to_np(aux["load"])
    np.testing.assert_allclose(load.sum(), 1.0, rtol=1e-6)
    assert 0.0 <= float(to_np(aux["dropped_frac"])) <= 1.0
    if capacity_factor is None:
        assert float(to_np(aux["dropped_frac"])) == 0.0
