"""Inject LoRA into a model, freeze the base, merge, and save/load adapter-only checkpoints.
Mirrors mlx/adapter.py.

``apply_lora(config, model)`` is the ``adapter`` component ``lora``: it swaps every targeted
linear layer for a :class:`LoRALinear` in place, freezes everything else (requires_grad=False)
and records ``model.lora_report`` (trainable / total parameters).
"""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from scratchlab.core.backends import torch as backend
from scratchlab.core.errors import CheckpointError, ScratchlabError
from scratchlab.lora.adapter import (
    LoRAReport,
    adapter_state,
    check_base,
    fingerprint,
    read_adapter,
    write_adapter,
)
from scratchlab.lora.config import LoRAConfig
from scratchlab.lora.targets import select_targets
from scratchlab.lora.torch.layer import LoRALinear


def _is_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"  # HF GPT-2


def _linear_layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if _is_linear(m)}


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _check_untied(model: nn.Module, targets: list[str]) -> None:
    owners: dict[int, list[str]] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(p), []).append(n)
    for name in targets:
        others = [n for n in owners[id(model.get_submodule(name).weight)]
                  if n != f"{name}.weight"]
        if others:
            raise ScratchlabError(
                f"LoRA target '{name}' shares its weight with {others} (tied weights): merging "
                "would change both. Leave it out of target_modules or untie the weights.")


def apply_lora(config: LoRAConfig, model: nn.Module) -> nn.Module:
    """Inject adapters in place into the layers ``config.target_modules`` names; freeze the rest."""
    if lora_layers(model):
        raise ScratchlabError("the model already has LoRA adapters; merge and unload them "
                              "before applying another")
    linears = _linear_layers(model)
    targets = select_targets(linears, config.target_modules)
    _check_untied(model, targets)
    for name in targets:
        _replace(model, name, LoRALinear(linears[name], config.r, config.alpha,
                                         config.dropout, config.rslora, config.init))
    for n, p in model.named_parameters():
        p.requires_grad = n.rsplit(".", 1)[-1] in ("lora_A", "lora_B")
    model.lora_config = config  # type: ignore[assignment]
    model.lora_report = lora_report(model)  # type: ignore[assignment]
    return model


def lora_report(model: nn.Module) -> LoRAReport:
    return LoRAReport(tuple(lora_layers(model)), backend.count_params(model, trainable_only=True),
                      backend.count_params(model))


def merge(model: nn.Module) -> nn.Module:
    """Fold every adapter into its weight (W + scale B A); the model runs at base cost."""
    for layer in lora_layers(model).values():
        layer.merge()
    return model


def unmerge(model: nn.Module) -> nn.Module:
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model


def unload(model: nn.Module) -> nn.Module:
    """Merge, then put plain linear layers back: the fine-tuned model without LoRA."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        _replace(model, name, layer.unwrap())
    for attr in ("lora_config", "lora_report"):
        model.__dict__.pop(attr, None)
    return model


def base_fingerprint(model: nn.Module) -> str:
    """Fingerprint of the base weights (adapters ignored); the model must not be merged."""
    if any(layer.merged for layer in lora_layers(model).values()):
        raise ScratchlabError("the model's adapters are merged into its weights; unmerge them "
                              "first (the base fingerprint needs the original weights)")
    return fingerprint(backend.state_dict(model))


def save_adapter(model: nn.Module, path: str | Path) -> None:
    """Write only the adapters (lora_A, lora_B), the config and the base's fingerprint."""
    config = getattr(model, "lora_config", None)
    if config is None:
        raise ScratchlabError("the model has no LoRA adapters to save; apply one first")
    write_adapter(path, adapter_state(backend.state_dict(model)), config,
                  base_fingerprint(model))


def load_adapter(model: nn.Module, path: str | Path) -> nn.Module:
    """Put a saved adapter onto its base model (injecting it first if the model has none)."""
    tensors, config, expected = read_adapter(path)
    check_base(path, expected, base_fingerprint(model))
    if not lora_layers(model):
        apply_lora(config, model)
    own = set(adapter_state(backend.state_dict(model)))
    if own != set(tensors):
        raise CheckpointError(
            f"the LoRA adapter {path} targets other layers than the model's adapters: missing "
            f"{sorted(own - set(tensors))[:5]}, unexpected {sorted(set(tensors) - own)[:5]}")
    backend.load_state_dict(model, tensors, strict=False)
    return model
