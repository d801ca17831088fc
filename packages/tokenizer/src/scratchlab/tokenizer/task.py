"""The ``bpe`` task: train a tokenizer on a dataset and measure it.

Reports training time (pre-tokenisation and merges apart), bytes per token on the validation
text (higher is better compression), the share of the vocabulary that the validation text
uses, and encoding speed. Framework-free: registered for both backends, since the runner looks
tasks up per backend, and the two runs give the same numbers (timings aside).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scratchlab.core.config import choice
from scratchlab.core.context import RunContext
from scratchlab.tokenizer.component import BPEConfig
from scratchlab.tokenizer.train import train_bpe


@dataclass
class BPEDataConfig:
    dataset: Any = choice("dataset", "default")


@dataclass
class BPETaskConfig:
    data: BPEDataConfig = field(default_factory=BPEDataConfig)
    tokenizer: BPEConfig = field(default_factory=BPEConfig)
    processes: int | None = None  # pre-tokenisation workers (None: one per CPU)


def run(ctx: RunContext) -> dict[str, float]:
    cfg: BPETaskConfig = ctx.config
    corpus = cfg.data.dataset.build(None)
    t = cfg.tokenizer
    text = corpus.train[: t.max_train_chars] if t.max_train_chars else corpus.train
    start = time.perf_counter()
    tok = train_bpe(text, t.vocab_size, pattern=t.pattern, special_tokens=t.special_tokens,
                    min_frequency=t.min_frequency, algorithm=t.algorithm,
                    processes=cfg.processes, progress=False)
    train_s = time.perf_counter() - start
    tok.save(ctx.path("tokenizer.json"))
    start = time.perf_counter()
    ids = tok.encode_array(corpus.val, disallowed_special=())
    encode_s = time.perf_counter() - start
    val_bytes = len(corpus.val.encode("utf-8"))
    used = np.unique(ids).size if ids.size else 0
    ctx.log(f"{tok}: {len(tok.merges)} merges in {train_s:.2f}s on {len(text):,} characters")
    return {
        "train_s": train_s,
        "pretokenize_s": float(tok.meta["pretokenize_s"]),
        "merge_s": float(tok.meta["merge_s"]),
        "vocab_size": float(tok.vocab_size),
        "merges": float(len(tok.merges)),
        "bytes_per_token": val_bytes / max(1, ids.size),
        "vocab_used": used / tok.vocab_size,
        "encode_mb_s": val_bytes / 1e6 / max(encode_s, 1e-9),
    }
