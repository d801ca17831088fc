"""torch and MLX twins: same weights and gradients in, same weights out (10 steps, fp32)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import needs_both
from scratchlab.optim.config import optimizer_config

pytestmark = needs_both

# a miniature of the transformer's parameter names: embeddings, hidden matrices, norms, head
SHAPES = {"wte.weight": (11, 8), "wpe.weight": (6, 8), "blocks.0.attn.q.weight": (8, 8),
          "blocks.0.mlp.fc.weight": (16, 8), "blocks.0.mlp.fc.bias": (16,),
          "blocks.0.ln_1.weight": (8,), "ln_f.weight": (8,), "lm_head.weight": (11, 8)}

SPECS = [
    {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"name": "adam", "lr": 1e-2, "weight_decay": 0.01},
    {"name": "adamw", "lr": 1e-2, "weight_decay": 0.1, "no_decay": ["wte.*", "wpe.*"],
     "groups": [{"params": "blocks.*", "lr": 3e-3}]},
    {"name": "lion", "lr": 1e-3, "weight_decay": 0.1},
    {"name": "muon", "lr": 0.02, "weight_decay": 0.01, "adjust_lr": "match_rms_adamw",
     "fallback": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.1}},
]


def torch_run(cfg, params: dict[str, np.ndarray], grads: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    import torch

    from scratchlab.optim.torch.optimizers import build

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, a in params.items():  # nested names as a flat ParameterDict would lose dots
                mod = self
                *path, leaf = name.split(".")
                for part in path:
                    if not hasattr(mod, part):
                        mod.add_module(part, torch.nn.Module())
                    mod = getattr(mod, part)
                mod.register_parameter(leaf, torch.nn.Parameter(torch.from_numpy(a.copy())))

    model = Model()
    opt = build(cfg, model)
    named = dict(model.named_parameters())
    for g in grads:
        for n, p in named.items():
            p.grad = torch.from_numpy(g[n].copy())
        opt.step()
    return {n: p.detach().numpy() for n, p in named.items()}


def mlx_run(cfg, params: dict[str, np.ndarray], grads: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten, tree_unflatten

    from scratchlab.optim.mlx.optimizers import build

    model = nn.Module()  # a Module is a dict: nested dicts and lists of arrays are its parameters
    for key, value in tree_unflatten([(n, mx.array(a)) for n, a in params.items()]).items():
        model[key] = value
    opt = build(cfg, model)
    for g in grads:
        opt.update(model, tree_unflatten([(n, mx.array(a)) for n, a in g.items()]))
        mx.eval(model.parameters(), opt.state)
    return {n: np.array(p) for n, p in tree_flatten(model.parameters())}


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_torch_and_mlx_agree(spec: dict) -> None:
    rng = np.random.default_rng(0)
    params = {n: (0.1 * rng.standard_normal(s)).astype(np.float32) for n, s in SHAPES.items()}
    grads = [{n: rng.standard_normal(s).astype(np.float32) for n, s in SHAPES.items()}
             for _ in range(10)]
    cfg = optimizer_config(spec)
    got_t, got_m = torch_run(cfg, params, grads), mlx_run(cfg, params, grads)
    assert sorted(got_t) == sorted(got_m) == sorted(SHAPES)
    for n in SHAPES:
        np.testing.assert_allclose(got_t[n], got_m[n], rtol=1e-5, atol=1e-5, err_msg=n)
        assert not np.allclose(got_t[n], params[n]), n
