"""SGD, Adam, AdamW, Lion and Muon in PyTorch, each written from its update rule.

One ``torch.optim.Optimizer`` whose param groups each name their algorithm: Muon's matrices and
its AdamW fallback live in a single optimizer, so ``state_dict()``, checkpoints and schedules
(``base_lr`` per group) just work. Each rule is written twice from the same update rule:
``update(p, grad, state, group)`` for one tensor (the readable reference) and
``update_foreach(params, grads, states, group)`` for every tensor of a group at once with
``torch._foreach_*`` ops, the way torch.optim's ``foreach=True`` implementations do: one call
per operation instead of one per operation per tensor (tests hold the two bitwise equal). As in
torch.optim, the multi-tensor path is the default on accelerators only: there it saves a kernel
launch per tensor and operation; on a CPU each ``_foreach`` op is a loop over the same kernels
that streams every tensor through memory before the next op starts, which measured slower than
finishing one tensor while it is in cache (docs/optimisers.md#speed). Adam and AdamW also
split their rule into numbers (``update``) and tensor work (``apply``), so that
``compile: true`` can trace the tensor work of a whole group once with torch.compile.
Mirrors scratchlab/optim/mlx/optimizers.py name for name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from scratchlab.optim.groups import Group, plan


class SGD:
    """p <- p - lr * u, with u = g (+ wd * p), or momentum b = mu * b + g and
    u = b (heavy ball) or u = g + mu * b (Nesterov: look one momentum step ahead)."""

    @staticmethod
    def update(p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        mu = group["momentum"]
        if mu != 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.clone()  # b_1 = g_1
            else:
                state["momentum_buffer"].mul_(mu).add_(grad)
            buf = state["momentum_buffer"]
            grad = grad.add(buf, alpha=mu) if group["nesterov"] else buf
        p.add_(grad, alpha=-group["lr"])

    @staticmethod
    def update_foreach(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
                       group: dict[str, Any]) -> None:
        if group["weight_decay"] != 0:
            grads = list(torch._foreach_add(grads, params, alpha=group["weight_decay"]))
        mu = group["momentum"]
        if mu != 0:
            old = [(s["momentum_buffer"], g) for s, g in zip(states, grads) if "momentum_buffer" in s]
            if old:
                bufs, old_grads = map(list, zip(*old))
                torch._foreach_mul_(bufs, mu)
                torch._foreach_add_(bufs, old_grads)
            for s, g in zip(states, grads):
                s.setdefault("momentum_buffer", g.clone())  # b_1 = g_1
            bufs = [s["momentum_buffer"] for s in states]
            grads = list(torch._foreach_add(grads, bufs, alpha=mu)) if group["nesterov"] else bufs
        torch._foreach_add_(params, grads, alpha=-group["lr"])


class Adam:
    """m and v: running means of g and g^2; divide both by (1 - beta^t) to undo their pull
    towards zero (bias correction); step = lr * m_hat / (sqrt(v_hat) + eps).
    ``weight_decay`` here is L2: it is added to the gradient, so Adam rescales it too."""

    decoupled = False

    @staticmethod
    def init_state(p: Tensor, state: dict[str, Any]) -> None:
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)

    @classmethod
    def update(cls, p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               apply: Callable[..., None] | None = None) -> None:
        """The step's numbers here, the tensor work in ``apply`` (``Adam.apply``, or its
        torch.compile'd twin from ``Routed(compile=True)``)."""
        cls.init_state(p, state)
        lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        state["step"] += 1
        t = state["step"].item()
        # m_hat / (sqrt(v_hat) + eps) with both corrections moved into scalars (Kingma & Ba,
        # end of section 2): = (c2 / c1) m / (sqrt(v) + eps c2), c1 = 1 - beta1^t,
        # c2 = sqrt(1 - beta2^t). Same update, one pass over v fewer (docs/optimisers.md#speed).
        c1, c2 = 1 - beta1**t, math.sqrt(1 - beta2**t)
        decoupled = cls.decoupled and wd != 0
        (apply or cls.apply)(p, grad, state["exp_avg"], state["exp_avg_sq"], beta1, beta2,
                             0.0 if cls.decoupled else wd, decoupled,
                             1 - lr * wd, group["eps"] * c2, -lr * c2 / c1)

    @staticmethod
    def apply(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, beta1: float, beta2: float,
              l2: float, decoupled: bool, decay: float | Tensor, eps_c2: float | Tensor,
              step_size: float | Tensor) -> None:
        """The tensor half of the rule. The last three numbers change every step: Python
        floats in eager mode, 0-d tensors when compiled (one trace then serves every step)."""
        if l2 != 0:
            grad = grad.add(p, alpha=l2)  # Adam's L2: the decay goes through the adaptive scaling
        if decoupled:
            p.mul_(decay)  # AdamW: p (1 - lr wd), outside the adaptive scaling
        m.lerp_(grad, 1 - beta1)  # m = beta1 m + (1 - beta1) g
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v = beta2 v + (1 - beta2) g^2
        p.addcdiv_(m, v.sqrt().add_(eps_c2), value=step_size)  # type: ignore[arg-type]

    @classmethod
    def update_foreach(cls, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
                       group: dict[str, Any]) -> None:
        for p, s in zip(params, states):
            cls.init_state(p, s)
        lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        ts = [t.item() for t in steps]  # tensors may have taken different numbers of steps
        if wd != 0:
            if cls.decoupled:
                torch._foreach_mul_(params, 1 - lr * wd)
            else:
                grads = list(torch._foreach_add(grads, params, alpha=wd))
        m, v = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
        torch._foreach_lerp_(m, grads, 1 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
        c1s, c2s = [1 - beta1**t for t in ts], [math.sqrt(1 - beta2**t) for t in ts]
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, [group["eps"] * c2 for c2 in c2s])
        torch._foreach_addcdiv_(params, m, denom, [-lr * c2 / c1 for c1, c2 in zip(c1s, c2s)])


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p (1 - lr wd) before the Adam step."""

    decoupled = True


class Lion:
    """u = sign(beta1 m + (1 - beta1) g); p <- p (1 - lr wd) - lr u; then m = beta2 m + (1 - beta2) g.
    Every coordinate moves by exactly lr, so lr must be smaller than AdamW's."""

    @staticmethod
    def update(p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
        lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        m = state["exp_avg"]
        direction = m.lerp(grad, 1 - beta1).sign_()
        if wd != 0:
            p.mul_(1 - lr * wd)
        p.add_(direction, alpha=-lr)
        m.lerp_(grad, 1 - beta2)

    @staticmethod
    def update_foreach(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
                       group: dict[str, Any]) -> None:
        for p, s in zip(params, states):
            if not s:
                s["exp_avg"] = torch.zeros_like(p)
        lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        m = [s["exp_avg"] for s in states]
        direction = torch._foreach_lerp(m, grads, 1 - beta1)
        torch._foreach_sign_(direction)
        if wd != 0:
            torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_add_(params, direction, alpha=-lr)
        torch._foreach_lerp_(m, grads, 1 - beta2)


def zeropower_via_newtonschulz(G: torch.Tensor, steps: int = 5,
                               coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
                               eps: float = 1e-7, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Approximate U V^T of G = U S V^T (the nearest semi-orthogonal matrix) with the quintic
    X <- a X + (b A + c A^2) X, A = X X^T. Each step maps every singular value s to
    a s + b s^3 + c s^5; after 5 steps they lie in roughly [0.7, 1.2]. Works on the last two
    dims (leading dims are a batch, e.g. experts); wide orientation keeps X X^T small."""
    a, b, c = coefficients
    X = G.to(dtype)
    tall = G.size(-2) > G.size(-1)
    if tall:
        X = X.mT
    batch_shape = X.shape[:-2]
    X = X.reshape(-1, *X.shape[-2:]) if X.ndim > 2 else X
    # scale so that the spectral norm (<= the Frobenius norm) is at most 1
    X = X / X.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)
    mm_add = torch.addmm if X.ndim == 2 else torch.baddbmm  # beta * input + alpha * (m1 @ m2)
    for _ in range(steps):
        A = X @ X.mT
        B = mm_add(A, A, A, beta=b, alpha=c)
        X = mm_add(X, B, X, beta=a)
    X = X.reshape(*batch_shape, *X.shape[-2:])
    return X.mT if tall else X


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


class Muon:
    """Momentum, then orthogonalise: the steepest-descent direction under the spectral norm.
    b = lerp(b, g, 1 - mu); u = lerp(g, b, mu) (Nesterov) or b; O = NS(u);
    p <- p (1 - lr wd) - adjusted_lr * O."""

    @staticmethod
    def update(p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if not state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf, mu = state["momentum_buffer"], group["momentum"]
        buf.lerp_(grad, 1 - mu)
        u = grad.lerp(buf, mu) if group["nesterov"] else buf
        dtype = torch.bfloat16 if group["ns_dtype"] == "bfloat16" else torch.float32
        O = zeropower_via_newtonschulz(u, group["ns_steps"], tuple(group["ns_coefficients"]),
                                       group["eps"], dtype)
        lr = group["lr"]
        if group["weight_decay"] != 0:
            p.mul_(1 - lr * group["weight_decay"])
        p.add_(O.to(p.dtype), alpha=-adjusted_lr(lr, group["adjust_lr"], tuple(p.shape)))

    @staticmethod
    def update_foreach(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
                       group: dict[str, Any]) -> None:
        """The elementwise parts over all matrices at once; Newton–Schulz (a few GEMMs per
        matrix, which is where the time goes) stays one matrix at a time."""
        for p, s in zip(params, states):
            if not s:
                s["momentum_buffer"] = torch.zeros_like(p)
        bufs, mu = [s["momentum_buffer"] for s in states], group["momentum"]
        torch._foreach_lerp_(bufs, grads, 1 - mu)
        us = torch._foreach_lerp(grads, bufs, mu) if group["nesterov"] else bufs
        dtype = torch.bfloat16 if group["ns_dtype"] == "bfloat16" else torch.float32
        lr = group["lr"]
        if group["weight_decay"] != 0:
            torch._foreach_mul_(params, 1 - lr * group["weight_decay"])
        for p, u in zip(params, us):
            O = zeropower_via_newtonschulz(u, group["ns_steps"], tuple(group["ns_coefficients"]),
                                           group["eps"], dtype)
            p.add_(O.to(p.dtype), alpha=-adjusted_lr(lr, group["adjust_lr"], tuple(p.shape)))


ALGORITHMS: dict[str, Any] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "lion": Lion, "muon": Muon}


def compiled(apply: Callable[..., None], per_step: int = 3) -> Callable[[list[tuple[Any, ...]]], None]:
    """A group's ``apply`` calls, traced by torch.compile as one function: TorchInductor fuses
    each tensor's elementwise ops into one loop, as ``fused=True`` kernels do by hand. The last
    ``per_step`` numbers of each call change every step, so they go in as a tensor (as Python
    floats, dynamo would specialise on their values and retrace every step)."""

    def run(calls: list[tuple[Any, ...]], numbers: Tensor) -> None:
        for args, row in zip(calls, numbers):
            apply(*args, *row)

    traced = torch.compile(run, fullgraph=True)

    def call(calls: list[tuple[Any, ...]]) -> None:
        numbers = torch.tensor([c[-per_step:] for c in calls], dtype=torch.float64)
        traced([c[:-per_step] for c in calls], numbers)

    return call


class Routed(torch.optim.Optimizer):
    """One optimizer, several update rules: each param group's ``algorithm`` picks its rule.
    ``foreach=True`` runs each rule's ``update_foreach``, ``False`` the per-tensor ``update``;
    ``None`` (default) picks foreach when every parameter of the group is off the CPU.
    ``compile=True`` runs the rules that have a tensor half (``apply``: Adam, AdamW) through
    ``compiled(apply)``, a group at a time; the first step pays for the compilation."""

    def __init__(self, groups: list[dict[str, Any]], foreach: bool | None = None,
                 compile: bool = False) -> None:
        for g in groups:
            if g.get("algorithm") not in ALGORITHMS:
                raise ValueError(f"unknown algorithm {g.get('algorithm')!r}")
            g.setdefault("base_lr", g["lr"])  # what schedules multiply (core's set_lr)
        super().__init__(groups, {})
        self.foreach = foreach
        self.compiled = {name: compiled(rule.apply) for name, rule in ALGORITHMS.items()
                         if compile and hasattr(rule, "apply")}

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            rule = ALGORITHMS[group["algorithm"]]
            params = [p for p in group["params"] if p.grad is not None]
            foreach = self.foreach
            if foreach is None:
                foreach = all(p.device.type != "cpu" for p in params)
            if group["algorithm"] in self.compiled:  # collect the group's calls, run them traced
                calls: list[tuple[Any, ...]] = []
                for p in params:
                    rule.update(p, p.grad, self.state[p], group,
                                lambda *args: calls.append(args))  # noqa: B023 (used at once)
                self.compiled[group["algorithm"]](calls)
            elif foreach and params:
                rule.update_foreach(params, [p.grad for p in params], [self.state[p] for p in params],
                                    group)
            else:
                for p in params:
                    rule.update(p, p.grad, self.state[p], group)
        return loss


def build(config: Any, model: nn.Module, foreach: bool | None = None) -> Routed:
    """The optimizer factory (``(config, model)``): routes the trainable parameters by ``plan``."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    by_name = dict(named)
    groups = plan(config, [(n, tuple(p.shape)) for n, p in named])
    compile = config.compile or getattr(getattr(config, "fallback", None), "compile", False)
    return Routed([to_param_group(g, by_name) for g in groups], foreach, compile)


def to_param_group(group: Group, by_name: dict[str, nn.Parameter]) -> dict[str, Any]:
    return {"params": [by_name[n] for n in group.names], "algorithm": group.algorithm,
            **group.hyper}
