"""The ``classify`` task: an MLP learns to tell the arms of a noisy spiral apart.

Small, real and fast: it exercises everything the runner does (seeds, both backends,
checkpoints, resume, failures) in seconds. ``experiments/quickstart.yaml`` uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass
class SpiralData:
    n_classes: int = 3
    n_train: int = 3000
    n_val: int = 1500
    noise: float = 0.15
    data_seed: int = 1234  # the data stay fixed across run seeds

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.n_train < 1 or self.n_val < 1:
            raise ValueError("n_train and n_val must be positive")


@dataclass
class MLPConfig:
    hidden: int = 64
    depth: int = 2  # hidden layers
    activation: Literal["relu", "gelu", "tanh"] = "relu"

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.depth < 1:
            raise ValueError("hidden and depth must be positive")


@dataclass
class AdamWConfig:
    lr: float = 1e-2
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass
class TrainConfig:
    steps: int = 400
    batch_size: int = 128
    eval_every: int = 50
    checkpoint_every: int = 100
    clip_norm: float | None = 1.0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass
class ClassifyConfig:
    data: SpiralData = field(default_factory=SpiralData)
    model: MLPConfig = field(default_factory=MLPConfig)
    optimizer: AdamWConfig = field(default_factory=AdamWConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def spirals(n: int, n_classes: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points on ``n_classes`` interleaved spiral arms, with Gaussian noise."""
    y = rng.integers(0, n_classes, size=n)
    r = rng.uniform(0.1, 1.0, size=n)
    theta = 4.0 * r + 2 * np.pi * y / n_classes
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    x += noise * r[:, None] * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def make_data(cfg: SpiralData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(cfg.data_seed)
    x_tr, y_tr = spirals(cfg.n_train, cfg.n_classes, cfg.noise, rng)
    x_va, y_va = spirals(cfg.n_val, cfg.n_classes, cfg.noise, rng)
    return x_tr, y_tr, x_va, y_va
