"""The ``lm`` task in PyTorch. Mirrors lm/mlx.py name for name.

Read top to bottom: the loss, the evaluation, one training stage (the loop that both the run and
its optional pretraining use), then ``run``, which prepares the data, builds the model, loads the
starting weights, wraps it in an adapter, trains, evaluates and writes a sample.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scratchlab.core.backends import torch as backend
from scratchlab.core.context import RunContext
from scratchlab.core.data import eval_batches, random_batch
from scratchlab.core.training import restore_state, save_state, should
from scratchlab.transformer.lm import data as lmdata
from scratchlab.transformer.lm.config import LMConfig
from scratchlab.transformer.lm.data import Stage


def autocast(device: str, dtype: str) -> Any:
    """bf16 autocast where asked (matmuls in bf16, reductions and weights in fp32)."""
    if dtype == "bfloat16":
        return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_loss_fn(forward: Callable[..., Any], device: str, dtype: str) -> Callable[..., Any]:
    """Next-token cross-entropy, plus the ffn modules' ``aux_loss`` (e.g. MoE balancing)."""

    def loss_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
        with autocast(device, dtype):
            logits, aux = forward(x)
        ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss = ce + aux["aux_loss"] if "aux_loss" in aux else ce
        report = {k: v.detach() if torch.is_tensor(v) else v for k, v in aux.items()}
        return loss, {**report, "train_loss": ce.detach()}

    return loss_fn


