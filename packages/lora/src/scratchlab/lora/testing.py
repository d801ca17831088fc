"""A tiny block-structured network in both frameworks, with the module names of scratchlab's
transformer (``blocks.{i}.attn.q/k/v/o``, ``blocks.{i}.mlp.fc/proj``, ``lm_head``), for the
tests of this package. Not attention: just enough structure to inject into and differentiate."""

from __future__ import annotations

from typing import Any

import numpy as np


def toy_weights(d: int = 8, n_layers: int = 2, d_out: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}

    def linear(name: str, d_in: int, d_out: int, bias: bool = True) -> None:
        w[f"{name}.weight"] = (rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)).astype(np.float32)
        if bias:
            w[f"{name}.bias"] = (0.1 * rng.standard_normal(d_out)).astype(np.float32)

    for i in range(n_layers):
        for p in "qkvo":
            linear(f"blocks.{i}.attn.{p}", d, d, bias=p != "v")
        linear(f"blocks.{i}.mlp.fc", d, 2 * d)
        linear(f"blocks.{i}.mlp.proj", 2 * d, d)
    linear("lm_head", d, d_out, bias=False)
    return w


def toy_model(backend: str, d: int = 8, n_layers: int = 2, d_out: int = 5, seed: int = 0) -> Any:
    """The toy network in ``backend`` with the weights of ``toy_weights(...)``."""
    if backend == "torch":
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        from scratchlab.core.backends import torch as be

        class Attn(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.q, self.k, self.o = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
                self.v = nn.Linear(d, d, bias=False)

            def forward(self, x: Any) -> Any:
                return self.o(self.q(x) * torch.sigmoid(self.k(x)) + self.v(x))

        class MLP(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.fc, self.proj = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

            def forward(self, x: Any) -> Any:
                return self.proj(F.gelu(self.fc(x)))

        class Block(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.attn, self.mlp = Attn(), MLP()

            def forward(self, x: Any) -> Any:
                x = x + self.attn(x)
                return x + self.mlp(x)

        class Toy(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.blocks = nn.ModuleList(Block() for _ in range(n_layers))
                self.lm_head = nn.Linear(d, d_out, bias=False)

            def forward(self, x: Any) -> Any:
                for block in self.blocks:
                    x = block(x)
                return self.lm_head(x)

        model: Any = Toy()
    else:
        import mlx.core as mx
        import mlx.nn as mnn

        from scratchlab.core.backends import mlx as be  # type: ignore[no-redef]

        class Attn(mnn.Module):  # type: ignore[no-redef]
            def __init__(self) -> None:
                super().__init__()
                self.q, self.k, self.o = mnn.Linear(d, d), mnn.Linear(d, d), mnn.Linear(d, d)
                self.v = mnn.Linear(d, d, bias=False)

            def __call__(self, x: Any) -> Any:
                return self.o(self.q(x) * mx.sigmoid(self.k(x)) + self.v(x))

        class MLP(mnn.Module):  # type: ignore[no-redef]
            def __init__(self) -> None:
                super().__init__()
                self.fc, self.proj = mnn.Linear(d, 2 * d), mnn.Linear(2 * d, d)

            def __call__(self, x: Any) -> Any:
                return self.proj(mnn.gelu(self.fc(x)))

        class Block(mnn.Module):  # type: ignore[no-redef]
            def __init__(self) -> None:
                super().__init__()
                self.attn, self.mlp = Attn(), MLP()

            def __call__(self, x: Any) -> Any:
                x = x + self.attn(x)
                return x + self.mlp(x)

        class Toy(mnn.Module):  # type: ignore[no-redef]
            def __init__(self) -> None:
                super().__init__()
                self.blocks = [Block() for _ in range(n_layers)]
                self.lm_head = mnn.Linear(d, d_out, bias=False)

            def __call__(self, x: Any) -> Any:
                for block in self.blocks:
                    x = block(x)
                return self.lm_head(x)

        model = Toy()
    be.load_state_dict(model, toy_weights(d, n_layers, d_out, seed))
    return model
