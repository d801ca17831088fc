"""What the ``lm`` task does before and around training, shared by both backends: text to token
ids, bits per byte, the starting weights (``init_from`` and the cached ``pretrain`` stage), and
the report of auxiliary values. Framework-free: NumPy and files only."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core import checkpoint
from scratchlab.core.config import Choice, build_config, to_dict
from scratchlab.core.context import CHECKPOINT, RunContext
from scratchlab.core.data import Corpus, encode_array
from scratchlab.core.errors import CheckpointError, ScratchlabError
from scratchlab.core.registry import get_registry
from scratchlab.transformer.lm.config import LMConfig, TrainConfig

TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_FILE = "model.safetensors"  # weights only (the pretrain cache); runs keep CHECKPOINT


@dataclass
class LMData:
    """One dataset as token ids, with what bits per byte needs: tokens per byte of val text."""

    train_ids: np.ndarray
    val_ids: np.ndarray
    val_text: str
    tokens_per_byte: float

    @classmethod
    def encode(cls, corpus: Corpus, tokenizer: Any) -> LMData:
        val_ids = encode_array(tokenizer, corpus.val)
        n_bytes = max(1, len(corpus.val.encode("utf-8")))
        return cls(encode_array(tokenizer, corpus.train), val_ids, corpus.val,
                   len(val_ids) / n_bytes)

    def bpb(self, loss_nats: float) -> float:
        """Bits per byte: the loss per token, times tokens per byte, in bits (/ ln 2). Unlike
        the loss it compares models with different tokenizers."""
        return loss_nats * self.tokens_per_byte / math.log(2)


@dataclass
class Stage:
    """One training stage: the run's own, or the pretraining that precedes it."""

    ctx: RunContext
    data: LMData
    steps: int
    batch_size: int
    block_size: int
    optimizer: Choice
    schedule: Choice
    train: TrainConfig


@dataclass
class Prepared:
    """Everything the task needs before it builds the model."""

    tokenizer: Any
    data: LMData
    pretrain: Stage | None = None  # the first stage (its folder is the cache)
    init_weights: dict[str, np.ndarray] | None = None  # from init_from


def main_stage(ctx: RunContext, data: LMData) -> Stage:
    cfg: LMConfig = ctx.config
    return Stage(ctx, data, cfg.train.steps, cfg.train.batch_size, cfg.data.block_size,
                 cfg.optimizer, cfg.schedule, cfg.train)


def prepare(ctx: RunContext) -> Prepared:
    """Load the dataset(s), build or reload the tokenizer, and find the starting weights."""
    cfg: LMConfig = ctx.config
    corpus = cfg.data.dataset.build(None)
    if cfg.init_from is not None:
        weights_path, source_dir = resolve_weights(cfg.init_from)
        tokenizer = load_tokenizer(source_dir) if source_dir is not None else None
        if tokenizer is None:
            tokenizer = cfg.data.tokenizer.build(None, corpus)
        else:
            ctx.log(f"init_from: tokenizer reloaded from {source_dir}")
        ctx.log(f"init_from: weights from {weights_path}")
        return Prepared(tokenizer, LMData.encode(corpus, tokenizer),
                        init_weights=model_tensors(weights_path))
    if cfg.pretrain is not None:
        p = cfg.pretrain
        pre_corpus = p.dataset.build(None)
        tokenizer = cfg.data.tokenizer.build(None, pre_corpus)  # the base model's vocabulary
        pre_ctx = RunContext(f"pretrain-{pretrain_hash(ctx)}", "pretrain", ctx.seed, ctx.backend,
                             cfg, pretrain_dir(ctx), ctx.device, ctx.on_progress)
        train = dataclasses.replace(cfg.train, clip_norm=p.clip_norm)
        stage = Stage(pre_ctx, LMData.encode(pre_corpus, tokenizer), p.steps, p.batch_size,
                      cfg.data.block_size, p.optimizer, p.schedule, train)
        return Prepared(tokenizer, LMData.encode(corpus, tokenizer), pretrain=stage)
    tokenizer = cfg.data.tokenizer.build(None, corpus)
    return Prepared(tokenizer, LMData.encode(corpus, tokenizer))


# --- init_from -------------------------------------------------------------------------------

def resolve_weights(init_from: str) -> tuple[Path, Path | None]:
    """(weights file, folder holding its tokenizer and config, if any) for a run folder, a
    pretrain cache folder or a checkpoint file."""
    path = Path(init_from).expanduser()
    if path.is_dir():
        for name in (CHECKPOINT, WEIGHTS_FILE):
            if (path / name).exists():
                return path / name, path
        raise ScratchlabError(f"init_from: the folder {path} holds no {CHECKPOINT} or "
                              f"{WEIGHTS_FILE}; give a finished run's folder or a checkpoint file")
    if not path.exists():
        raise ScratchlabError(f"init_from: {path} does not exist; give a run folder or a "
                              "checkpoint file")
    folder = path.parent if (path.parent / TOKENIZER_FILE).exists() else None
    return path, folder