@torch.no_grad()
def evaluate(model: torch.nn.Module, ids: np.ndarray, block_size: int, batch_size: int,
             n_batches: int, device: str, dtype: str = "float32") -> float:
    """Mean next-token loss over deterministic validation windows (the same for every run)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in eval_batches(ids, block_size, batch_size, n_batches):
        with autocast(device, dtype):
            logits = model(backend.from_numpy(x, device))
        loss = F.cross_entropy(logits.float().flatten(0, 1), backend.from_numpy(y, device).flatten())
        total, count = total + loss.item() * len(x), count + len(x)
    model.train(was_training)
    return total / count


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def train(stage: Stage, model: torch.nn.Module, device: str) -> dict[str, float]:
    """Train ``model`` for one stage, resuming from the stage folder's checkpoint if there is
    one. Returns training tokens per second (of this process's steps after its first, which
    pays for compilation and lazy initialisation), the val loss before the first step and the
    last val loss."""
    ctx, t, data = stage.ctx, stage.train, stage.data
    optimizer = stage.optimizer.build(backend.name, model)
    schedule = stage.schedule.build(None, stage.steps)
    backend.set_lr(optimizer, schedule(0))  # records each group's base rate before a resume
    forward: Any = model.forward_aux
    if t.compile:
        forward = torch.compile(forward)
    step_fn = backend.TrainStep(model, make_loss_fn(forward, device, t.dtype), optimizer,
                                t.clip_norm)
    rng = np.random.default_rng(ctx.seed)
    start, state = restore_state(ctx, backend, model, optimizer, rng)
    out: dict[str, float] = {}
    if start == 0:  # the curve's starting point, and the baseline for "how much did training help"
        out["val_loss_init"] = evaluate(model, data.val_ids, stage.block_size, stage.batch_size,
                                        t.eval_batches, device, t.dtype)
        ctx.log_metrics(0, val_loss=out["val_loss_init"], val_bpb=data.bpb(out["val_loss_init"]))
    elif state.get("val_loss_init") is not None:  # resumed: saved with the checkpoints
        out["val_loss_init"] = state["val_loss_init"]
    model.train()
    tokens, seconds = 0, 0.0
    for step in range(start + 1, stage.steps + 1):
        backend.set_lr(optimizer, schedule(step - 1))
        x, y = random_batch(data.train_ids, stage.block_size, stage.batch_size, rng)
        tic = time.perf_counter()
        _, aux = step_fn(backend.from_numpy(x, device), backend.from_numpy(y, device))
        train_loss = aux.pop("train_loss").item()  # .item() waits for the step to finish
        if step > start + 1 or stage.steps == start + 1:  # the first step warms up (compiles)
            seconds, tokens = seconds + time.perf_counter() - tic, tokens + x.size
        if should(t.eval_every, step, stage.steps):
            val_loss = evaluate(model, data.val_ids, stage.block_size, stage.batch_size,
                                t.eval_batches, device, t.dtype)
            ctx.log_metrics(step, train_loss=train_loss, val_loss=val_loss,
                            val_bpb=data.bpb(val_loss), lr=current_lr(optimizer),
                            **lmdata.flatten_aux({k: backend.to_numpy(v) if torch.is_tensor(v)
                                                  else v for k, v in aux.items()}))
            out["val_loss"] = val_loss
        if should(t.checkpoint_every, step, stage.steps):
            save_state(ctx, backend, model, optimizer, step, rng,
                       extra={"val_loss_init": out.get("val_loss_init")})
        ctx.progress(step, stage.steps, loss=train_loss)
    out["tokens_per_s"] = tokens / seconds if seconds else 0.0
    return out


def active_params(model: torch.nn.Module) -> int:
    """Total parameters less what each token skips in modules that say (``active_params()``)."""
    counted: list[tuple[int, int]] = []
    seen: list[str] = []
    for name, module in model.named_modules():
        if hasattr(module, "active_params") and not any(name.startswith(s + ".") for s in seen):
            seen.append(name)
            counted.append((sum(p.numel() for p in module.parameters()), module.active_params()))
    return lmdata.active_params(backend.count_params(model), counted)


def sample(model: torch.nn.Module, tokenizer: Any, prompt: str, max_new_tokens: int,
           max_seq_len: int, temperature: float, top_k: int | None, seed: int) -> str:
    """The prompt and a continuation, generated with the KV cache (the context is cropped to
    the last ``max_seq_len`` tokens, as in nanoGPT)."""
    from scratchlab.transformer.torch.generate import generate

    ids = tokenizer.encode(prompt)[-max_seq_len:] or [0]
    model.eval()
    new = list(generate(model, ids, max_new_tokens,  # type: ignore[arg-type]
                        temperature=temperature, top_k=top_k, seed=seed))
    return tokenizer.decode(ids + new)


def load_model(cfg: LMConfig, vocab_size: int, tensors: dict[str, np.ndarray],
               device: str = "cpu") -> torch.nn.Module:
    """A trained model (with its adapter, if the run had one) from its config and weights."""
    model = cfg.model.build(backend.name, vocab_size, cfg.max_seq_len)
    if cfg.adapter is not None:
        model = cfg.adapter.build(backend.name, model)
    lmdata.check_loaded("the run's checkpoint", lambda: backend.load_state_dict(model, tensors))
    return model.to(device).eval()


def pretrain(stage: Stage, model: torch.nn.Module, tokenizer: Any, device: str) -> None:
    """Train the first stage once per hash; later runs (and parallel ones, after waiting for
    the lock) load the cached weights."""
    folder = stage.ctx.dir
    with lmdata.locked(folder):
        if not (folder / lmdata.WEIGHTS_FILE).exists():
            stage.ctx.log("pretraining")
            train(stage, model, device)
            lmdata.save_pretrained(stage, backend.state_dict(model), tokenizer)
    lmdata.check_loaded(f"pretrain cache {folder}", lambda: backend.load_state_dict(
        model, lmdata.model_tensors(folder / lmdata.WEIGHTS_FILE)))


def run(ctx: RunContext) -> dict[str, Any]:
    wall = time.perf_counter()
    cfg: LMConfig = ctx.config
    device = backend.device(ctx.device)
    prep = lmdata.prepare(ctx)
    model = cfg.model.build(backend.name, prep.tokenizer.vocab_size, cfg.max_seq_len).to(device)
    if prep.pretrain is not None:
        pretrain(prep.pretrain, model, prep.tokenizer, device)
    elif prep.init_weights is not None:
        weights = prep.init_weights
        lmdata.check_loaded(f"init_from {cfg.init_from}",
                            lambda: backend.load_state_dict(model, weights))
    backend.seed(ctx.seed)  # the same randomness after, whether the pretrain was cached or not
    if cfg.adapter is not None:
        model = cfg.adapter.build(backend.name, model).to(device)
    metrics: dict[str, float] = {
        "params_total": backend.count_params(model),
        "params_trainable": backend.count_params(model, trainable_only=True),
        "params_active": active_params(model)}
    prep.tokenizer.save(ctx.path(lmdata.TOKENIZER_FILE))
    stage = lmdata.main_stage(ctx, prep.data)
    out = train(stage, model, device)
    t, data = cfg.train, prep.data
    val_loss = out.get("val_loss")
    if val_loss is None:  # resumed after the last step: nothing was evaluated in this process
        val_loss = evaluate(model, data.val_ids, cfg.data.block_size, t.batch_size,
                            t.eval_batches, device, t.dtype)
    metrics.update(val_loss=val_loss, val_bpb=data.bpb(val_loss),
                   tokens_per_s=out["tokens_per_s"])
    if "val_loss_init" in out:
        metrics["val_loss_init"] = out["val_loss_init"]
    for length in cfg.eval.lengths:
        metrics[f"val_loss_at_{length}"] = evaluate(model, data.val_ids, length, t.batch_size,
                                                    t.eval_batches, device, t.dtype)
    if prep.pretrain is not None:  # forgetting: the loss on the pretraining text, after
        pre = prep.pretrain
        metrics["val_loss_pretrain"] = evaluate(model, pre.data.val_ids, pre.block_size,
                                                pre.batch_size, t.eval_batches, device, t.dtype)
    if cfg.eval.sample_tokens:
        text = sample(model, prep.tokenizer, lmdata.sample_prompt(cfg, data),
                      cfg.eval.sample_tokens, cfg.max_seq_len, cfg.eval.temperature,
                      cfg.eval.top_k, ctx.seed)
        ctx.path("sample.txt").write_text(text)
    metrics["wall_s"] = time.perf_counter() - wall
    return metrics
