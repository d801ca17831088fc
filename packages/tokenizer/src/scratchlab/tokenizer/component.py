"""The ``bpe`` tokenizer component: trained on a run's training split (cached by content
hash) or loaded from a file. The ``lm`` task calls it as ``cfg.data.tokenizer.build(None,
corpus)``; ``path=`` reloads the copy a run saved."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from scratchlab.core.data import Corpus
from scratchlab.core.errors import ScratchlabError
from scratchlab.tokenizer import formats, patterns
from scratchlab.tokenizer.tokenizer import BPETokenizer, SpecialPolicy
from scratchlab.tokenizer.train import check_vocab_size, train_bpe

CACHE_ENV = "SCRATCHLAB_BPE_CACHE"


@dataclass
class BPEConfig:
    vocab_size: int = 1024  # specials + 256 bytes + merged tokens
    pattern: str = "gpt2"  # gpt2, gpt4 or a regular expression
    special_tokens: list[str] = field(default_factory=list)
    min_frequency: int = 0
    special_policy: Literal["raise", "allowed", "disallowed"] = "raise"
    file: str | None = None  # load this tokenizer (ours or a HF tokenizer.json) instead
    max_train_chars: int | None = None  # train on the first this many characters only
    algorithm: Literal["fast", "reference"] = "fast"
    cache: bool = True  # reuse a tokenizer trained on the same text with the same settings

    def __post_init__(self) -> None:
        if self.file is None:
            try:
                check_vocab_size(self.vocab_size, self.special_tokens)
                patterns.resolve_pattern(self.pattern)
            except ScratchlabError as exc:
                raise ValueError(str(exc)) from None
        if self.min_frequency < 0:
            raise ValueError(f"min_frequency must be at least 0, got {self.min_frequency}")
        if self.max_train_chars is not None and self.max_train_chars <= 0:
            raise ValueError(f"max_train_chars must be positive, got {self.max_train_chars}")


def cache_dir() -> Path:
    """~/.cache/scratchlab/bpe, or $SCRATCHLAB_BPE_CACHE."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "scratchlab" / "bpe")


def cache_key(config: BPEConfig, text: str) -> str:
    settings = {k: v for k, v in asdict(config).items()
                if k in ("vocab_size", "pattern", "special_tokens", "min_frequency")}
    h = hashlib.sha256(json.dumps([formats.VERSION, settings], sort_keys=True).encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:24]


def bpe_tokenizer(config: BPEConfig | None = None, corpus: Corpus | None = None, *,
                  path: str | Path | None = None, **_: Any) -> BPETokenizer:
    """Load ``path`` or ``config.file``, else train on ``corpus.train`` (cached)."""
    config = config or BPEConfig()
    policy: SpecialPolicy = config.special_policy
    source = path if path is not None else config.file
    if source is not None:
        tok = formats.load(Path(source).expanduser())
        tok.special_policy = policy
        return tok
    if corpus is None:
        raise ScratchlabError("the bpe tokenizer needs a corpus to train on, or a file to load "
                              "(tokenizer: {name: bpe, file: tok.json})")
    text = corpus.train[: config.max_train_chars] if config.max_train_chars else corpus.train
    key = cache_key(config, text)
    cached = cache_dir() / f"{key}.json"
    if config.cache and cached.exists():
        try:
            tok = formats.load(cached)
            tok.special_policy = policy
            return tok
        except ScratchlabError:
            pass  # a damaged cache entry is retrained and replaced
    tok = train_bpe(text, config.vocab_size, pattern=config.pattern,
                    special_tokens=config.special_tokens, min_frequency=config.min_frequency,
                    algorithm=config.algorithm, progress=False)
    tok.special_policy = policy
    tok.meta["corpus"] = corpus.name
    if config.cache:
        with contextlib.suppress(OSError):  # a read-only home still trains, without a cache
            tok.save(cached)
    return tok
