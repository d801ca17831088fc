"""Ours against mlx.optimizers: the same parameters after 10 steps on a small model (fp32, 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import needs_mlx
from scratchlab.optim.config import optimizer_config

mx = pytest.importorskip("mlx.core")
mnn = pytest.importorskip("mlx.nn")
optim = pytest.importorskip("mlx.optimizers")
from mlx.utils import tree_flatten  # noqa: E402

pytestmark = needs_mlx
TOL = dict(rtol=1e-6, atol=1e-6)


def small_model() -> mnn.Module:
    mx.random.seed(0)
    return mnn.Sequential(mnn.Linear(6, 16), mnn.Tanh(), mnn.Linear(16, 12), mnn.Tanh(),
                          mnn.Linear(12, 3))


def train(model: mnn.Module, opt: optim.Optimizer, steps: int = 10) -> None:
    rng = np.random.default_rng(1)

    def loss_fn(m, x, y):
        return mnn.losses.cross_entropy(m(x), y, reduction="mean")

    grad_fn = mnn.value_and_grad(model, loss_fn)
    for _ in range(steps):
        x = mx.array(rng.standard_normal((32, 6)).astype(np.float32))
        y = mx.array(rng.integers(0, 3, 32))
        _, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)


def ours(spec: dict, model: mnn.Module) -> optim.Optimizer:
    from scratchlab.optim.mlx.optimizers import build

    return build(optimizer_config(spec), model)


CASES = [
    ({"name": "sgd", "lr": 0.1}, lambda: optim.SGD(0.1)),
    ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "decay_min_ndim": 0},
     lambda: optim.SGD(0.1, momentum=0.9, weight_decay=0.01)),
    ({"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
     lambda: optim.SGD(0.05, momentum=0.9, nesterov=True)),
    ({"name": "adam", "lr": 1e-2, "betas": [0.8, 0.99]},
     lambda: optim.Adam(1e-2, betas=[0.8, 0.99], bias_correction=True)),
    ({"name": "adamw", "lr": 1e-2, "weight_decay": 0.1, "decay_min_ndim": 0, "eps": 1e-6},
     lambda: optim.AdamW(1e-2, weight_decay=0.1, eps=1e-6, bias_correction=True)),
    ({"name": "lion", "lr": 1e-3, "weight_decay": 0.1, "decay_min_ndim": 0},
     lambda: optim.Lion(1e-3, weight_decay=0.1)),
    ({"name": "lion", "lr": 1e-3, "betas": [0.95, 0.98]}, lambda: optim.Lion(1e-3, betas=[0.95, 0.98])),
]


@pytest.mark.parametrize("spec,reference", CASES, ids=[str(c[0]) for c in CASES])
def test_matches_mlx_optimizers(spec, reference) -> None:
    a, b = small_model(), small_model()
    before = dict(tree_flatten(a.parameters()))
    before = {k: np.array(v) for k, v in before.items()}
    train(a, ours(spec, a))
    train(b, reference())
    pa, pb = dict(tree_flatten(a.parameters())), dict(tree_flatten(b.parameters()))
    for k in pa:
        np.testing.assert_allclose(np.array(pa[k]), np.array(pb[k]), **TOL, err_msg=k)
    assert not np.allclose(before["layers.0.weight"], np.array(pa["layers.0.weight"]))


def test_adam_differs_from_mlx_default_without_bias_correction() -> None:
    """The trap of the design: mlx's Adam defaults to no bias correction; ours always corrects."""
    a, b = small_model(), small_model()
    train(a, ours({"name": "adam", "lr": 1e-2}, a), steps=2)
    train(b, optim.Adam(1e-2), steps=2)
    assert not np.allclose(np.array(a.layers[0].weight), np.array(b.layers[0].weight), atol=1e-6)
