"""LoRA on scratchlab's own GPT (the model the lm task trains): both FFN layouts, both
backends with the same weights, and a base checkpoint loading under the adapters."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from scratchlab.core.backends import get_backend
from scratchlab.core.config import resolve_choice
from scratchlab.core.errors import ScratchlabError
from scratchlab.core.testing import BACKENDS, MODEL_TOL, assert_close, needs_both
from scratchlab.lora import LoRAConfig, fingerprint
from scratchlab.lora.adapter import adapter_state, base_state

pytest.importorskip("scratchlab.transformer.config")

VOCAB, T = 40, 12


def gpt(backend: str, ffn: str = "mlp", tie: bool = False,
        weights: dict[str, np.ndarray] | None = None) -> Any:
    choice = resolve_choice("model", {"name": "gpt", "d_model": 32, "n_layers": 2, "n_heads": 4,
                                      "positional": "rope", "ffn": ffn, "tie_weights": tie})
    get_backend(backend).seed(0)
    model = choice.build(backend, VOCAB, T)
    if weights is not None:
        get_backend(backend).load_state_dict(model, weights)
    return model


def lora(backend: str) -> Any:
    return importlib.import_module(f"scratchlab.lora.{backend}.adapter")


def tokens(backend: str) -> Any:
    idx = np.random.default_rng(0).integers(0, VOCAB, (2, T)).astype(np.int64)
    return get_backend(backend).from_numpy(idx if backend == "torch" else idx.astype(np.int32))


def logits_and_grads(backend: str, model: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    idx = tokens(backend)
    if backend == "torch":
        import torch.nn.functional as F

        model.zero_grad()
        logits = model(idx)
        F.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten()).backward()
        return logits.detach().numpy(), {n: p.grad.numpy() for n, p in model.named_parameters()
                                         if p.requires_grad}
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    def loss(m: Any, idx: Any) -> Any:
        return nn.losses.cross_entropy(m(idx)[:, :-1], idx[:, 1:], reduction="mean")

    _, grads = nn.value_and_grad(model, loss)(model, idx)
    return np.array(model(idx)), {k: np.array(v) for k, v in tree_flatten(grads)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ffn,patterns,per_block", [
    ("mlp", ["attn.q", "attn.v", "mlp.*"], {"attn.q", "attn.v", "mlp.fc", "mlp.proj"}),
    ("swiglu", ["attn.*", "mlp.*"], {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate",
                                     "mlp.up", "mlp.down"}),
])
def test_targets_on_gpt(backend: str, ffn: str, patterns: list[str], per_block: set[str]) -> None:
    model = lora(backend).apply_lora(LoRAConfig(r=2, target_modules=patterns), gpt(backend, ffn))
    assert set(model.lora_report.targets) == {f"blocks.{i}.{n}" for i in (0, 1) for n in per_block}


@pytest.mark.parametrize("backend", BACKENDS)
def test_base_checkpoint_loads_under_adapters(backend: str) -> None:
    """Adapted layers keep their base names: a plain model's weights load as they are, and the
    fingerprint of the base does not change by injecting."""
    be, ops = get_backend(backend), lora(backend)
    base = be.state_dict(gpt(backend))
    model = ops.apply_lora(LoRAConfig(r=2, target_modules=["attn.*", "lm_head"]), gpt(backend))
    be.load_state_dict(model, base, strict=False)
    assert sorted(base_state(be.state_dict(model))) == sorted(base)
    assert ops.base_fingerprint(model) == fingerprint(base)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tied_head_gets_a_clear_error(backend: str) -> None:
    with pytest.raises(ScratchlabError, match="tie_weights: false"):
        lora(backend).apply_lora(LoRAConfig(target_modules=["lm_head"]), gpt(backend, tie=True))


@needs_both
@pytest.mark.parametrize("ffn", ["mlp", "swiglu"])
def test_gpt_with_lora_same_in_both_backends(ffn: str) -> None:
    weights = get_backend("torch").state_dict(gpt("torch", ffn))
    cfg = LoRAConfig(r=4, alpha=8, target_modules=["attn.*", "mlp.*", "lm_head"])
    rng = np.random.default_rng(1)
    adapters: dict[str, np.ndarray] = {}
    out = {}
    for backend in ("torch", "mlx"):
        be = get_backend(backend)
        model = lora(backend).apply_lora(cfg, gpt(backend, ffn, weights=weights))
        if not adapters:
            adapters = {k: 0.1 * rng.standard_normal(v.shape).astype(np.float32)
                        for k, v in adapter_state(be.state_dict(model)).items()}
        be.load_state_dict(model, adapters, strict=False)
        out[backend] = logits_and_grads(backend, model)
    (lt, gt), (lm, gm) = out["torch"], out["mlx"]
    assert_close(lm, lt, **MODEL_TOL)
    assert sorted(gm) == sorted(gt) == sorted(adapters)
    for k in gt:
        assert_close(gm[k], gt[k], **MODEL_TOL, msg=k)
