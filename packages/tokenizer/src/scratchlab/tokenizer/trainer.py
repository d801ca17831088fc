"""The fast BPE trainer: the same merges as :mod:`~scratchlab.tokenizer.reference`, without
recounting the corpus at every step.

1. Deduplicated chunks: train on the distinct chunks with their counts, not on the text.
2. Initial pair counts in NumPy: one ``bincount`` over every adjacent byte pair.
3. Incremental pair counts: a merge only changes the pairs next to each occurrence; we add
   and subtract those (times the chunk's count) instead of recounting.
4. A pair -> chunks index: a merge visits only the chunks that contain its pair. Byte pairs
   never gain occurrences, so their index is built lazily from one sort of the initial pairs.
5. In-place merges: ``list.count`` skips a chunk without the left symbol (no exception), the
   occurrences are found with ``list.index`` and replaced by a slice assignment (C speed).
6. A lazy max-heap of (count, tie key): counts that fell are fixed when popped.
7. The garbage collector paused: training makes no cycles, so its full passes over the
   hundreds of thousands of chunk lists were pure cost.

Symbols are numbered internally in Hugging Face's order (bytes by GPT-2 character, then merged
tokens), so the smallest integer key breaks ties exactly like ``BpeTrainer``; ids are mapped
back to byte values at the end. See docs/bpe.md for the measured effect of each step.
"""

from __future__ import annotations

import gc
import heapq
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from scratchlab.tokenizer.bytelevel import BYTE_RANK, RANK_BYTE
from scratchlab.tokenizer.reference import Merge

SHIFT = 20  # pair key = left << 20 | right (vocabularies up to about a million tokens)
MASK = (1 << SHIFT) - 1
COUNT_SHIFT = 2 * SHIFT  # heap entry = pair key - count << 40: smallest = most frequent
KEY_MASK = (1 << COUNT_SHIFT) - 1
PURGE_EVERY = 4096  # merges between sweeps of pairs whose count fell to zero

Progress = Callable[[int], None]


class _InitialIndex:
    """Which chunks contain each byte pair: the initial pairs sorted once (int32 arrays)."""

    def __init__(self, keys: np.ndarray, words: np.ndarray) -> None:
        self.keys, self.words = keys, words  # sorted by key; words ascending within a key
        # one int object per chunk, shared by every index entry (not one per lookup)
        self.ids = list(range(int(words.max()) + 1 if len(words) else 0))

    def chunks(self, key: int) -> list[int]:
        # search with int32 values: Python ints would make NumPy cast the whole array first
        lo, hi = self.keys.searchsorted(np.array([key, key + 1], dtype=self.keys.dtype))
        return list(map(self.ids.__getitem__, np.unique(self.words[lo:hi]).tolist()))


_RANK_TABLE = bytes(BYTE_RANK)  # byte -> its HF rank, for bytes.translate


