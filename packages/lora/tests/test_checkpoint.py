"""Adapter-only checkpoints: round trip, onto a fresh base, across backends, and clear errors
for a different base, a merged model, a foreign or corrupt file."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scratchlab.core import checkpoint
from scratchlab.core.backends import get_backend
from scratchlab.core.errors import CheckpointError, ScratchlabError
from scratchlab.core.testing import BACKENDS, MODEL_TOL, assert_close, needs_both
from scratchlab.lora import LoRAConfig, fingerprint
from scratchlab.lora.adapter import adapter_state
from scratchlab.lora.testing import toy_model, toy_weights

CFG = LoRAConfig(r=3, alpha=6, target_modules=["attn.q", "attn.v", "mlp.*"])


def lora(backend: str) -> Any:
    return importlib.import_module(f"scratchlab.lora.{backend}.adapter")


def trained(backend: str) -> Any:
    """A toy model with an adapter whose A and B are not at their init."""
    be = get_backend(backend)
    model = lora(backend).apply_lora(CFG, toy_model(backend))
    rng = np.random.default_rng(7)
    be.load_state_dict(model, {k: 0.1 * rng.standard_normal(v.shape).astype(np.float32)
                               for k, v in adapter_state(be.state_dict(model)).items()},
                       strict=False)
    return model


def run(backend: str, model: Any) -> np.ndarray:
    x = np.random.default_rng(3).standard_normal((2, 5, 8)).astype(np.float32)
    out = model(get_backend(backend).from_numpy(x))
    return out.detach().numpy() if backend == "torch" else np.array(out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adapter_file_round_trip_onto_a_fresh_base(backend: str, tmp_path: Path) -> None:
    be, ops = get_backend(backend), lora(backend)
    model = trained(backend)
    ops.save_adapter(model, tmp_path / "a.safetensors")
    tensors, meta = checkpoint.load(tmp_path / "a.safetensors")
    assert sorted(tensors) == sorted(adapter_state(be.state_dict(model)))  # adapters only
    assert meta["base_fingerprint"] == fingerprint(toy_weights())
    assert meta["config"]["r"] == 3
    fresh = ops.load_adapter(toy_model(backend), tmp_path / "a.safetensors")  # injects, loads
    assert fresh.lora_config == CFG
    assert_close(run(backend, fresh), run(backend, model), rtol=0, atol=0)
    again = ops.apply_lora(CFG, toy_model(backend))  # already injected: names must agree
    ops.load_adapter(again, tmp_path / "a.safetensors")
    assert_close(run(backend, again), run(backend, model), rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adapter_refuses_another_base(backend: str, tmp_path: Path) -> None:
    ops = lora(backend)
    ops.save_adapter(trained(backend), tmp_path / "a.safetensors")
    with pytest.raises(CheckpointError, match="trained on another base model"):
        ops.load_adapter(toy_model(backend, seed=1), tmp_path / "a.safetensors")
    other = ops.apply_lora(LoRAConfig(r=3, target_modules=["attn.q"]), toy_model(backend))
    with pytest.raises(CheckpointError, match="targets other layers"):
        ops.load_adapter(other, tmp_path / "a.safetensors")


@pytest.mark.parametrize("backend", BACKENDS)
def test_adapter_file_errors(backend: str, tmp_path: Path) -> None:
    ops = lora(backend)
    with pytest.raises(ScratchlabError, match="no LoRA adapters"):
        ops.save_adapter(toy_model(backend), tmp_path / "x.safetensors")
    merged = ops.merge(trained(backend))
    with pytest.raises(ScratchlabError, match="merged"):
        ops.save_adapter(merged, tmp_path / "x.safetensors")
    checkpoint.save(tmp_path / "full.safetensors", toy_weights(), {"step": 3})
    with pytest.raises(CheckpointError, match="not a scratchlab LoRA adapter"):
        ops.load_adapter(toy_model(backend), tmp_path / "full.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        ops.load_adapter(toy_model(backend), tmp_path / "bad.safetensors")


@needs_both
def test_adapter_moves_between_backends(tmp_path: Path) -> None:
    torch_model = trained("torch")
    lora("torch").save_adapter(torch_model, tmp_path / "t.safetensors")
    mlx_model = lora("mlx").load_adapter(toy_model("mlx"), tmp_path / "t.safetensors")
    assert lora("mlx").base_fingerprint(mlx_model) == lora("torch").base_fingerprint(torch_model)
    assert_close(run("mlx", mlx_model), run("torch", torch_model), **MODEL_TOL)
