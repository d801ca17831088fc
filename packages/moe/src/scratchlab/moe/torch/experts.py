"""Expert MLPs: one dense ``MLP``, and ``Experts``, E of them stored as stacked matrices.

Weights are stored (in, out) so that an expert is ``act(x @ w1) @ w2`` (GELU) or
``(silu(x @ w1) * (x @ w3)) @ w2`` (SwiGLU; w1 gate, w3 up, w2 down as in Mixtral).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _act(h: torch.Tensor, activation: str) -> torch.Tensor:
    return F.gelu(h) if activation == "gelu" else F.silu(h)


class MLP(nn.Module):
    """A dense feed-forward with the expert's shape: the non-MoE layers and the shared experts."""

    def __init__(self, d_model: int, hidden: int, activation: str = "gelu",
                 out_std: float = 0.02) -> None:
        super().__init__()
        self.activation = activation
        self.w1 = nn.Parameter(torch.randn(d_model, hidden) * 0.02)
        if activation == "swiglu":
            self.w3 = nn.Parameter(torch.randn(d_model, hidden) * 0.02)
        self.w2 = nn.Parameter(torch.randn(hidden, d_model) * out_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _act(x @ self.w1, self.activation)
        if self.activation == "swiglu":
            h = h * (x @ self.w3)
        return h @ self.w2

    def active_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class Experts(nn.Module):
    """E expert MLPs as (E, in, out) tensors, applied to tokens already grouped by expert.

    ``forward(xs, counts)``: ``xs`` holds the tokens sorted by expert, ``counts[e]`` of them for
    expert e. One matrix product per expert and weight: a loop over experts, never over tokens.
    """

    def __init__(self, n_experts: int, d_model: int, hidden: int, activation: str = "gelu",
                 out_std: float = 0.02) -> None:
        super().__init__()
        self.activation = activation
        self.w1 = nn.Parameter(torch.randn(n_experts, d_model, hidden) * 0.02)
        if activation == "swiglu":
            self.w3 = nn.Parameter(torch.randn(n_experts, d_model, hidden) * 0.02)
        self.w2 = nn.Parameter(torch.randn(n_experts, hidden, d_model) * out_std)

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """Expert ``e`` alone on tokens ``x`` (the dense reference in the tests uses it)."""
        return self.forward(x, [x.shape[0] if i == e else 0 for i in range(self.w1.shape[0])])

    def forward(self, xs: torch.Tensor, counts: list[int]) -> torch.Tensor:
        # unbind once: its backward stacks the E gradients in one go (indexing w[e] per expert
        # would build E full-size zero gradients)
        w1, w2 = self.w1.unbind(0), self.w2.unbind(0)
        w3 = self.w3.unbind(0) if self.activation == "swiglu" else w1
        out = []
        for e, x in enumerate(torch.split(xs, counts)):
            if x.shape[0] == 0:
                continue
            h = _act(x @ w1[e], self.activation)
            if self.activation == "swiglu":
                h = h * (x @ w3[e])
            out.append(h @ w2[e])
        return torch.cat(out) if out else xs[:0]

    def params_per_expert(self) -> int:
        return sum(p[0].numel() for p in self.parameters())