def model_tensors(path: Path) -> dict[str, np.ndarray]:
    """The model's weights from a run checkpoint (``model.*`` names) or a weights-only file."""
    tensors, _ = checkpoint.load(path)
    inner = checkpoint.split(tensors, "model")
    return inner or tensors


def load_tokenizer(run_dir: Path) -> Any | None:
    """The tokenizer a run saved (its config.json names the component), or None."""
    config_file, tok_file = run_dir / "config.json", run_dir / TOKENIZER_FILE
    if not (config_file.exists() and tok_file.exists()):
        return None
    try:
        spec = json.loads(config_file.read_text())["config"]["data"]["tokenizer"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ScratchlabError(f"{config_file} is not a scratchlab lm run config ({exc!r})") from None
    name = spec["name"] if isinstance(spec, dict) else spec
    settings = {k: v for k, v in spec.items() if k != "name"} if isinstance(spec, dict) else {}
    component = get_registry().get("tokenizer", name)
    config = build_config(component.config, settings) if component.config else None
    return component.factory(config, None, path=tok_file)


def load_run_config(run_dir: Path) -> tuple[LMConfig, str]:
    """An lm run's config (as validated LMConfig) and backend, from its config.json."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ScratchlabError(f"{run_dir} is not a run folder: it has no config.json")
    try:
        blob = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ScratchlabError(f"{path} is not valid JSON ({exc})") from None
    if blob.get("task") != "lm":
        raise ScratchlabError(f"{run_dir} is a '{blob.get('task')}' run, not an lm run")
    return build_config(LMConfig, blob["config"]), str(blob.get("backend", "torch"))


def check_loaded(what: str, load: Any) -> None:
    """Run ``load()`` and say which starting point did not fit the model."""
    try:
        load()
    except CheckpointError as exc:
        raise ScratchlabError(f"{what}: {exc}. The model config must match the one that "
                              "produced the weights.") from None


# --- the pretrain cache ----------------------------------------------------------------------

def pretrain_hash(ctx: RunContext) -> str:
    """Everything that determines the pretrained weights, hashed."""
    cfg: LMConfig = ctx.config
    blob = {"model": to_dict(cfg.model), "pretrain": to_dict(cfg.pretrain),
            "tokenizer": to_dict(cfg.data.tokenizer), "block_size": cfg.data.block_size,
            "max_seq_len": cfg.max_seq_len, "dtype": cfg.train.dtype, "seed": ctx.seed,
            "backend": ctx.backend}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:12]


def pretrain_dir(ctx: RunContext) -> Path:
    """<results>/<spec>/pretrain/<hash>/ (a run folder is <results>/<spec>/runs/<id>/)."""
    return ctx.dir.parent.parent / "pretrain" / pretrain_hash(ctx)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (parallel runs sharing a pretrain wait their turn)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock; runs of one sweep then may train it twice
        yield
        return
    with open(folder / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def save_pretrained(stage: Stage, tensors: dict[str, np.ndarray], tokenizer: Any) -> None:
    """Write the pretrain cache: weights, tokenizer, and a config.json like a run's (so the
    folder also works as an ``init_from`` or with ``scratchlab generate``)."""
    folder = stage.ctx.dir
    tokenizer.save(folder / TOKENIZER_FILE)
    cfg: LMConfig = stage.ctx.config
    checkpoint.atomic_write_text(folder / "config.json", json.dumps(
        {"task": "lm", "stage": "pretrain", "backend": stage.ctx.backend, "seed": stage.ctx.seed,
         "config": to_dict(cfg)}, indent=2))
    checkpoint.save(folder / WEIGHTS_FILE, tensors, {"stage": "pretrain"})


# --- reporting -------------------------------------------------------------------------------

def flatten_aux(aux: dict[str, np.ndarray]) -> dict[str, float]:
    """Scalars as they are, 1-D arrays (per-expert load, ...) as ``key.0``, ``key.1``, ..."""
    out: dict[str, float] = {}
    for key, value in aux.items():
        a = np.asarray(value, dtype=np.float64)
        if a.ndim == 0:
            out[key] = float(a)
        else:
            out.update({f"{key}.{j}": float(v) for j, v in enumerate(a.reshape(-1))})
    return out


def sample_prompt(cfg: LMConfig, data: LMData) -> str:
    return cfg.eval.sample_prompt if cfg.eval.sample_prompt is not None else data.val_text[:32]


def active_params(total: int, ffn_params: list[tuple[int, int]]) -> int:
    """Parameters used per token: all, less the part of each ffn module a token skips
    (``(its parameters, its active_params())`` pairs, e.g. the unrouted experts of a MoE)."""
    return total - sum(n - active for n, active in ffn_params)
