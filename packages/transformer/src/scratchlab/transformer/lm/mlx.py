"""The ``lm`` task in MLX. Mirrors lm/torch.py name for name.

Read top to bottom: the loss, the evaluation, one training stage (the loop that both the run and
its optional pretraining use), then ``run``, which prepares the data, builds the model, loads the
starting weights, wraps it in an adapter, trains, evaluates and writes a sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from scratchlab.core.backends import mlx as backend
from scratchlab.core.context import RunContext
from scratchlab.core.data import eval_batches, random_batch
from scratchlab.core.errors import ScratchlabError
from scratchlab.core.training import restore_state, save_state, should
from scratchlab.transformer.lm import data as lmdata
from scratchlab.transformer.lm.config import LMConfig
from scratchlab.transformer.lm.data import Stage


def check_dtype(dtype: str) -> None:
    """MLX has no autocast; bf16 training there would mean bf16 weights, a different method."""
    if dtype != "float32":
        raise ScratchlabError(f"train.dtype {dtype} is not supported by the mlx backend (MLX has "
                              "no autocast); use float32 there, bfloat16 with torch")


def make_loss_fn(forward: Callable[..., Any]) -> Callable[..., Any]:
    """Next-token cross-entropy, plus the ffn modules' ``aux_loss`` (e.g. MoE balancing)."""

    def loss_fn(model: nn.Module, x: mx.array, y: mx.array) -> Any:
        logits, aux = forward(x)
        ce = nn.losses.cross_entropy(logits.astype(mx.float32), y, reduction="mean")
        loss = ce + aux["aux_loss"] if "aux_loss" in aux else ce
        report = {k: mx.stop_gradient(v) if isinstance(v, mx.array) else v for k, v in aux.items()}
        return loss, {**report, "train_loss": mx.stop_gradient(ce)}

    return loss_fn


