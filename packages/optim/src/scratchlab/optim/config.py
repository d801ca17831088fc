"""Optimizer configs (framework-free): the settings a spec's ``optimizer:`` block may hold.

Every optimizer shares the routing fields of :class:`Routing` (weight-decay exclusions and
per-group overrides); :class:`MuonConfig` adds the fallback optimizer that takes the
parameters Muon should not touch (embeddings, the head, norms, biases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from scratchlab.core.config import ConfigError, build_config

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic, tuned for slope at zero


@dataclass
class ParamGroup:
    """Overrides for the parameters whose names match ``params`` (a glob, e.g. ``blocks.*.attn.*``).
    The first matching rule wins; unset fields keep the optimizer's own values."""

    params: str
    lr: float | None = None
    weight_decay: float | None = None

    def __post_init__(self) -> None:
        if self.lr is not None and not self.lr >= 0:
            raise ValueError(f"a group's lr must be >= 0, got {self.lr}")
        if self.weight_decay is not None and not self.weight_decay >= 0:
            raise ValueError(f"a group's weight_decay must be >= 0, got {self.weight_decay}")


@dataclass
class Routing:
    """Which parameters decay and which get their own learning rate (shared by every optimizer).

    Decay pulls weights towards zero; on gains, biases and other vectors (ndim < 2) it only
    fights the scale the network needs, hence ``decay_min_ndim = 2``. ``no_decay`` adds name
    globs (e.g. ``["wte.*", "wpe.*"]``) to the exclusions.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    decay_min_ndim: int = 2
    no_decay: list[str] = field(default_factory=list)
    groups: list[ParamGroup] = field(default_factory=list)
    # torch: run Adam/AdamW's tensor work through torch.compile (one fused loop per tensor; the
    # first step compiles, ~20 s for a 12M GPT on a CPU). MLX: nothing to do here, the lm task's
    # train.compile traces the whole step, optimizer included.
    compile: bool = False
    compilable: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.compile and not self.compilable:
            raise ValueError("compile: only adam and adamw (alone or as muon's fallback) have a "
                             "compiled update; the other rules' eager steps are already close "
                             "to a fused kernel or dominated by matmuls")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.decay_min_ndim < 0:
            raise ValueError(f"decay_min_ndim must be >= 0, got {self.decay_min_ndim}")


def _check_betas(betas: tuple[float, float]) -> None:
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"beta{i + 1} must be in [0, 1), got {b}")


@dataclass
class SGDConfig(Routing):
    lr: float = 1e-2
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs a momentum > 0")


@dataclass
class AdamConfig(Routing):
    """Adam with L2 regularisation folded into the gradient (``weight_decay``), as torch.optim.Adam."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    compilable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_betas(self.betas)
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")


@dataclass
class AdamWConfig(AdamConfig):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    weight_decay: float = 0.01


@dataclass
class LionConfig(Routing):
    """Lion (Chen et al. 2023): sign of an interpolated momentum; use ~3-10x smaller lr than AdamW."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_betas(self.betas)


@dataclass
class MuonConfig(Routing):
    """Muon for hidden matrices (ndim >= 2), ``fallback`` for everything else.

    ``fallback_params`` are name globs sent to the fallback even when they are matrices: the
    embeddings and the output head, whose rows are looked up or read one token at a time, so an
    orthogonalised (whole-matrix) update does not suit them. ``adjust_lr`` scales the rate by the
    matrix shape: ``original`` (Keller Jordan) multiplies by sqrt(max(1, rows/cols)),
    ``match_rms_adamw`` (Moonshot) by 0.2 * sqrt(max(rows, cols)), ``none`` leaves it.
    """

    lr: float = 0.02
    weight_decay: float = 0.0
    momentum: float = 0.95
    nesterov: bool = True
    ns_steps: int = 5
    ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS
    eps: float = 1e-7
    adjust_lr: Literal["original", "match_rms_adamw", "none"] = "original"
    ns_dtype: Literal["float32", "bfloat16"] = "float32"
    fallback: Any = field(default_factory=lambda: {"name": "adamw", "lr": 3e-3})
    fallback_params: list[str] = field(
        default_factory=lambda: ["wte.*", "wpe.*", "lm_head.*", "*embed*"])
    compilable: ClassVar[bool] = True  # the fallback's Adam(W) groups

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.ns_steps < 1:
            raise ValueError(f"ns_steps must be at least 1, got {self.ns_steps}")
        self.fallback = optimizer_config(self.fallback, "fallback")
        if isinstance(self.fallback, MuonConfig):
            raise ValueError("Muon's fallback cannot be muon itself (use adamw, adam, sgd or lion)")


CONFIGS: dict[str, type[Routing]] = {"sgd": SGDConfig, "adam": AdamConfig, "adamw": AdamWConfig,
                                     "lion": LionConfig, "muon": MuonConfig}


def optimizer_config(value: Any, path: str = "") -> Routing:
    """An optimizer config from ``"adamw"``, ``{name: adamw, lr: ...}`` or a config object.
    (Muon's fallback is resolved here, not through the registry: it must be one of ours.)"""
    if isinstance(value, Routing):
        return value
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ValueError(f"{path or 'optimizer'} must be an optimizer name or a mapping with "
                         f"'name' (one of {', '.join(sorted(CONFIGS))}), got {value!r}")
    name = value["name"]
    if name not in CONFIGS:
        raise ValueError(f"{path or 'optimizer'}: unknown optimizer '{name}'; choose one of "
                         f"{', '.join(sorted(CONFIGS))}")
    settings = {k: v for k, v in value.items() if k != "name"}
    try:
        return build_config(CONFIGS[name], settings, path)  # type: ignore[no-any-return]
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
