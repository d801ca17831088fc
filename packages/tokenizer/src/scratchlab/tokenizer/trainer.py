"""The fast BPE trainer: the same merges as :mod:`~scratchlab.tokenizer.reference`, without
recounting the corpus at every step.

1. Deduplicated chunks: train on the distinct chunks with their counts, not on the text.
2. Initial pair counts in NumPy: one ``bincount`` over every adjacent byte pair.
3. Incremental pair counts: a merge only changes the pairs next to each occurrence; we add
   and subtract those (times the chunk's count) instead of recounting.
4. A pair -> chunks index: a merge visits only the chunks that contain its pair. Byte pairs
   never gain occurrences, so their index is built lazily from one sort of the initial pairs.
5. In-place merges: a chunk is rewritten only where the pair occurs, found with ``list.index``.
6. A lazy max-heap of (count, tie key): counts that fell are fixed when popped.

Symbols are numbered internally in Hugging Face's order (bytes by GPT-2 character, then merged
tokens), so the smallest integer key breaks ties exactly like ``BpeTrainer``; ids are mapped
back to byte values at the end. See docs/bpe.md for the measured effect of each step.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

import numpy as np

from scratchlab.tokenizer.bytelevel import BYTE_RANK, RANK_BYTE
from scratchlab.tokenizer.reference import Merge

SHIFT = 20  # pair key = left << 20 | right (vocabularies up to about a million tokens)
MASK = (1 << SHIFT) - 1
COUNT_SHIFT = 2 * SHIFT  # heap entry = pair key - count << 40: smallest = most frequent
KEY_MASK = (1 << COUNT_SHIFT) - 1

Progress = Callable[[int], None]


class _InitialIndex:
    """Which chunks contain each byte pair: one stable sort of all initial pairs."""

    def __init__(self, keys: np.ndarray, word_of: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys, self.words = keys[order], word_of[order]

    def chunks(self, key: int) -> list[int]:
        lo, hi = np.searchsorted(self.keys, [key, key + 1])
        return np.unique(self.words[lo:hi]).tolist()  # type: ignore[no-any-return]


def _initial(chunk_counts: Mapping[str, int]) -> tuple[list[list[int]], list[int],
                                                       dict[int, int], _InitialIndex]:
    """Chunks as symbol lists (in HF rank numbering), pair counts, and the byte-pair index."""
    encoded = [c.encode("utf-8") for c in chunk_counts]
    keep = [i for i, e in enumerate(encoded) if len(e) >= 2]
    counts_all = list(chunk_counts.values())
    encoded = [encoded[i] for i in keep]
    counts = [counts_all[i] for i in keep]
    if not encoded:
        return [], [], {}, _InitialIndex(np.zeros(0, np.int64), np.zeros(0, np.int64))
    rank = np.array(BYTE_RANK, dtype=np.int64)
    flat = rank[np.frombuffer(b"".join(encoded), dtype=np.uint8)]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    word_of = np.repeat(np.arange(len(encoded), dtype=np.int64), lengths)
    last = np.cumsum(lengths) - 1  # positions that end a chunk start no pair
    valid = np.ones(len(flat) - 1, dtype=bool)
    valid[last[:-1]] = False
    keys = ((flat[:-1] << SHIFT) | flat[1:])[valid]
    word_of = word_of[:-1][valid]
    weights = np.asarray(counts, dtype=np.int64)[word_of]
    uniq, inverse = np.unique(keys, return_inverse=True)
    totals = np.bincount(inverse, weights=weights).astype(np.int64)
    pair_counts = dict(zip(uniq.tolist(), totals.tolist()))
    words = [rank[np.frombuffer(e, dtype=np.uint8)].tolist() for e in encoded]
    return words, counts, pair_counts, _InitialIndex(keys, word_of)


def train_fast(chunk_counts: Mapping[str, int], n_tokens: int, min_frequency: int = 0,
               progress: Progress | None = None) -> tuple[list[bytes], list[Merge]]:
    """Same contract as :func:`scratchlab.tokenizer.reference.train_reference`."""
    words, counts, pc, initial = _initial(chunk_counts)
    vocab = [bytes([RANK_BYTE[r]]) for r in range(256)]  # internal: HF rank numbering
    index = {t: i for i, t in enumerate(vocab)}
    where: dict[int, set[int]] = {}  # pairs made by merges -> chunks that may contain them
    heap = [key - (c << COUNT_SHIFT) for key, c in pc.items()]
    heapq.heapify(heap)
    merges: list[Merge] = []
    threshold = max(1, min_frequency)
    pc_get = pc.get
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
        chunks = where.pop(key) if (a >= 256 or b >= 256) else initial.chunks(key)
        touched: set[int] = set()
        a_shift, new_shift = a << SHIFT, new << SHIFT
        for w in chunks:
            word = words[w]
            try:
                i = word.index(a)
            except ValueError:
                continue
            n = counts[w]
            size = len(word)
            out = word[:i]
            changed = False
            while True:
                if i + 1 < size and word[i + 1] == b:
                    changed = True
                    if out:  # (left, a) -> (left, new)
                        left = out[-1] << SHIFT
                        pc[left | a] -= n
                        p = left | new
                        pc[p] = pc_get(p, 0) + n
                        touched.add(p)
                        s = where.get(p)
                        if s is None:
                            where[p] = {w}
                        else:
                            s.add(w)
                    if i + 2 < size:  # (b, right) -> (new, right)
                        right = word[i + 2]
                        p = (b << SHIFT) | right
                        pc[p] = pc_get(p, 0) - n
                        p = new_shift | right
                        pc[p] = pc_get(p, 0) + n
                        touched.add(p)
                        s = where.get(p)
                        if s is None:
                            where[p] = {w}
                        else:
                            s.add(w)
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
                try:
                    j = word.index(a, i)
                except ValueError:
                    out.extend(word[i:])
                    break
                out.extend(word[i:j])
                i = j
            if changed:
                words[w] = out
        del a_shift
        pc.pop(key, None)  # every occurrence is gone (a == b leaves no aa either)
        for p in touched:
            c = pc[p]
            if c > 0:
                heapq.heappush(heap, p - (c << COUNT_SHIFT))
        if progress is not None:
            progress(len(vocab))
    return _to_byte_ids(vocab, merges)


def _to_byte_ids(vocab: list[bytes], merges: list[Merge]) -> tuple[list[bytes], list[Merge]]:
    """Internal HF-rank numbering -> byte b is id b, merged tokens keep their ids."""
    def out(i: int) -> int:
        return RANK_BYTE[i] if i < 256 else i

    return ([bytes([b]) for b in range(256)] + vocab[256:],
            [(out(a), out(b), out(c)) for a, b, c in merges])
