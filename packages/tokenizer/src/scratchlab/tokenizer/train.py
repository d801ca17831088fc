"""``train_bpe``: texts in, a :class:`BPETokenizer` out (pre-tokenise, count, merge)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from scratchlab.core.errors import ScratchlabError
from scratchlab.tokenizer import patterns
from scratchlab.tokenizer.reference import train_reference
from scratchlab.tokenizer.tokenizer import BPETokenizer
from scratchlab.tokenizer.trainer import train_fast

Algorithm = Literal["fast", "reference"]


@contextmanager
def progress_bar(total: int, start: int, enabled: bool | None) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar over the vocabulary size; off unless stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("merges", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("merges", total=total, completed=start)
        last = [start]

        def update(size: int) -> None:
            if size - last[0] >= 64 or size >= total:
                bar.update(task, completed=size)
                last[0] = size

        yield update


def check_vocab_size(vocab_size: int, special_tokens: Sequence[str]) -> None:
    if vocab_size < 256 + len(special_tokens):
        raise ScratchlabError(
            f"vocab_size {vocab_size} is too small: byte-level BPE needs the 256 bytes"
            + (f" plus {len(special_tokens)} special tokens" if special_tokens else "")
            + f", so at least {256 + len(special_tokens)}")
    if len(set(special_tokens)) != len(special_tokens):
        raise ScratchlabError("special_tokens lists a token twice")
    if any(not t for t in special_tokens):
        raise ScratchlabError("a special token cannot be the empty string")


def train_bpe(texts: str | Iterable[str], vocab_size: int, *, pattern: str = "gpt2",
              special_tokens: Sequence[str] = (), min_frequency: int = 0,
              algorithm: Algorithm = "fast", processes: int | None = None,
              progress: bool | None = None) -> BPETokenizer:
    """Train byte-level BPE on ``texts`` (each split on its own) up to ``vocab_size`` tokens,
    special tokens included (like Hugging Face's ``BpeTrainer``: specials + 256 bytes +
    merged tokens). Stops early when no pair occurs ``min_frequency`` times (at least once).
    Special tokens get the ids after the merged tokens."""
    check_vocab_size(vocab_size, special_tokens)
    if min_frequency < 0:
        raise ScratchlabError(f"min_frequency must be at least 0, got {min_frequency}")
    regex_ = patterns.resolve_pattern(pattern)
    if isinstance(texts, str):
        texts = [texts]
    texts = [t for t in texts if t]
    if not texts:
        raise ScratchlabError("the training corpus is empty: BPE needs some text to learn from")
    t0 = time.perf_counter()
    counts = patterns.count_chunks(texts, regex_, processes)
    t1 = time.perf_counter()
    n_tokens = vocab_size - len(special_tokens)
    if algorithm == "reference":
        vocab, merges = train_reference(counts, n_tokens, min_frequency)
    elif algorithm == "fast":
        with progress_bar(n_tokens, 256, progress) as update:
            vocab, merges = train_fast(counts, n_tokens, min_frequency, update)
    else:
        raise ScratchlabError(f"unknown algorithm {algorithm!r}; choose fast or reference")
    t2 = time.perf_counter()
    specials = {t: len(vocab) + k for k, t in enumerate(special_tokens)}
    meta = {"vocab_size_requested": vocab_size, "min_frequency": min_frequency,
            "algorithm": algorithm, "train_chars": sum(map(len, texts)),
            "distinct_chunks": len(counts), "pretokenize_s": round(t1 - t0, 3),
            "merge_s": round(t2 - t1, 3)}
    return BPETokenizer(vocab, merges, regex_, specials, meta=meta)