def evaluate(model: nn.Module, ids: np.ndarray, block_size: int, batch_size: int,
             n_batches: int) -> float:
    """Mean next-token loss over deterministic validation windows (the same for every run)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in eval_batches(ids, block_size, batch_size, n_batches):
        logits = model(mx.array(x))
        loss = nn.losses.cross_entropy(logits.astype(mx.float32), mx.array(y), reduction="mean")
        total, count = total + loss.item() * len(x), count + len(x)
    model.train(was_training)
    return total / count


def current_lr(optimizer: Any) -> float:
    inner = getattr(optimizer, "optimizers", None)
    return current_lr(inner[0]) if inner else float(optimizer.learning_rate)


def train(stage: Stage, model: nn.Module, device: str) -> dict[str, float]:
    """Train ``model`` for one stage, resuming from the stage folder's checkpoint if there is
    one. Returns training tokens per second (of this process's steps after its first, which
    pays for compilation and lazy initialisation), the val loss before the first step and the
    last val loss."""
    ctx, t, data = stage.ctx, stage.train, stage.data
    optimizer = stage.optimizer.build(backend.name, model)
    schedule = stage.schedule.build(None, stage.steps)
    backend.set_lr(optimizer, schedule(0))  # records each group's base rate before a resume
    rng = np.random.default_rng(ctx.seed)
    start, state = restore_state(ctx, backend, model, optimizer, rng)
    out: dict[str, float] = {}
    if start == 0:  # the curve's starting point, and the baseline for "how much did training help"
        out["val_loss_init"] = evaluate(model, data.val_ids, stage.block_size, stage.batch_size,
                                        t.eval_batches)
        ctx.log_metrics(0, val_loss=out["val_loss_init"], val_bpb=data.bpb(out["val_loss_init"]))
    elif state.get("val_loss_init") is not None:  # resumed: saved with the checkpoints
        out["val_loss_init"] = state["val_loss_init"]
    # built after the restore: mx.compile captures the optimizer's state dict as it is now
    step_fn = backend.TrainStep(model, make_loss_fn(model.forward_aux), optimizer, t.clip_norm,
                                compile=t.compile)
    model.train()
    tokens, seconds = 0, 0.0
    for step in range(start + 1, stage.steps + 1):
        backend.set_lr(optimizer, schedule(step - 1))
        x, y = random_batch(data.train_ids, stage.block_size, stage.batch_size, rng)
        tic = time.perf_counter()
        try:
            _, aux = step_fn(mx.array(x), mx.array(y))  # TrainStep evaluates the step
        except ValueError as exc:  # data-dependent shapes (e.g. MoE dispatch) cannot be traced
            if t.compile and "compile" in str(exc):
                raise ScratchlabError(f"train.compile: mx.compile cannot trace this model "
                                      f"({exc}); set train.compile: false") from None
            raise
        train_loss = aux.pop("train_loss").item()
        if step > start + 1 or stage.steps == start + 1:  # the first step warms up (compiles)
            seconds, tokens = seconds + time.perf_counter() - tic, tokens + x.size
        if should(t.eval_every, step, stage.steps):
            val_loss = evaluate(model, data.val_ids, stage.block_size, stage.batch_size,
                                t.eval_batches)
            ctx.log_metrics(step, train_loss=train_loss, val_loss=val_loss,
                            val_bpb=data.bpb(val_loss), lr=current_lr(optimizer),
                            **lmdata.flatten_aux({k: backend.to_numpy(v) if isinstance(v, mx.array)
                                                  else v for k, v in aux.items()}))
            out["val_loss"] = val_loss
        if should(t.checkpoint_every, step, stage.steps):
            save_state(ctx, backend, model, optimizer, step, rng,
                       extra={"val_loss_init": out.get("val_loss_init")})
        ctx.progress(step, stage.steps, loss=train_loss)
    out["tokens_per_s"] = tokens / seconds if seconds else 0.0
    return out


def active_params(model: nn.Module) -> int:
    """Total parameters less what each token skips in modules that say (``active_params()``)."""
    counted: list[tuple[int, int]] = []
    seen: list[str] = []
    for name, module in sorted(model.named_modules(), key=lambda nm: len(nm[0])):
        if hasattr(module, "active_params") and not any(name.startswith(s + ".") for s in seen):
            seen.append(name)
            counted.append((sum(v.size for _, v in tree_flatten(module.parameters())),
                            module.active_params()))
    return lmdata.active_params(backend.count_params(model), counted)


def sample(model: nn.Module, tokenizer: Any, prompt: str, max_new_tokens: int,
           max_seq_len: int, temperature: float, top_k: int | None, seed: int) -> str:
    """The prompt and a continuation, generated with the KV cache (the context is cropped to
    the last ``max_seq_len`` tokens, as in nanoGPT)."""
    from scratchlab.transformer.mlx.generate import generate

    ids = tokenizer.encode(prompt)[-max_seq_len:] or [0]
    model.eval()
    new = list(generate(model, ids, max_new_tokens,
                        temperature=temperature, top_k=top_k, seed=seed))
    return tokenizer.decode(ids + new)


def load_model(cfg: LMConfig, vocab_size: int, tensors: dict[str, np.ndarray],
               device: str = "cpu") -> nn.Module:
    """A trained model (with its adapter, if the run had one) from its config and weights."""
    model = cfg.model.build(backend.name, vocab_size, cfg.max_seq_len)
    if cfg.adapter is not None:
        model = cfg.adapter.build(backend.name, model)
    lmdata.check_loaded("the run's checkpoint", lambda: backend.load_state_dict(model, tensors))
    model.eval()
    return model


def pretrain(stage: Stage, model: nn.Module, tokenizer: Any, device: str) -> None:
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
    check_dtype(cfg.train.dtype)
    device = backend.device(ctx.device)
    prep = lmdata.prepare(ctx)
    model = cfg.model.build(backend.name, prep.tokenizer.vocab_size, cfg.max_seq_len)
    mx.eval(model.parameters())
    if prep.pretrain is not None:
        pretrain(prep.pretrain, model, prep.tokenizer, device)
    elif prep.init_weights is not None:
        weights = prep.init_weights
        lmdata.check_loaded(f"init_from {cfg.init_from}",
                            lambda: backend.load_state_dict(model, weights))
    backend.seed(ctx.seed)  # the same randomness after, whether the pretrain was cached or not
    if cfg.adapter is not None:
        model = cfg.adapter.build(backend.name, model)
        mx.eval(model.parameters())
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
                            t.eval_batches)
    metrics.update(val_loss=val_loss, val_bpb=data.bpb(val_loss),
                   tokens_per_s=out["tokens_per_s"])
    if "val_loss_init" in out:
        metrics["val_loss_init"] = out["val_loss_init"]
    for length in cfg.eval.lengths:
        metrics[f"val_loss_at_{length}"] = evaluate(model, data.val_ids, length, t.batch_size,
                                                    t.eval_batches)
    if prep.pretrain is not None:  # forgetting: the loss on the pretraining text, after
        pre = prep.pretrain
        metrics["val_loss_pretrain"] = evaluate(model, pre.data.val_ids, pre.block_size,
                                                pre.batch_size, t.eval_batches)
    if cfg.eval.sample_tokens:
        text = sample(model, prep.tokenizer, lmdata.sample_prompt(cfg, data),
                      cfg.eval.sample_tokens, cfg.max_seq_len, cfg.eval.temperature,
                      cfg.eval.top_k, ctx.seed)
        ctx.path("sample.txt").write_text(text)
    metrics["wall_s"] = time.perf_counter() - wall
    return metrics
