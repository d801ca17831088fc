"""The MoE feed-forward: route each token to top_k experts, run each expert once on its tokens.

Dispatch, with n tokens, k choices and E experts, and no Python loop over tokens:

1. the router gives (n, k) expert indices and combine weights;
2. the n*k assignments are flattened choice-major (every token's first choice before any second
   choice), and each gets its rank among the assignments to the same expert (a cumulative sum of
   one-hots); with a capacity C, ranks >= C are dropped, so first choices win over second ones;
3. a sort by expert (dropped ones last) groups the tokens: gather, one matmul per expert;
4. the inverse permutation brings the outputs back to (k, n, d); they are summed with the
   combine weights (zero for dropped assignments). Gathers only: no scatter.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from scratchlab.moe.config import MoEConfig, expert_capacity
from scratchlab.moe.mlx.experts import MLP, Experts
from scratchlab.moe.mlx.losses import balance_loss, entropy, z_loss
from scratchlab.moe.mlx.router import build_router


class Dispatch(NamedTuple):
    order: mx.array   # (k*n,) assignment ids grouped by expert, dropped ones last
    keep: mx.array    # (k*n,) bool: the assignment fits in its expert's capacity
    counts: mx.array  # (E,) assignments per expert, before dropping
    kept: list[int]   # per expert, assignments it processes: min(count, capacity)


def dispatch(indices: mx.array, n_experts: int, capacity: int) -> Dispatch:
    """Plan who goes where for (n, k) expert ``indices``; assignment a = choice * n + token."""
    flat = indices.T.reshape(-1)                              # (k*n,) choice-major
    onehot = (flat[:, None] == mx.arange(n_experts)).astype(mx.int32)  # (k*n, E)
    counts = onehot.sum(axis=0)
    rank = ((mx.cumsum(onehot, axis=0) - 1) * onehot).sum(axis=-1)  # place in its expert's queue
    keep = rank < capacity
    order = mx.argsort(flat + n_experts * (~keep).astype(flat.dtype))  # by expert, dropped last
    return Dispatch(order, keep, counts, mx.minimum(counts, capacity).tolist())


class MoE(nn.Module):
    """Sparse mixture-of-experts feed-forward: (B, T, d) -> (y, aux)."""

    def __init__(self, config: MoEConfig, d_model: int, out_std: float = 0.02) -> None:
        super().__init__()
        self.config = config
        self.router = build_router(config.router, d_model, config.n_experts)
        self.experts = Experts(config.n_experts, d_model, config.hidden, config.activation,
                               out_std)
        if config.n_shared:  # n shared experts always active = one MLP n times as wide
            self.shared = MLP(d_model, config.n_shared * config.hidden, config.activation,
                              out_std)

    def __call__(self, x: mx.array) -> tuple[mx.array, dict[str, Any]]:
        shape, d = x.shape, x.shape[-1]
        x = x.reshape(-1, d)
        n, k, n_experts = x.shape[0], self.config.top_k, self.config.n_experts
        r = self.router(x, k)

        capacity = expert_capacity(n, k, n_experts, self.config.capacity_factor)
        plan = dispatch(r.indices, n_experts, capacity)
        order, keep, kept = plan.order, plan.keep, plan.kept

        ys = self.experts(x[order[:sum(kept)] % n], kept)          # (kept, d)
        ys = mx.concatenate([ys, mx.zeros((k * n - ys.shape[0], d), ys.dtype)])  # dropped -> 0
        y = ys[mx.argsort(order)]                                  # back to choice-major
        combine = (r.weights.T.reshape(-1) * keep).astype(y.dtype)  # (k*n,)
        out = (y * combine[:, None]).reshape(k, n, d).sum(axis=0)
        if self.config.n_shared:
            out = out + self.shared(x)

        load = plan.counts.astype(mx.float32) / (k * n)
        balance, z = balance_loss(r.probs, load), z_loss(r.logits)
        aux = {
            "aux_loss": self.config.balance_coef * balance + self.config.z_coef * z,
            "balance_loss": mx.stop_gradient(balance),
            "z_loss": mx.stop_gradient(z),
            "load": load,
            "load_entropy": entropy(load),
            "dropped_frac": mx.logical_not(keep).astype(mx.float32).sum() / keep.size,
        }
        return out.reshape(shape), aux

    def active_params(self) -> int:
        """Parameters one token uses: the router, top_k experts and the shared experts."""
        shared = self.shared.active_params() if self.config.n_shared else 0
        router = sum(v.size for _, v in tree_flatten(self.router.parameters()))
        return router + self.config.top_k * self.experts.params_per_expert() + shared


def build_ffn(config: MoEConfig, d_model: int, *, layer: int, n_layers: int,
              bias: bool = True, dropout: float = 0.0) -> nn.Module:
    """The ``ffn`` factory: a MoE in every ``every``-th block; elsewhere the transformer's own
    dense feed-forward (``mlp`` or ``swiglu``) with the expert's hidden size. Experts have no
    biases; ``bias`` and ``dropout`` (passed by the gpt model) apply to the dense blocks."""
    if config.is_moe_layer(layer):
        return MoE(config, d_model, out_std=0.02 / math.sqrt(2 * n_layers))  # GPT-2 init
    from scratchlab.transformer.config import MLPConfig, SwiGLUConfig
    from scratchlab.transformer.mlx.ffn import MLP as DenseMLP
    from scratchlab.transformer.mlx.ffn import SwiGLU

    if config.activation == "swiglu":
        return SwiGLU(SwiGLUConfig(hidden=config.hidden), d_model, layer=layer,
                      n_layers=n_layers, bias=bias, dropout=dropout)
    return DenseMLP(MLPConfig(hidden=config.hidden, activation="gelu"), d_model, layer=layer,
                    n_layers=n_layers, bias=bias, dropout=dropout)
