"""GPTConfig validation and the registered components."""

from __future__ import annotations

import pytest

from scratchlab.core.config import Choice, ConfigError, build_config
from scratchlab.core.registry import get_registry
from scratchlab.transformer.config import GPTConfig, RoPEConfig, SwiGLUConfig


def test_choices_resolve_from_str_dict_and_choice() -> None:
    c = GPTConfig(positional={"name": "rope", "theta": 500000.0}, norm="rmsnorm",
                  attention={"name": "causal", "fused": False, "window": 8})
    assert isinstance(c.positional, Choice) and c.positional.config.theta == 500000.0
    assert c.norm.name == "rmsnorm" and c.attention.config.window == 8
    again = GPTConfig(positional=c.positional)
    assert again.positional is c.positional


@pytest.mark.parametrize("kwargs, words", [
    (dict(d_model=30, n_heads=4), "divisible"),
    (dict(n_heads=4, n_kv_heads=3), "multiple of n_kv_heads"),
    (dict(dropout=1.0), "dropout"),
    (dict(d_model=12, n_heads=4, positional="rope"), "even head dimension"),
    (dict(n_layers=0), "n_layers"),
])
def test_impossible_combinations_raise(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        GPTConfig(**kwargs)


def test_spec_validation_names_the_key() -> None:
    with pytest.raises(ConfigError, match="positional"):
        build_config(GPTConfig, {"positional": "ropee"})
    with pytest.raises(ConfigError, match="factor"):
        build_config(GPTConfig, {"positional": {"name": "rope", "factor": 0.5}})
    with pytest.raises(ConfigError, match="original_max_len"):
        build_config(GPTConfig, {"positional": {"name": "rope", "scaling": "yarn", "factor": 4.0}})
    with pytest.raises(ValueError, match="original_max_len"):
        RoPEConfig(scaling="yarn", factor=4.0)


def test_swiglu_hidden_default() -> None:
    assert SwiGLUConfig().hidden_size(128) == 384  # 8*128/3 = 341 -> next multiple of 64
    assert SwiGLUConfig(hidden=100).hidden_size(128) == 100


def test_every_component_has_both_backends() -> None:
    reg = get_registry()
    ours = [c for c in reg if c.package == "scratchlab-transformer"
            and c.kind in ("model", "attention", "positional", "norm", "ffn")]
    names = {(c.kind, c.name) for c in ours}
    assert {("model", "gpt"), ("attention", "causal"), ("positional", "rope"),
            ("ffn", "swiglu"), ("ffn", "none"), ("norm", "rmsnorm")} <= names
    for kind, name in names:
        assert reg.find(kind, name, "torch") is not None and reg.find(kind, name, "mlx") is not None
        assert reg.find(kind, name, "torch").factory.target.replace(".torch.", ".mlx.") == \
            reg.find(kind, name, "mlx").factory.target
