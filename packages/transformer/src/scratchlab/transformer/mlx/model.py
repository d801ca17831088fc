"""The GPT model in MLX: embeddings, pre-norm blocks, final norm, output layer.

    x_0   = wte[idx] (+ wpe[pos])
    x'    = x + Attn(LN_1(x))           (hook_resid_pre -> hook_resid_mid)
    x_out = x' + FFN(LN_2(x'))          (-> hook_resid_post)
    logits = LN_f(x_L) W^T              (W = wte when tied)

Every part is a registered component (positional, attention, norm, ffn), built through the
registry, so ``ffn: moe`` from another package drops in. Parameter names match the torch twin.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

from scratchlab.transformer.config import GPTConfig
from scratchlab.transformer.mlx.cache import KVCache
from scratchlab.transformer.mlx.hooks import HookPoint, name_hook_points
from scratchlab.transformer.mlx.positional import Positional

BACKEND = "mlx"
RESIDUAL_PROJ = re.compile(r"^blocks\.\d+\.(attn\.o|mlp\.proj|mlp\.down)\.weight$")
OWN_WEIGHTS = re.compile(r"^(wte|wpe|lm_head)\.weight$|^blocks\.\d+\.(attn\.[qkvo]|mlp\.(fc|proj|gate|up|down))\.(weight|bias)$")


def build_ffn(config: GPTConfig, layer: int) -> nn.Module:
    """The ffn component; ours also take the model's bias and dropout settings."""
    factory = config.ffn.component(BACKEND).factory
    target = factory.resolve() if hasattr(factory, "resolve") else factory
    extra: dict[str, Any] = {}
    params = inspect.signature(target).parameters
    if "bias" in params:
        extra["bias"] = config.bias
    if "dropout" in params:
        extra["dropout"] = config.dropout
    return target(config.ffn.config, config.d_model, layer=layer, n_layers=config.n_layers, **extra)


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = config.norm.build(BACKEND, config)
        self.attn = config.attention.build(BACKEND, config)
        self.mlp = build_ffn(config, layer)
        self.has_ffn = not getattr(self.mlp, "skip", False)
        self.ln_2 = config.norm.build(BACKEND, config) if self.has_ffn else None
        self.hook_resid_pre, self.hook_resid_mid = HookPoint(), HookPoint()
        self.hook_resid_post, self.hook_attn_out, self.hook_mlp_out = HookPoint(), HookPoint(), HookPoint()

    def __call__(self, x: mx.array, pos: Positional, cache: Any = None,
                 offset: int = 0) -> tuple[mx.array, dict[str, Any] | None]:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln_1(x), pos, cache, offset)))
        aux = None
        if self.has_ffn:
            out = self.mlp(self.ln_2(x))  # type: ignore[misc]
            if isinstance(out, tuple):  # e.g. MoE: (y, {"aux_loss": ..., ...})
                out, aux = out
            x = x + self.hook_mlp_out(out)
        return self.hook_resid_post(x), aux


class GPT(nn.Module):
    def __init__(self, config: GPTConfig, vocab_size: int, max_seq_len: int) -> None:
        super().__init__()
        self.config, self.vocab_size, self.max_seq_len = config, vocab_size, max_seq_len
        self.wte = nn.Embedding(vocab_size, config.d_model)
        self.wpe: Positional = config.positional.build(BACKEND, config, max_seq_len=max_seq_len)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = [Block(config, i) for i in range(config.n_layers)]
        self.ln_f = config.norm.build(BACKEND, config)
        self.lm_head = None if config.tie_weights else nn.Linear(config.d_model, vocab_size, bias=False)
        self.init_weights()
        object.__setattr__(self, "_hook_points", name_hook_points(self))  # not a child module

    def init_weights(self) -> None:
        """GPT-2 init: N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 n_layers)), zero
        biases; norms start at 1. Only our own weights: an ffn from another package keeps its
        own init."""
        new = []
        flat: list[tuple[str, Any]] = tree_flatten(self.parameters())  # type: ignore[assignment]
        for name, p in flat:
            if not OWN_WEIGHTS.match(name):
                continue
            if name.endswith(".bias"):
                new.append((name, mx.zeros_like(p)))
            else:
                std = 0.02 / math.sqrt(2 * self.config.n_layers) if RESIDUAL_PROJ.match(name) else 0.02
                new.append((name, mx.random.normal(p.shape) * std))
        self.update(tree_unflatten(new))
        mx.eval(self.parameters())

    def hook_points(self) -> dict[str, HookPoint]:
        return self._hook_points

    def make_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        c = self.config
        return KVCache(c.n_layers, batch_size, c.kv_heads, max_len or self.max_seq_len,
                       c.head_dim, self.wte.weight.dtype)

    def _run(self, idx: mx.array, cache: KVCache | None,
             collect: bool) -> tuple[mx.array, dict[str, Any]]:
        T = idx.shape[1]
        offset = 0
        if cache is not None:
            cache.check(T)
            offset = cache.offset
        x = self.wte(idx)
        if self.wpe.absolute:
            x = self.wpe.embed(x, offset)
        x = self.drop(x)
        aux: dict[str, Any] = {}
        for i, block in enumerate(self.blocks):
            x, block_aux = block(x, self.wpe, cache.layers[i] if cache is not None else None, offset)
            if collect and block_aux:
                for key, value in block_aux.items():
                    aux[f"blocks.{i}.mlp.{key}"] = value
                if "aux_loss" in block_aux:
                    aux["aux_loss"] = aux.get("aux_loss", 0.0) + block_aux["aux_loss"]
        if cache is not None:
            cache.offset += T
        x = self.ln_f(x)
        logits = self.lm_head(x) if self.lm_head is not None else self.wte.as_linear(x)
        return logits, aux

    def __call__(self, idx: mx.array, cache: KVCache | None = None) -> mx.array:
        """Logits (B, T, V) for token ids (B, T); with a cache, ``idx`` continues it."""
        return self._run(idx, cache, collect=False)[0]

    def forward_aux(self, idx: mx.array) -> tuple[mx.array, dict[str, Any]]:
        """Logits and what the ffn modules report: ``aux_loss`` summed over layers, and each
        layer's values under ``blocks.{i}.mlp.<key>``; empty for dense models."""
        return self._run(idx, None, collect=True)

    def num_params(self, active: bool = False) -> int:
        """Parameters (tied weights once); ``active``: per token, using ffn.active_params()."""
        total = _count(self.parameters())
        if active:
            for block in self.blocks:
                if hasattr(block.mlp, "active_params"):
                    total += int(block.mlp.active_params()) - _count(block.mlp.parameters())
        return total


def _count(params: Any) -> int:
    flat: list[tuple[str, Any]] = tree_flatten(params)  # type: ignore[assignment]
    return sum(v.size for _, v in flat)


def gpt(config: GPTConfig, vocab_size: int, max_seq_len: int) -> GPT:
    """The ``model`` factory."""
    return GPT(config, vocab_size, max_seq_len)
