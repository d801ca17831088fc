"""LoRA settings, shared by both backends.

LoRA (Hu et al., 2021, https://arxiv.org/abs/2106.09685) leaves a pretrained weight ``W`` frozen
and learns a low-rank update: ``h = W x + scale * B A x`` with ``A`` (r x in) and ``B``
(out x r). ``scale = alpha / r`` (the paper) or ``alpha / sqrt(r)`` (rsLoRA, Kalajdzievski 2023,
https://arxiv.org/abs/2312.03732). See docs/lora.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class LoRAConfig:
    r: int = 8  # rank of the update B A
    alpha: float = 16.0  # the update is scaled by alpha / r (or alpha / sqrt(r) with rslora)
    dropout: float = 0.0  # dropout on the adapter's input only; the frozen path sees clean x
    # fnmatch patterns on dotted module names, matched against the name relative to its block
    # (``blocks.3.attn.q`` -> ``attn.q``) and against the full name (``lm_head``)
    target_modules: list[str] = field(default_factory=lambda: ["attn.q", "attn.v"])
    rslora: bool = False  # scale by alpha / sqrt(r): keeps the update's size stable as r grows
    init: Literal["kaiming", "gaussian"] = "kaiming"  # how A starts; B always starts at zero

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"r must be at least 1, got {self.r}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one module pattern")

    @property
    def scale(self) -> float:
        return lora_scale(self.r, self.alpha, self.rslora)


def lora_scale(r: int, alpha: float, rslora: bool = False) -> float:
    """alpha / r (LoRA) or alpha / sqrt(r) (rsLoRA)."""
    return alpha / math.sqrt(r) if rslora else alpha / r


def lora_param_count(shapes: list[tuple[int, int]], r: int) -> int:
    """Parameters LoRA adds to linear layers of shapes (out, in): r * (in + out) each."""
    return sum(r * (d_in + d_out) for d_out, d_in in shapes)
