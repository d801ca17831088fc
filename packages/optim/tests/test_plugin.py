"""The plugin registers every optimizer in both backends and every schedule, as registry.yaml says."""

from __future__ import annotations

import pytest

from scratchlab.core.config import ConfigError, build_config
from scratchlab.core.registry import Registry, catalogue
from scratchlab.core.testing import BACKENDS
from scratchlab.optim.plugin import scratchlab_components


def test_components_match_registry_yaml() -> None:
    comps = scratchlab_components()
    declared = catalogue()["optim"]["components"]
    for kind in ("optimizer", "schedule"):
        assert sorted({c.name for c in comps if c.kind == kind}) == declared[kind]
    for c in comps:
        if c.kind == "optimizer":
            assert {x.backend for x in comps if x.name == c.name} == {"torch", "mlx"}
        else:
            assert c.backend is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_factories_build_through_the_registry(backend: str) -> None:
    registry = Registry(scratchlab_components())
    if backend == "torch":
        import torch

        model = torch.nn.Linear(3, 4)
        base = torch.optim.Optimizer
    else:
        import mlx.nn as nn
        import mlx.optimizers as optim

        model = nn.Linear(3, 4)
        base = optim.Optimizer
    for name in ("sgd", "adam", "adamw", "lion", "muon"):
        comp = registry.get("optimizer", name, backend)
        opt = comp.factory(build_config(comp.config, {}), model)
        assert isinstance(opt, base)
    sched = registry.get("schedule", "cosine")
    f = sched.factory(build_config(sched.config, {"warmup": 2}), 10)
    assert 0 < f(0) < f(2) == 1.0


def test_unknown_key_in_a_schedule_is_a_config_error() -> None:
    sched = Registry(scratchlab_components()).get("schedule", "cosine")
    with pytest.raises(ConfigError, match="did you mean 'warmup'"):
        build_config(sched.config, {"warmpu": 2})
