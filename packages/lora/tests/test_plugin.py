"""The adapter component as the runner sees it: registered for both backends, config checks."""

from __future__ import annotations

import pytest

from scratchlab.core.config import ConfigError, resolve_choice
from scratchlab.core.registry import get_registry
from scratchlab.core.testing import BACKENDS
from scratchlab.lora import LoRAConfig
from scratchlab.lora.targets import relative_name, select_targets
from scratchlab.lora.testing import toy_model


def test_registered_for_both_backends() -> None:
    reg = get_registry()
    for backend in ("torch", "mlx"):
        c = reg.get("adapter", "lora", backend)
        assert c.config is LoRAConfig and c.package == "scratchlab-lora"


@pytest.mark.parametrize("backend", BACKENDS)
def test_choice_builds_the_adapter(backend: str) -> None:
    choice = resolve_choice("adapter", {"name": "lora", "r": 2, "target_modules": ["attn.*"]})
    model = choice.build(backend, toy_model(backend))
    assert len(model.lora_report.targets) == 8


@pytest.mark.parametrize("bad,msg", [
    ({"r": 0}, "r must be at least 1"),
    ({"alpha": -1}, "alpha must be positive"),
    ({"dropout": 1.0}, "dropout must be in"),
    ({"target_modules": []}, "at least one"),
    ({"init": "xavier"}, "expected one of"),
    ({"alpah": 4}, "did you mean 'alpha'"),
])
def test_config_errors(bad: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        resolve_choice("adapter", {"name": "lora", **bad}, "adapter")


def test_names_relative_to_blocks() -> None:
    assert relative_name("blocks.3.attn.q") == "attn.q"
    assert relative_name("transformer.h.11.mlp.c_fc") == "mlp.c_fc"
    assert relative_name("blocks.1.moe.experts.2.up") == "up"  # the innermost numbered part
    assert relative_name("lm_head") == "lm_head"
    names = ["blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.mlp.fc", "blocks.1.attn.q",
             "blocks.1.mlp.fc", "lm_head"]
    assert select_targets(names, ["attn.q", "lm_head"]) == ["blocks.0.attn.q",
                                                           "blocks.1.attn.q", "lm_head"]
    assert select_targets(names, ["blocks.1.*"]) == ["blocks.1.attn.q", "blocks.1.mlp.fc"]
    assert select_targets(names, ["mlp.*", "*.mlp.fc"]) == ["blocks.0.mlp.fc", "blocks.1.mlp.fc"]
