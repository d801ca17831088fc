"""Expert MLPs: one dense ``MLP``, and ``Experts``, E of them stored as stacked matrices.

Weights are stored (in, out) so that an expert is ``act(x @ w1) @ w2`` (GELU) or
``(silu(x @ w1) * (x @ w3)) @ w2`` (SwiGLU; w1 gate, w3 up, w2 down as in Mixtral).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from scratchlab.transformer.mlx.fastmath import gelu


def _act(h: mx.array, activation: str) -> mx.array:
    # the transformer MLP's GELU (MLX's own erf is scalar on a CPU: fastmath.py)
    return gelu(h) if activation == "gelu" else nn.silu(h)


class MLP(nn.Module):
    """A dense feed-forward with the expert's shape: the non-MoE layers and the shared experts."""

    def __init__(self, d_model: int, hidden: int, activation: str = "gelu",
                 out_std: float = 0.02) -> None:
        super().__init__()
        self.activation = activation
        self.w1 = mx.random.normal((d_model, hidden)) * 0.02
        if activation == "swiglu":
            self.w3 = mx.random.normal((d_model, hidden)) * 0.02
        self.w2 = mx.random.normal((hidden, d_model)) * out_std

    def __call__(self, x: mx.array) -> mx.array:
        h = _act(x @ self.w1, self.activation)
        if self.activation == "swiglu":
            h = h * (x @ self.w3)
        return h @ self.w2

    def active_params(self) -> int:
        return sum(v.size for _, v in tree_flatten(self.parameters()))


class Experts(nn.Module):
    """E expert MLPs as (E, in, out) arrays, applied to tokens already grouped by expert.

    ``__call__(xs, counts)``: ``xs`` holds the tokens sorted by expert, ``counts[e]`` of them for
    expert e. One matrix product per expert and weight: a loop over experts, never over tokens.
    (``mx.gather_mm`` does the same in one call but is ~4x slower on CPU.)
    """

    def __init__(self, n_experts: int, d_model: int, hidden: int, activation: str = "gelu",
                 out_std: float = 0.02) -> None:
        super().__init__()
        self.activation = activation
        self.w1 = mx.random.normal((n_experts, d_model, hidden)) * 0.02
        if activation == "swiglu":
            self.w3 = mx.random.normal((n_experts, d_model, hidden)) * 0.02
        self.w2 = mx.random.normal((n_experts, hidden, d_model)) * out_std

    def expert(self, e: int, x: mx.array) -> mx.array:
        """Expert ``e`` alone on tokens ``x`` (the dense reference in the tests uses it)."""
        return self(x, [x.shape[0] if i == e else 0 for i in range(self.w1.shape[0])])

    def __call__(self, xs: mx.array, counts: list[int]) -> mx.array:
        # split once: its backward concatenates the E gradients in one go (indexing w[e] per
        # expert would build E full-size zero gradients)
        n_experts = self.w1.shape[0]
        w1, w2 = mx.split(self.w1, n_experts), mx.split(self.w2, n_experts)
        w3 = mx.split(self.w3, n_experts) if self.activation == "swiglu" else w1
        out, start = [], 0
        for e, n in enumerate(counts):
            if n > 0:
                x = xs[start:start + n]
                h = _act(x @ w1[e][0], self.activation)
                if self.activation == "swiglu":
                    h = h * (x @ w3[e][0])
                out.append(h @ w2[e][0])
            start += n
        return mx.concatenate(out) if out else xs[:0]

    def params_per_expert(self) -> int:
        return sum(v[0].size for _, v in tree_flatten(self.parameters()))