def _initial(chunk_counts: Mapping[str, int]) -> tuple[list[list[int]], list[int],
                                                       defaultdict[int, int], _InitialIndex]:
    """Chunks as symbol lists (in HF rank numbering), pair counts, and the byte-pair index.
    One stable sort of all initial pairs gives both the counts and the index; int32 keeps
    the arrays small (a pair of byte ranks fits in 28 bits)."""
    words, counts = [], []
    for chunk, n in chunk_counts.items():
        e = chunk.encode("utf-8")
        if len(e) >= 2:
            words.append(e.translate(_RANK_TABLE))
            counts.append(n)
    if not words:
        empty = np.zeros(0, np.int32)
        return [], [], defaultdict(int), _InitialIndex(empty, empty)
    flat = np.frombuffer(b"".join(words), dtype=np.uint8).astype(np.int32)
    lengths = np.fromiter(map(len, words), dtype=np.int32, count=len(words))
    valid = np.ones(len(flat) - 1, dtype=bool)
    valid[np.cumsum(lengths)[:-1] - 1] = False  # positions that end a chunk start no pair
    keys = ((flat[:-1] << SHIFT) | flat[1:])[valid]
    del flat
    word_of = np.repeat(np.arange(len(words), dtype=np.int32), lengths - 1)
    del valid, lengths
    order = np.argsort(keys, kind="stable")
    keys, word_of = keys[order], word_of[order]
    del order
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    weights = np.asarray(counts, dtype=np.int64)[word_of]
    totals = np.add.reduceat(weights, starts)
    del weights
    pair_counts = defaultdict(int, zip(keys[starts].tolist(), totals.tolist()))
    return [list(w) for w in words], counts, pair_counts, _InitialIndex(keys, word_of)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while. Training makes no reference cycles, but
    it allocates hundreds of thousands of lists (chunks, index entries), and each full
    collection walks all of them: 11-24% of the merge phase at 100 MB (docs/bpe.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def train_fast(chunk_counts: Mapping[str, int], n_tokens: int, min_frequency: int = 0,
               progress: Progress | None = None, consume: bool = False,
               ) -> tuple[list[bytes], list[Merge]]:
    """Same contract as :func:`scratchlab.tokenizer.reference.train_reference`.
    ``consume``: empty ``chunk_counts`` (a dict) once converted, freeing its strings for the
    merge phase (``train_bpe`` does this with its own counts)."""
    with _gc_paused():
        return _merge(chunk_counts, n_tokens, min_frequency, progress, consume)


def _merge(chunk_counts: Mapping[str, int], n_tokens: int, min_frequency: int,
           progress: Progress | None, consume: bool) -> tuple[list[bytes], list[Merge]]:
    words, counts, pc, initial = _initial(chunk_counts)
    if consume:
        chunk_counts.clear()  # type: ignore[attr-defined]
    vocab = [bytes([RANK_BYTE[r]]) for r in range(256)]  # internal: HF rank numbering
    index = {t: i for i, t in enumerate(vocab)}
    # pairs made by merges -> chunks that may contain them: one chunk as a bare int, more as a
    # list (a set costs 216 bytes even for one chunk); duplicates dropped when it is merged
    where: dict[int, int | list[int]] = {}
    heap = [key - (c << COUNT_SHIFT) for key, c in pc.items()]
    heapq.heapify(heap)
    merges: list[Merge] = []
    threshold = max(1, min_frequency)
    pc_get = pc.get
    # Any: one chunk id (int) or a list of them; the hot loop tells them apart by __class__,
    # which is faster than isinstance but does not narrow the type for mypy
    where_get: Callable[[int], Any] = where.get
    next_purge = PURGE_EVERY
    while len(vocab) < n_tokens and heap:
        entry = heapq.heappop(heap)
        key = entry & KEY_MASK
        count = (key - entry) >> COUNT_SHIFT
        current = pc_get(key, 0)
        if current != count:  # stale: the pair lost occurrences since it was pushed
            if current > 0:
                heapq.heappush(heap, key - (current << COUNT_SHIFT))
            continue
        if count < threshold:
            break
        a, b = key >> SHIFT, key & MASK
        token = vocab[a] + vocab[b]
        new = index.get(token)
        if new is None:
            new = index[token] = len(vocab)
            vocab.append(token)
        merges.append((a, b, new))
        chunks: Collection[int]
        if a >= 256 or b >= 256:
            found = where.pop(key)
            chunks = (found,) if isinstance(found, int) else set(found)
        else:
            chunks = initial.chunks(key)
        touched: set[int] = set()
        new_shift = new << SHIFT
        b_shift = b << SHIFT
        used = 2 if a == b else 1  # occurrences of a one merge consumes
        for w in chunks:
            word = words[w]
            left_a = word.count(a)  # one C scan; 0 for a stale index entry (no exception)
            if not left_a:
                continue
            n = counts[w]
            size = len(word)
            i = -1
            # Rewrite the chunk in place, one occurrence at a time. The two neighbour updates
            # repeat the "add w to where[p]" steps inline on purpose: this loop runs once per
            # occurrence of every merged pair, where a function call per update is a cost.
            # reference.train_reference states the rule plainly.
            while left_a > 0:
                i = word.index(a, i + 1)
                if i + 1 < size and word[i + 1] == b:
                    left_a -= used
                    if i:  # (left, a) -> (left, new); left is new after a previous merge
                        left = word[i - 1] << SHIFT
                        pc[left | a] -= n
                        p = left | new
                        pc[p] += n
                        touched.add(p)
                        s = where_get(p)
                        if s is None:
                            where[p] = w
                        elif s.__class__ is int:
                            if s != w:
                                where[p] = [s, w]
                        elif s[-1] != w:
                            s.append(w)
                    if i + 2 < size:  # (b, right) -> (new, right)
                        right = word[i + 2]
                        pc[b_shift | right] -= n
                        p = new_shift | right
                        pc[p] += n
                        touched.add(p)
                        s = where_get(p)
                        if s is None:
                            where[p] = w
                        elif s.__class__ is int:
                            if s != w:
                                where[p] = [s, w]
                        elif s[-1] != w:
                            s.append(w)
                    word[i:i + 2] = (new,)
                    size -= 1
                else:
                    left_a -= 1
        pc.pop(key, None)  # every occurrence is gone (a == b leaves no aa either)
        for p in touched:
            c = pc[p]
            if c > 0:
                heapq.heappush(heap, p - (c << COUNT_SHIFT))
        if len(merges) >= next_purge:  # forget pairs that no longer occur anywhere
            next_purge += PURGE_EVERY
            dead = [p for p, c in pc.items() if c <= 0]
            for p in dead:
                del pc[p]
                where.pop(p, None)
            heap = [p - (c << COUNT_SHIFT) for p, c in pc.items()]  # drops stale entries
            heapq.heapify(heap)
        if progress is not None:
            progress(len(vocab))
    return _to_byte_ids(vocab, merges)


def _to_byte_ids(vocab: list[bytes], merges: list[Merge]) -> tuple[list[bytes], list[Merge]]:
    """Internal HF-rank numbering -> byte b is id b, merged tokens keep their ids."""
    def out(i: int) -> int:
        return RANK_BYTE[i] if i < 256 else i

    return ([bytes([b]) for b in range(256)] + vocab[256:],
            [(out(a), out(b), out(c)) for a, b, c in merges])
