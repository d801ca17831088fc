"""Sparse autoencoders in MLX and the ``sae`` task. Mirrors torch/sae.py name for name."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from scratchlab.core.backends import mlx as backend
from scratchlab.core.context import RunContext
from scratchlab.core.training import restore_state, save_state, should
from scratchlab.interp import sae as S


class SAE(nn.Module):
    """f = act(W_enc^T (x - b_dec) + b_enc);  x_hat = W_dec^T f + b_dec.
    W_enc is (d_in, d_sae), W_dec is (d_sae, d_in): row i of W_dec is latent i's direction."""

    def __init__(self, cfg: Any, d_in: int) -> None:
        super().__init__()
        object.__setattr__(self, "cfg", cfg)  # settings, not a parameter tree
        self.W_enc = mx.zeros((d_in, cfg.d_sae))
        self.b_enc = mx.zeros((cfg.d_sae,))
        self.W_dec = mx.zeros((cfg.d_sae, d_in))
        self.b_dec = mx.zeros((d_in,))
        backend.load_state_dict(self, S.init_sae(d_in, cfg.d_sae, cfg.dec_init_norm, 0))

    def pre_acts(self, x: mx.array) -> mx.array:
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def activation(self, pre: mx.array) -> mx.array:
        raise NotImplementedError

    def loss(self, x: mx.array, dead: mx.array) -> tuple[mx.array, dict[str, Any]]:
        """The training loss and what to report; ``dead`` marks latents silent for too long."""
        raise NotImplementedError

    def encode(self, x: mx.array) -> mx.array:
        return self.activation(self.pre_acts(x))

    def decode(self, f: mx.array) -> mx.array:
        return f @ self.W_dec + self.b_dec

    def __call__(self, x: mx.array) -> tuple[mx.array, mx.array]:
        f = self.encode(x)
        return self.decode(f), f

    def project_decoder_grad(self, grads: dict[str, Any]) -> dict[str, Any]:
        """Remove the part of each decoder row's gradient that would change its norm, so the
        step moves along the unit sphere (Gao et al. 2024)."""
        g, W = grads["W_dec"], self.W_dec
        return {**grads, "W_dec": g - (g * W).sum(-1, keepdims=True) * W}

    def normalize_decoder(self) -> None:
        norm = mx.linalg.norm(self.W_dec, axis=-1, keepdims=True)
        self.W_dec = self.W_dec / mx.maximum(norm, 1e-12)


class ReLUSAE(SAE):
    def activation(self, pre: mx.array) -> mx.array:
        return nn.relu(pre)

    def loss(self, x: mx.array, dead: mx.array) -> tuple[mx.array, dict[str, Any]]:
        """Summed squared error + l1_coeff * sum_i f_i ||W_dec_i|| (the decoder-norm-weighted L1
        of Anthropic's April 2024 update: shrinking f while growing W_dec does not pay)."""
        x_hat, f = self(x)
        mse = ((x_hat - x) ** 2).sum(-1).mean()
        sparsity = (f * mx.linalg.norm(self.W_dec, axis=-1)).sum(-1).mean()
        return mse + self.cfg.l1_coeff * sparsity, {"mse": mse, "sparsity": sparsity, "f": f}


class TopKSAE(SAE):
    def activation(self, pre: mx.array) -> mx.array:
        return topk_relu(pre, self.cfg.k)

    def loss(self, x: mx.array, dead: mx.array) -> tuple[mx.array, dict[str, Any]]:
        """Summed squared error + aux_coeff * AuxK: the dead latents' top aux_k must explain the
        residual x - x_hat, which gives them gradient again (Gao et al. 2024, sec. 2.4)."""
        pre = self.pre_acts(x)
        f = topk_relu(pre, self.cfg.k)
        x_hat = self.decode(f)
        mse = ((x_hat - x) ** 2).sum(-1).mean()
        aux = mx.zeros(())
        k_aux = min(self.cfg.aux_k, int(dead.sum().item()))
        if k_aux > 0:
            e = mx.stop_gradient(x - x_hat)
            e_hat = topk_relu(mx.where(dead, pre, float("-inf")), k_aux) @ self.W_dec
            aux = ((e_hat - e) ** 2).sum() / mx.maximum((e**2).sum(), 1e-12)
        return mse + self.cfg.aux_coeff * aux, {"mse": mse, "aux_loss": aux, "f": f}


