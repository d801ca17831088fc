"""Same weights in torch and MLX: same outputs, aux losses, statistics and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import OP_TOL, assert_close, needs_both
from scratchlab.moe.config import MoEConfig

pytestmark = needs_both

CASES = {
    "softmax-gelu": {},
    "softmax-swiglu-shared": {"activation": "swiglu", "n_shared": 1},
    "sigmoid": {"router": "sigmoid"},
    "capacity": {"capacity_factor": 0.75, "top_k": 2},
    "noisy-eval": {"router": {"name": "softmax", "noisy": True}, "top_k": 1},
}


def twins(settings: dict):
    import mlx.core as mx  # noqa: F401
    import torch

    from scratchlab.core.backends import mlx as bm
    from scratchlab.core.backends import torch as bt
    from scratchlab.moe.mlx.moe import MoE as MlxMoE
    from scratchlab.moe.torch.moe import MoE as TorchMoE

    config = MoEConfig(**{"n_experts": 4, "hidden": 12, "balance_coef": 0.5,
                                      "z_coef": 0.1, **settings})
    torch.manual_seed(0)
    t = TorchMoE(config, 8)
    weights = {k: np.random.default_rng(3).standard_normal(v.shape).astype(np.float32) * 0.3
               for k, v in bt.state_dict(t).items()}
    bt.load_state_dict(t, weights)
    m = MlxMoE(config, 8)
    bm.load_state_dict(m, weights)
    t.eval()
    m.eval()
    return t, m


@pytest.mark.parametrize("case", CASES)
def test_outputs_and_aux_match(case: str) -> None:
    import mlx.core as mx
    import torch

    t, m = twins(CASES[case])
    x = np.random.default_rng(4).standard_normal((2, 9, 8)).astype(np.float32)
    yt, at = t(torch.from_numpy(x))
    ym, am = m(mx.array(x))
    assert_close(ym, yt, **OP_TOL)
    assert sorted(at) == sorted(am)
    for key in at:
        assert_close(am[key], at[key], **OP_TOL, msg=key)


@pytest.mark.parametrize("case", CASES)
def test_gradients_match(case: str) -> None:
    """Gradients of output + aux_loss, and of each aux loss alone (they train the router)."""
    import mlx.core as mx
    import torch
    from mlx.utils import tree_flatten

    from scratchlab.moe.mlx.losses import balance_loss as mlx_balance
    from scratchlab.moe.mlx.losses import z_loss as mlx_z
    from scratchlab.moe.torch.losses import balance_loss as torch_balance
    from scratchlab.moe.torch.losses import z_loss as torch_z

    t, m = twins(CASES[case])
    x = np.random.default_rng(5).standard_normal((2, 9, 8)).astype(np.float32)
    probe = np.random.default_rng(6).standard_normal((2, 9, 8)).astype(np.float32)

    def objectives_torch(model, xt):
        y, aux = model(xt)
        r = model.router(xt.reshape(-1, 8), model.config.top_k)
        return {"total": (y * torch.from_numpy(probe)).sum() + aux["aux_loss"],
                "balance": torch_balance(r.probs, aux["load"]), "z": torch_z(r.logits)}

    def objectives_mlx(model, xm):
        y, aux = model(xm)
        r = model.router(xm.reshape(-1, 8), model.config.top_k)
        return {"total": (y * mx.array(probe)).sum() + aux["aux_loss"],
                "balance": mlx_balance(r.probs, aux["load"]), "z": mlx_z(r.logits)}

    for name in ("total", "balance", "z"):
        xt = torch.from_numpy(x).requires_grad_(True)
        t.zero_grad()
        objectives_torch(t, xt)[name].backward()
        grads_t = {k: p.grad for k, p in t.named_parameters() if p.grad is not None}

        def f(params, xm, name=name):
            m.update(params)
            return objectives_mlx(m, xm)[name]

        grads_m, gx = mx.grad(f, argnums=(0, 1))(m.trainable_parameters(), mx.array(x))
        grads_m = dict(tree_flatten(grads_m))
        assert_close(gx, xt.grad, **OP_TOL, msg=f"{name}: input gradient")
        for k, g in grads_t.items():
            assert_close(grads_m[k], g, **OP_TOL, msg=f"{name}: {k}")
        if name != "total":  # aux losses reach only the router
            assert all(k.startswith("router.") for k in grads_t)
