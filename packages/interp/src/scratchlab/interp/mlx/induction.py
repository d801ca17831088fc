"""The ``induction`` task in MLX: a small attention-only transformer learns to copy on
repeated random tokens. Mirrors torch/induction.py name for name."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from scratchlab.core.backends import mlx as backend
from scratchlab.core.context import RunContext
from scratchlab.core.training import restore_state, save_state, should
from scratchlab.interp import induction as ind
from scratchlab.interp import viz
from scratchlab.interp.mlx.hooks import run_with_cache
from scratchlab.interp.report import write_json


def loss_fn(model: Any, tokens: mx.array) -> mx.array:
    logits = model(tokens[:, :-1])
    return nn.losses.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                   tokens[:, 1:].reshape(-1), reduction="mean")


def patterns_and_losses(model: Any, tokens: np.ndarray) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Every layer's attention pattern (batch, heads, T, T) and the per-token loss (batch, T-1)."""
    x = mx.array(tokens)
    logits, cache = run_with_cache(model, x, names_filter=lambda n: n.endswith("hook_pattern"))
    token_losses = nn.losses.cross_entropy(logits[:, :-1], x[:, 1:], reduction="none")
    stacked = backend.to_numpy(cache.stack("pattern"))
    return dict(enumerate(stacked)), backend.to_numpy(token_losses)


def run(ctx: RunContext) -> dict[str, Any]:
    cfg: ind.InductionConfig = ctx.config
    model = cfg.model.build("mlx", cfg.vocab_size, cfg.seq_len)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=cfg.lr, weight_decay=cfg.weight_decay, bias_correction=True)
    opt.init(model.trainable_parameters())
    step_fn = backend.TrainStep(model, loss_fn, opt, clip_norm=1.0)
    rng = np.random.default_rng(ctx.seed)
    eval_tokens = ind.repeated_tokens(cfg.eval_batch, cfg.half_len, cfg.vocab_size,
                                      np.random.default_rng(10_000 + ctx.seed))
    backend.set_lr(opt, 1.0)  # pins the base rate before a resume loads the optimizer
    start, _ = restore_state(ctx, backend, model, opt, rng)
    metrics: dict[str, float] = {}
    for step in range(start + 1, cfg.steps + 1):
        backend.set_lr(opt, cfg.lr_scale(step))
        tokens = ind.repeated_tokens(cfg.batch_size, cfg.half_len, cfg.vocab_size, rng,
                                     cfg.min_half_len)
        loss, _ = step_fn(mx.array(tokens))
        if should(cfg.eval_every, step, cfg.steps) or step == 1:
            model.eval()
            metrics = ind.evaluate(*patterns_and_losses(model, eval_tokens), cfg.half_len)
            model.train()
            ctx.log_metrics(step, train_loss=loss.item(), **metrics)
        if should(cfg.checkpoint_every, step, cfg.steps):
            save_state(ctx, backend, model, opt, step, rng)
        ctx.progress(step, cfg.steps, loss=loss.item())
    model.eval()
    patterns, token_losses = patterns_and_losses(model, eval_tokens)
    labels = [str(t) for t in eval_tokens[0]]
    one = {layer: p[0] for layer, p in patterns.items()}
    viz.attention_png(one, labels, ctx.path("attention.png"), "attention on a repeated sequence")
    viz.attention_html(one, labels, ctx.path("attention.html"), "attention on a repeated sequence")
    write_json(ctx.path("induction_scores.json"), ind.head_scores(patterns, cfg.half_len))
    return ind.evaluate(patterns, token_losses, cfg.half_len)
