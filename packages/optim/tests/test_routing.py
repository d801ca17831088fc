"""Parameter routing (framework-free): who gets Muon, who gets the fallback, who decays."""

from __future__ import annotations

import pytest

from scratchlab.core.config import ConfigError, build_config
from scratchlab.optim.config import MuonConfig, optimizer_config
from scratchlab.optim.groups import plan

# the transformer's parameter names, two blocks
GPT = [("wte.weight", (50, 8)), ("wpe.weight", (16, 8))]
for i in range(2):
    GPT += [(f"blocks.{i}.ln_1.weight", (8,)), (f"blocks.{i}.ln_1.bias", (8,))]
    GPT += [(f"blocks.{i}.attn.{x}.weight", (8, 8)) for x in "qkvo"]
    GPT += [(f"blocks.{i}.ln_2.weight", (8,)), (f"blocks.{i}.mlp.fc.weight", (32, 8)),
            (f"blocks.{i}.mlp.fc.bias", (32,)), (f"blocks.{i}.mlp.proj.weight", (8, 32))]
GPT += [("ln_f.weight", (8,)), ("lm_head.weight", (50, 8))]


def by_algorithm(groups):
    out: dict[str, set[str]] = {}
    for g in groups:
        out.setdefault(g.algorithm, set()).update(g.names)
    return out


def test_muon_takes_hidden_matrices_and_adamw_the_rest() -> None:
    groups = plan(optimizer_config({"name": "muon", "lr": 0.02, "fallback": {"name": "adamw", "lr": 3e-3}}), GPT)
    algo = by_algorithm(groups)
    assert algo["muon"] == {n for n, s in GPT if n.startswith("blocks") and len(s) == 2}
    assert algo["adamw"] == {n for n, s in GPT} - algo["muon"]
    assert sorted(n for g in groups for n in g.names) == sorted(n for n, _ in GPT)  # each once
    adamw = {g.hyper["weight_decay"]: set(g.names) for g in groups if g.algorithm == "adamw"}
    assert adamw[0.0] == {n for n, s in GPT if len(s) < 2}  # no decay on norms and biases
    assert adamw[0.01] == {"wte.weight", "wpe.weight", "lm_head.weight"}
    assert all(g.hyper["lr"] == 3e-3 for g in groups if g.algorithm == "adamw")


def test_no_decay_globs_and_per_group_lr() -> None:
    cfg = optimizer_config({"name": "adamw", "lr": 1e-3, "weight_decay": 0.1, "no_decay": ["w?e.*"],
                            "groups": [{"params": "blocks.1.*", "lr": 1e-4, "weight_decay": 0.2}],
                            "decay_min_ndim": 1})
    g = {(x.hyper["lr"], x.hyper["weight_decay"]): set(x.names) for x in plan(cfg, GPT)}
    assert g[(1e-3, 0.0)] == {"wte.weight", "wpe.weight"}
    assert g[(1e-4, 0.2)] == {n for n, _ in GPT if n.startswith("blocks.1.")}
    assert "ln_f.weight" in g[(1e-3, 0.1)]  # decay_min_ndim=1: vectors decay too


def test_muon_routes_3d_expert_weights_to_muon() -> None:
    algo = by_algorithm(plan(MuonConfig(), [("blocks.0.mlp.w1", (4, 8, 16)), ("lm_head.weight", (9, 8))]))
    assert algo == {"muon": {"blocks.0.mlp.w1"}, "adamw": {"lm_head.weight"}}


@pytest.mark.parametrize("spec,message", [
    ({"name": "muon", "fallback": {"name": "muon"}}, "cannot be muon"),
    ({"name": "muon", "fallback": {"name": "adamm"}}, "unknown optimizer 'adamm'"),
    ({"name": "muon", "fallback": {"name": "adamw", "lr": -1}}, "lr must be positive"),
    ({"name": "muon", "fallback": {"name": "adamw", "lrr": 1}}, "did you mean 'lr'"),
    ({"name": "sgd", "nesterov": True}, "nesterov needs a momentum"),
    ({"name": "adam", "betas": [0.9, 1.0]}, "beta2 must be in"),
    ({"name": "adamw", "groups": [{"params": "x", "lr": -1}]}, "group's lr"),
])
def test_bad_configs_say_what_is_wrong(spec: dict, message: str) -> None:
    with pytest.raises((ValueError, ConfigError), match=message):
        optimizer_config(spec)


def test_spec_validation_reports_fallback_errors_as_config_errors() -> None:
    with pytest.raises(ConfigError, match="fallback"):
        build_config(MuonConfig, {"fallback": {"name": "muon"}}, "optimizer")


def test_empty_model_is_an_error() -> None:
    with pytest.raises(ValueError, match="no trainable parameters"):
        plan(optimizer_config("adamw"), [])
