"""SGD, Adam, AdamW, Lion and Muon in MLX, each written from its update rule.

Each rule is an ``mlx.optimizers.Optimizer`` with ``apply_single``; :class:`Routed` (a
``MultiOptimizer``) gives every param group its own instance, so groups keep their own learning
rate (core's ``set_lr`` walks ``.optimizers``) and the state round-trips through ``tree_flatten``.
Mirrors scratchlab/optim/torch/optimizers.py name for name.
"""

from __future__ import annotations

import math
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

from scratchlab.optim.groups import Group, plan


class _Rule(optim.Optimizer):
    """An update rule with torch-style settings (``lr``, ``weight_decay``, ...) as attributes."""

    def __init__(self, lr: float, weight_decay: float = 0.0, **hyper: Any) -> None:
        super().__init__()
        self.learning_rate = lr
        self.base_lr = lr  # what schedules multiply (core's set_lr), kept across restores
        self.weight_decay = weight_decay
        for k, v in hyper.items():
            setattr(self, k, v)


class SGD(_Rule):
    """p <- p - lr * u, with u = g (+ wd * p), or momentum b = mu * b + g and
    u = b (heavy ball) or u = g + mu * b (Nesterov: look one momentum step ahead)."""

    momentum: float
    nesterov: bool

    def init_single(self, parameter: mx.array, state: dict) -> None:
        if self.momentum != 0:
            state["momentum_buffer"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        if self.momentum != 0:
            buf = self.momentum * state["momentum_buffer"] + gradient  # b_1 = g_1 (b_0 = 0)
            state["momentum_buffer"] = buf
            gradient = gradient + self.momentum * buf if self.nesterov else buf
        return parameter - self.learning_rate.astype(gradient.dtype) * gradient


class Adam(_Rule):
    """m and v: running means of g and g^2; divide both by (1 - beta^t) to undo their pull
    towards zero (bias correction); step = lr * m_hat / (sqrt(v_hat) + eps).
    ``weight_decay`` here is L2: it is added to the gradient, so Adam rescales it too."""

    decoupled = False
    betas: tuple[float, float]
    eps: float

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["exp_avg"] = mx.zeros_like(parameter)
        state["exp_avg_sq"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        lr = self.learning_rate.astype(gradient.dtype)
        (beta1, beta2), t = self.betas, self.step
        if self.weight_decay != 0:
            if self.decoupled:
                parameter = parameter * (1 - lr * self.weight_decay)  # AdamW
            else:
                gradient = gradient + self.weight_decay * parameter
        m = beta1 * state["exp_avg"] + (1 - beta1) * gradient
        v = beta2 * state["exp_avg_sq"] + (1 - beta2) * mx.square(gradient)
        state["exp_avg"], state["exp_avg_sq"] = m, v
        step_size = (lr / (1 - beta1**t)).astype(gradient.dtype)
        denom = mx.sqrt(v) * mx.rsqrt(1 - beta2**t).astype(gradient.dtype) + self.eps
        return parameter - step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p (1 - lr wd) before the Adam step."""

    decoupled = True


class Lion(_Rule):
    """u = sign(beta1 m + (1 - beta1) g); p <- p (1 - lr wd) - lr u; then m = beta2 m + (1 - beta2) g.
    Every coordinate moves by exactly lr, so lr must be smaller than AdamW's."""

    betas: tuple[float, float]

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["exp_avg"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        lr = self.learning_rate.astype(gradient.dtype)
        beta1, beta2 = self.betas
        m = state["exp_avg"]
        direction = mx.sign(beta1 * m + (1 - beta1) * gradient)
        state["exp_avg"] = beta2 * m + (1 - beta2) * gradient
        if self.weight_decay != 0:
            parameter = parameter * (1 - lr * self.weight_decay)
        return parameter - lr * direction


def zeropower_via_newtonschulz(G: mx.array, steps: int = 5,
                               coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
                               eps: float = 1e-7, dtype: mx.Dtype = mx.float32) -> mx.array:
    """Approximate U V^T of G = U S V^T (the nearest semi-orthogonal matrix) with the quintic
    X <- a X + (b A + c A^2) X, A = X X^T. Each step maps every singular value s to
    a s + b s^3 + c s^5; after 5 steps they lie in roughly [0.7, 1.2]. Works on the last two
    dims (leading dims are a batch, e.g. experts); wide orientation keeps X X^T small."""
    a, b, c = coefficients
    X = G.astype(dtype)
    tall = G.shape[-2] > G.shape[-1]
    if tall:
        X = X.swapaxes(-1, -2)
    # scale so that the spectral norm (<= the Frobenius norm) is at most 1
    norm = mx.sqrt(mx.sum(mx.square(X.astype(mx.float32)), axis=(-2, -1), keepdims=True))
    X = X / mx.maximum(norm, eps).astype(dtype)
    for _ in range(steps):
        A = X @ X.swapaxes(-1, -2)
        B = mx.addmm(A, A, A, alpha=c, beta=b)  # beta * input + alpha * (A @ A)
        X = mx.addmm(X, B, X, beta=a)
    return X.swapaxes(-1, -2) if tall else X


def adjusted_lr(lr: float, rule: str, shape: tuple[int, ...]) -> float:
    """Muon's shape scaling. ``original``: sqrt(max(1, rows/cols)) keeps the update's RMS per
    output constant; ``match_rms_adamw``: 0.2 sqrt(max(rows, cols)) gives it AdamW's typical RMS
    (~0.2), so AdamW's lr and weight decay carry over."""
    rows, cols = shape[-2], shape[-1]
    if rule == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    if rule == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr


class Muon(_Rule):
    """Momentum, then orthogonalise: the steepest-descent direction under the spectral norm.
    b = lerp(b, g, 1 - mu); u = lerp(g, b, mu) (Nesterov) or b; O = NS(u);
    p <- p (1 - lr wd) - adjusted_lr * O."""

    momentum: float
    nesterov: bool
    ns_steps: int
    ns_coefficients: tuple[float, float, float]
    eps: float
    adjust_lr: str
    ns_dtype: str

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["momentum_buffer"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        mu = self.momentum
        buf = state["momentum_buffer"] + (1 - mu) * (gradient - state["momentum_buffer"])
        state["momentum_buffer"] = buf
        u = gradient + mu * (buf - gradient) if self.nesterov else buf
        dtype = mx.bfloat16 if self.ns_dtype == "bfloat16" else mx.float32
        O = zeropower_via_newtonschulz(u, self.ns_steps, tuple(self.ns_coefficients), self.eps, dtype)
        lr = self.learning_rate.astype(gradient.dtype)
        if self.weight_decay != 0:
            parameter = parameter * (1 - lr * self.weight_decay)
        return parameter - adjusted_lr(1.0, self.adjust_lr, parameter.shape) * lr * O.astype(parameter.dtype)


ALGORITHMS: dict[str, Any] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "lion": Lion, "muon": Muon}


class Routed(optim.MultiOptimizer):
    """One optimizer, several update rules: one rule instance per param group, chosen by name."""

    def __init__(self, groups: list[Group]) -> None:
        self.groups = groups
        optimizers = [ALGORITHMS[g.algorithm](**g.hyper) for g in groups]
        filters = [lambda path, _, names=frozenset(g.names): path in names for g in groups[:-1]]
        super().__init__(optimizers, filters)


def build(config: Any, model: nn.Module) -> Routed:
    """The optimizer factory (``(config, model)``): routes the trainable parameters by ``plan``."""
    named = tree_flatten(model.trainable_parameters())
    return Routed(plan(config, [(n, tuple(p.shape)) for n, p in named]))

