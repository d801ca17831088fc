"""``train_bpe`` (texts) and ``train_bpe_files`` (streamed files) in, a :class:`BPETokenizer` out
(pre-tokenise, count, merge)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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
    regex_ = _check(vocab_size, pattern, special_tokens, min_frequency)
    if isinstance(texts, str):
        texts = [texts]
    texts = [t for t in texts if t]
    if not texts:
        raise ScratchlabError("the training corpus is empty: BPE needs some text to learn from")
    t0 = time.perf_counter()
    counts = patterns.count_chunks(texts, regex_, processes)
    return _train_counts(counts, t0, vocab_size, regex_, special_tokens, min_frequency,
                         algorithm, progress, {"train_chars": sum(map(len, texts))})


def train_bpe_files(paths: Sequence[str | Path], vocab_size: int, *, pattern: str = "gpt2",
                    special_tokens: Sequence[str] = (), min_frequency: int = 0,
                    algorithm: Algorithm = "fast", processes: int | None = None,
                    errors: str = "strict", progress: bool | None = None) -> BPETokenizer:
    """:func:`train_bpe` on UTF-8 text files (each split on its own), streamed: worker
    processes read and count ~1 MB byte ranges, so no process holds a whole file and peak
    memory stays a fraction of the corpus (docs/bpe.md). ``errors``: 'strict' (refuse a file
    that is not UTF-8) or 'replace' (read it with U+FFFD)."""
    regex_ = _check(vocab_size, pattern, special_tokens, min_frequency)
    if not paths:
        raise ScratchlabError("no input files given")
    t0 = time.perf_counter()
    counts = patterns.count_chunks_files(paths, regex_, processes, errors=errors)
    if not counts:
        raise ScratchlabError("the training corpus is empty: BPE needs some text to learn from")
    return _train_counts(counts, t0, vocab_size, regex_, special_tokens, min_frequency,
                         algorithm, progress,
                         {"train_bytes": sum(os.path.getsize(p) for p in paths)})


def _check(vocab_size: int, pattern: str, special_tokens: Sequence[str],
           min_frequency: int) -> str:
    """The arguments both entry points share, checked; returns the split regex."""
    check_vocab_size(vocab_size, special_tokens)
    if min_frequency < 0:
        raise ScratchlabError(f"min_frequency must be at least 0, got {min_frequency}")
    return patterns.resolve_pattern(pattern)


def _train_counts(counts: dict[str, int], t0: float, vocab_size: int, regex_: str,
                  special_tokens: Sequence[str], min_frequency: int, algorithm: Algorithm,
                  progress: bool | None, size: dict[str, int]) -> BPETokenizer:
    t1 = time.perf_counter()
    n_tokens = vocab_size - len(special_tokens)
    distinct = len(counts)
    if algorithm == "reference":
        vocab, merges = train_reference(counts, n_tokens, min_frequency)
    elif algorithm == "fast":
        with progress_bar(n_tokens, 256, progress) as update:
            vocab, merges = train_fast(counts, n_tokens, min_frequency, update, consume=True)
    else:
        raise ScratchlabError(f"unknown algorithm {algorithm!r}; choose fast or reference")
    t2 = time.perf_counter()
    specials = {t: len(vocab) + k for k, t in enumerate(special_tokens)}
    meta = {"vocab_size_requested": vocab_size, "min_frequency": min_frequency,
            "algorithm": algorithm, **size,
            "distinct_chunks": distinct, "pretokenize_s": round(t1 - t0, 3),
            "merge_s": round(t2 - t1, 3)}
    # every token our trainer makes is what merging its own bytes gives (docs/bpe.md), so a
    # chunk that is a token can skip the merge loop: the same ids, faster
    return BPETokenizer(vocab, merges, regex_, specials, meta=meta, ignore_merges=True)