def topk_relu(pre: mx.array, k: int) -> mx.array:
    """Keep the k largest pre-activations of each row (then ReLU), zero the rest."""
    threshold = mx.topk(pre, k, axis=-1).min(-1, keepdims=True)
    return nn.relu(pre) * (pre >= threshold)


def relu_sae(cfg: S.ReLUSAEConfig, d_in: int) -> ReLUSAE:
    return ReLUSAE(cfg, d_in)


def topk_sae(cfg: S.TopKSAEConfig, d_in: int) -> TopKSAE:
    return TopKSAE(cfg, d_in)


def train_step(sae: SAE, opt: optim.Optimizer, x: mx.array,
               dead: mx.array) -> tuple[mx.array, dict[str, Any]]:
    (loss, aux), grads = nn.value_and_grad(sae, type(sae).loss)(sae, x, dead)
    if sae.cfg.normalize_decoder:
        grads = sae.project_decoder_grad(grads)
    opt.update(sae, grads)
    if sae.cfg.normalize_decoder:
        sae.normalize_decoder()
    mx.eval(loss, aux, sae.parameters(), opt.state)
    return loss, aux


def encode_decode(sae: SAE, x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    outs = [sae(mx.array(x[i:i + chunk])) for i in range(0, len(x), chunk)]
    return (np.concatenate([np.array(o[0]) for o in outs]),
            np.concatenate([np.array(o[1]) for o in outs]))


# --- the task ----------------------------------------------------------------------------------

def run(ctx: RunContext) -> dict[str, Any]:
    cfg: S.SAETaskConfig = ctx.config
    rng = np.random.default_rng(ctx.seed)
    if cfg.source == "lm":
        from scratchlab.interp.mlx.sae_lm import LMActivations

        source: Any = LMActivations(cfg, ctx, rng)
    else:
        source = S.ToySource(cfg.toy)
    x_eval = source.eval_set(cfg.eval_samples)
    d_in = x_eval.shape[-1]
    sae = cfg.sae.build("mlx", d_in)
    backend.load_state_dict(sae, S.init_sae(d_in, sae.cfg.d_sae, sae.cfg.dec_init_norm, ctx.seed))
    sae.b_dec = mx.array(S.init_b_dec(cfg.b_dec_init, source.sample(4096, rng)))
    opt = optim.Adam(learning_rate=cfg.lr, bias_correction=True)
    since_fired = np.zeros(sae.cfg.d_sae, np.int64)
    dead_steps = getattr(sae.cfg, "dead_steps", 10**9)
    start, state = restore_state(ctx, backend, sae, opt, rng)
    if state:  # the dead-latent counters are part of the state: AuxK depends on them
        since_fired = np.asarray(state["since_fired"], np.int64)
    for step in range(start + 1, cfg.steps + 1):
        dead = mx.array(since_fired >= dead_steps)
        loss, aux = train_step(sae, opt, mx.array(source.sample(cfg.batch_size, rng)), dead)
        fired = np.array((aux.pop("f") > 0).any(0))
        since_fired = np.where(fired, 0, since_fired + 1)
        if should(cfg.eval_every, step, cfg.steps):
            m = S.evaluate(source, x_eval, *encode_decode(sae, x_eval), backend.to_numpy(sae.W_dec))
            ctx.log_metrics(step, train_loss=loss.item(), **{f"train_{k}": v.item() for k, v in aux.items()},
                            **m)
        if should(cfg.checkpoint_every, step, cfg.steps):
            save_state(ctx, backend, sae, opt, step, rng, {"since_fired": since_fired.tolist()})
        ctx.progress(step, cfg.steps, loss=loss.item())
    metrics = S.evaluate(source, x_eval, *encode_decode(sae, x_eval), backend.to_numpy(sae.W_dec))
    metrics.update(source.finish(sae, ctx))
    return metrics
