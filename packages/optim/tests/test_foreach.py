"""The multi-tensor (``torch._foreach_*``) path against the per-tensor reference: same update rule,
so bitwise the same parameters and state after several steps (the same operations, in the same order)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import needs_torch
from scratchlab.optim.config import optimizer_config

torch = pytest.importorskip("torch")

pytestmark = needs_torch

SPECS = [
    {"name": "sgd", "lr": 0.1},
    {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "decay_min_ndim": 0},
    {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"name": "adam", "lr": 1e-2, "weight_decay": 0.1, "decay_min_ndim": 0, "betas": [0.8, 0.99]},
    {"name": "adamw", "lr": 1e-2, "weight_decay": 0.1, "eps": 1e-6,
     "groups": [{"params": "b.*", "lr": 3e-3}]},
    {"name": "lion", "lr": 1e-3, "weight_decay": 0.1},
    {"name": "muon", "lr": 0.02, "weight_decay": 0.1, "fallback": {"name": "adamw", "lr": 1e-2}},
    {"name": "muon", "lr": 0.02, "nesterov": False, "adjust_lr": "match_rms_adamw",
     "fallback": {"name": "lion", "lr": 1e-3}},
]


def model() -> torch.nn.Module:
    """Matrices (square, tall, wide, a 3-D stack), vectors, and an embedding-named matrix."""
    rng = np.random.default_rng(0)
    m = torch.nn.Module()
    for name, shape in {"a": (8, 8), "b": (12, 5), "c": (5, 12), "d": (2, 4, 6), "e": (7,),
                        "wte": (10, 4)}.items():
        sub = torch.nn.Module()
        sub.weight = torch.nn.Parameter(torch.from_numpy(rng.standard_normal(shape).astype(np.float32)))
        m.add_module(name, sub)
    return m


def run(spec: dict, foreach: bool, steps: int = 6) -> tuple[dict[str, np.ndarray], dict]:
    from scratchlab.optim.torch.optimizers import build

    m = model()
    opt = build(optimizer_config(spec), m, foreach=foreach)
    assert opt.foreach is foreach
    rng = np.random.default_rng(1)
    for step in range(steps):
        for name, p in m.named_parameters():
            # "c" sits out every other step: its state's step count falls behind the others
            skip = name.startswith("c.") and step % 2 == 1
            p.grad = None if skip else torch.from_numpy(rng.standard_normal(p.shape).astype(np.float32))
        opt.step()
    return {n: p.detach().numpy().copy() for n, p in m.named_parameters()}, opt.state_dict()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"] + "-" + str(len(s)))
def test_foreach_equals_per_tensor(spec: dict) -> None:
    fast, fast_state = run(spec, foreach=True)
    ref, ref_state = run(spec, foreach=False)
    start = {n: p.detach().numpy() for n, p in model().named_parameters()}
    for name in ref:
        np.testing.assert_array_equal(fast[name], ref[name], err_msg=name)
        assert not np.array_equal(ref[name], start[name]), name  # every tensor trained
    for i, s in ref_state["state"].items():
        assert s.keys() == fast_state["state"][i].keys()
        for k, v in s.items():
            np.testing.assert_array_equal(fast_state["state"][i][k].numpy(), v.numpy(),
                                          err_msg=f"{i}.{k}")


def test_step_counts_follow_each_tensor() -> None:
    """Adam's bias correction uses each tensor's own step count, in both paths."""
    _, state = run({"name": "adamw", "lr": 1e-2}, foreach=True, steps=4)
    counts = sorted(float(s["step"]) for s in state["state"].values())
    assert counts == [2.0] + [4.0] * 5
