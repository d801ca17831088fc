"""Registration, the ffn factory (MoE every k-th block), parameter counts, bad settings."""

from __future__ import annotations

import pytest

from scratchlab.core.config import ConfigError, build_config
from scratchlab.core.registry import get_registry
from scratchlab.core.testing import BACKENDS
from scratchlab.moe.config import MoEConfig, expert_capacity


def test_components_are_registered_for_both_backends() -> None:
    reg = get_registry()
    for kind, name in [("ffn", "moe"), ("router", "softmax"), ("router", "sigmoid")]:
        for backend in ("torch", "mlx"):
            assert reg.find(kind, name, backend) is not None, (kind, name, backend)


@pytest.mark.parametrize("settings, message", [
    ({"top_k": 3, "n_experts": 2}, "top_k must be between 1 and n_experts"),
    ({"capacity_factor": 0}, "capacity_factor must be positive"),
    ({"router": "argmax"}, "unknown router 'argmax'"),
    ({"n_expert": 4}, "did you mean 'n_experts'"),
])
def test_bad_settings_say_what_is_wrong(settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(MoEConfig, settings)


def test_capacity() -> None:
    assert expert_capacity(100, 2, 8, 1.0) == 25
    assert expert_capacity(100, 2, 8, 1.25) == 32  # ceil(31.25)
    assert expert_capacity(100, 2, 8, None) == 200  # no-drop: room for every assignment


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_kth_block_and_active_params(backend: str) -> None:
    pytest.importorskip("scratchlab.transformer.config")
    from scratchlab.core.backends import get_backend
    from scratchlab.core.config import resolve_choice

    bk = get_backend(backend)
    model = resolve_choice("model", {
        "name": "gpt", "d_model": 16, "n_layers": 4, "n_heads": 2,
        "ffn": {"name": "moe", "n_experts": 4, "top_k": 2, "hidden": 8, "every": 2,
                "n_shared": 1}}).build(backend, 32, 8)
    kinds = [type(b.mlp).__name__ for b in model.blocks]
    assert kinds == ["MLP", "MoE", "MLP", "MoE"]
    moe = model.blocks[1].mlp
    per_expert = 2 * 16 * 8  # w1 and w2 of one GELU expert
    assert moe.active_params() == 4 * 16 + 2 * per_expert + per_expert  # router, top-2, shared
    total = bk.count_params(moe)
    assert total == 4 * 16 + 4 * per_expert + per_expert
