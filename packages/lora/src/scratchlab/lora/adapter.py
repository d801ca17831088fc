"""Framework-free parts of adapters: parameter names, the base fingerprint, adapter files and
the trainable-parameter report.

An adapter-only checkpoint holds just ``<layer>.lora_A`` and ``<layer>.lora_B`` (a few per cent
of the model) plus, in its metadata, the LoRA config and a fingerprint of the base weights it
was trained on. The adapter is only meaningful on that base, so loading it onto another one is
an error, not a silent wrong model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core import checkpoint
from scratchlab.core.config import build_config, to_dict
from scratchlab.core.errors import CheckpointError, ScratchlabError
from scratchlab.lora.config import LoRAConfig

ADAPTER_PARAMS = ("lora_A", "lora_B")
FORMAT = "scratchlab-lora/1"


def is_adapter_param(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in ADAPTER_PARAMS


def base_state(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in state.items() if not is_adapter_param(k)}


def adapter_state(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in state.items() if is_adapter_param(k)}


def fingerprint(state: dict[str, np.ndarray]) -> str:
    """SHA-256 of the base weights (names, shapes and float32 bytes; adapter params ignored).

    The adapted layers keep their base weight names, so a plain model and the same model with
    adapters injected have the same fingerprint, and so do its torch and MLX twins."""
    h = hashlib.sha256()
    for name in sorted(base_state(state)):
        a = state[name]
        a = np.ascontiguousarray(a, dtype=np.float32 if a.dtype.kind == "f" else a.dtype)
        h.update(f"{name}:{a.dtype.str}:{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class LoRAReport:
    """How many parameters train: recorded on the model by the adapter factory as
    ``model.lora_report`` (``trainable / total``; total counts the adapters too, like peft)."""

    targets: tuple[str, ...]
    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def metrics(self) -> dict[str, float]:
        return {"params_trainable": float(self.trainable), "params_total": float(self.total),
                "trainable_pct": 100.0 * self.fraction}

    def __str__(self) -> str:
        return (f"LoRA on {len(self.targets)} layers: trainable {self.trainable:,} of "
                f"{self.total:,} parameters ({100 * self.fraction:.3f}%)")


def write_adapter(path: str | Path, tensors: dict[str, np.ndarray], config: LoRAConfig,
                  base_fingerprint: str) -> None:
    if not tensors:
        raise ScratchlabError("the model has no LoRA adapters to save; apply one first")
    checkpoint.save(path, tensors, {"format": FORMAT, "config": to_dict(config),
                                    "base_fingerprint": base_fingerprint})


def read_adapter(path: str | Path) -> tuple[dict[str, np.ndarray], LoRAConfig, str]:
    """(adapter tensors, config, base fingerprint) from an adapter file."""
    tensors, meta = checkpoint.load(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a scratchlab LoRA adapter file (it has no "
                              f"'{FORMAT}' metadata); full checkpoints load with init_from.")
    config: Any = build_config(LoRAConfig, meta["config"])
    return tensors, config, str(meta["base_fingerprint"])


def check_base(path: str | Path, expected: str, actual: str) -> None:
    if expected != actual:
        raise CheckpointError(
            f"the LoRA adapter {path} was trained on another base model (base fingerprint "
            f"{expected}, this model's is {actual}); load it onto the checkpoint it was "
            "trained from.")


def merge_weights(base: dict[str, np.ndarray], adapter: dict[str, np.ndarray],
                  config: LoRAConfig) -> dict[str, np.ndarray]:
    """The base weights with every adapter folded in, W + scale B A, in NumPy (float32):
    a plain checkpoint that a model without LoRA loads (e.g. the lm task's ``init_from``)."""
    out = dict(base)
    layers = sorted({k.rsplit(".", 1)[0] for k in adapter})
    for layer in layers:
        a, b, w = adapter.get(f"{layer}.lora_A"), adapter.get(f"{layer}.lora_B"), base.get(f"{layer}.weight")
        if a is None or b is None or w is None or w.shape != (b.shape[0], a.shape[1]):
            raise CheckpointError(f"the adapter's layer '{layer}' does not fit the base weights")
        delta = config.scale * (b.astype(np.float32) @ a.astype(np.float32))
        out[f"{layer}.weight"] = (w.astype(np.float32) + delta).astype(w.dtype)
    return out
