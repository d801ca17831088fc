"""Ours against torch.optim: the same parameters after 10 steps on a small model (fp32, 1e-6)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from scratchlab.core.testing import needs_torch
from scratchlab.optim.config import optimizer_config

torch = pytest.importorskip("torch")
nn = torch.nn

pytestmark = needs_torch
TOL = dict(rtol=1e-6, atol=1e-6)


def small_model(bias: bool = True) -> torch.nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16, bias=bias), nn.Tanh(), nn.Linear(16, 12, bias=bias),
                         nn.Tanh(), nn.Linear(12, 3, bias=bias))


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int = 10) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def ours(spec: dict, model: torch.nn.Module) -> torch.optim.Optimizer:
    from scratchlab.optim.torch.optimizers import build

    return build(optimizer_config(spec), model)


def assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **TOL, err_msg=n)


CASES = [
    ({"name": "sgd", "lr": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),
    ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "decay_min_ndim": 0},
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ({"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ({"name": "adam", "lr": 1e-2, "weight_decay": 0.1, "decay_min_ndim": 0, "betas": [0.8, 0.99]},
     lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1, betas=(0.8, 0.99))),
    ({"name": "adamw", "lr": 1e-2, "weight_decay": 0.1, "decay_min_ndim": 0, "eps": 1e-6},
     lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1, eps=1e-6)),
]


@pytest.mark.parametrize("spec,reference", CASES, ids=lambda c: str(c) if isinstance(c, dict) else "")
def test_matches_torch_optim(spec, reference) -> None:
    a = small_model()
    b = copy.deepcopy(a)
    train(a, ours(spec, a))
    train(b, reference(b.parameters()))
    assert_same(a, b)
    assert not torch.equal(a[0].weight, small_model()[0].weight)  # it did train


@pytest.mark.parametrize("adjust_lr", ["original", "match_rms_adamw"])
def test_muon_matches_torch_optim_muon(adjust_lr: str) -> None:
    """torch.optim.Muon runs Newton–Schulz in bfloat16; ours does too with ns_dtype=bfloat16."""
    a = small_model(bias=False)
    b = copy.deepcopy(a)
    spec = {"name": "muon", "lr": 0.02, "weight_decay": 0.1, "decay_min_ndim": 0,
            "adjust_lr": adjust_lr, "ns_dtype": "bfloat16", "fallback_params": []}
    opt = ours(spec, a)
    assert [g["algorithm"] for g in opt.param_groups] == ["muon"]
    train(a, opt)
    train(b, torch.optim.Muon(b.parameters(), lr=0.02, weight_decay=0.1, adjust_lr_fn=adjust_lr))
    assert_same(a, b)


def test_muon_with_fallback_matches_muon_plus_adamw() -> None:
    """Routing: Muon takes the hidden matrices; AdamW (no decay on biases) takes the rest."""
    a = small_model()
    b = copy.deepcopy(a)
    spec = {"name": "muon", "lr": 0.02, "ns_dtype": "bfloat16", "fallback_params": ["4.*"],
            "fallback": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.1}}
    train(a, ours(spec, a))
    hidden = [b[0].weight, b[2].weight]
    decay = [b[4].weight]
    rest = [b[0].bias, b[2].bias, b[4].bias]
    muon = torch.optim.Muon(hidden, lr=0.02, weight_decay=0.0)
    adamw = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                               {"params": rest, "weight_decay": 0.0}], lr=3e-3)

    class Both(torch.optim.Optimizer):
        def __init__(self) -> None:
            super().__init__(hidden + decay + rest, {})

        def step(self, closure=None):
            muon.step()
            adamw.step()

    train(b, Both())
    assert_same(a, b)


def test_state_dict_round_trip_continues_identically() -> None:
    """torch's own state_dict/load_state_dict works on our optimizer (groups tagged by algorithm)."""
    spec = {"name": "muon", "lr": 0.02, "fallback_params": ["4.*"]}
    a = small_model()
    opt = ours(spec, a)
    train(a, opt, steps=3)
    b = copy.deepcopy(a)
    opt_b = ours(spec, b)
    opt_b.load_state_dict(copy.deepcopy(opt.state_dict()))
    train(a, opt, steps=3)
    train(b, opt_b, steps=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_compiled_adam_and_adamw_match_torch_optim_and_trace_once() -> None:
    """compile: true runs Adam's tensor half through torch.compile. Same parameters as
    torch.optim after 10 steps with a learning rate that changes every step, and no retrace per
    step (the per-step numbers go in as 0-d tensors)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    for name, reference in [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)]:
        a = small_model()
        b = copy.deepcopy(a)
        spec = {"name": name, "lr": 1e-2, "weight_decay": 0.1, "decay_min_ndim": 0,
                "compile": True}
        opt, ref = ours(spec, a), reference(b.parameters(), lr=1e-2, weight_decay=0.1)
        for step in range(10):
            for o in (opt, ref):
                o.param_groups[0]["lr"] = 1e-2 * (1 - step / 10)
            train(a, opt, steps=1)
            train(b, ref, steps=1)
            if step == 2:
                traced = counters["stats"]["unique_graphs"]
        assert_same(a, b)
        assert counters["stats"]["unique_graphs"] == traced  # steps 4-10 reuse the traces


def test_compile_is_refused_where_there_is_no_compiled_update() -> None:
    with pytest.raises(ValueError, match="compile: only adam and adamw"):
        optimizer_config({"name": "sgd", "compile": True})
