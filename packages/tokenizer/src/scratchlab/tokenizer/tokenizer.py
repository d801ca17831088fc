"""The trained tokenizer: encoding, decoding, special tokens, batches and files.

Encoding a text: cut it into chunks with the split pattern, then turn each chunk into ids by
applying merges by rank: start from its bytes and repeatedly merge the adjacent pair whose
merge was learned earliest, until no learned pair is left (this reproduces, for every chunk,
exactly what training did to it). Real text repeats its chunks, so each distinct chunk is
encoded once and cached, as packed int32 bytes: encoding a text is then one regex pass, one
dictionary lookup per chunk and one ``bytes.join``.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import sys
from array import array
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import regex

from scratchlab.core.errors import ScratchlabError
from scratchlab.tokenizer import patterns
from scratchlab.tokenizer.reference import Merge

SpecialSet = Literal["all"] | Collection[str]
SpecialPolicy = Literal["raise", "allowed", "disallowed"]
POLICIES = {"raise": ((), "all"), "allowed": ("all", ()), "disallowed": ((), ())}
BLOCK_CHARS = 1_000_000  # how much of a file encode_files reads and encodes at a time
ID_BITS, ID_MASK = 32, (1 << 32) - 1
NEVER = 1 << 62  # the "rank" of a pair that was never merged


class BPETokenizer:
    """A byte-level BPE vocabulary: ``vocab[id]`` is a token's bytes, ``merges`` in the order
    they were learned, the split ``pattern`` and ``special_tokens`` (text -> id)."""

    def __init__(self, vocab: dict[int, bytes] | Sequence[bytes], merges: Sequence[Merge],
                 pattern: str = patterns.GPT2_PATTERN,
                 special_tokens: dict[str, int] | None = None,
                 meta: dict[str, Any] | None = None, max_cache: int = 1_000_000,
                 special_policy: SpecialPolicy = "raise", ignore_merges: bool = False) -> None:
        self.vocab: dict[int, bytes] = (dict(vocab) if isinstance(vocab, dict)
                                        else dict(enumerate(vocab)))
        self.merges = [tuple(m) for m in merges]
        self.pattern = pattern
        self.special_tokens = dict(special_tokens or {})
        self.meta = dict(meta or {})
        self.max_cache = max_cache
        if special_policy not in POLICIES:
            raise ScratchlabError(f"special_policy must be one of {', '.join(POLICIES)}, got "
                                  f"{special_policy!r}")
        self.special_policy = special_policy
        self.ignore_merges = bool(ignore_merges)
        self._check()
        self.vocab_size = 1 + max([*self.vocab, *self.special_tokens.values()])
        self.byte_ids = [self._ids_by_bytes[bytes([b])] for b in range(256)]
        # (left, right) -> (rank, merged id); a pair learned twice keeps its first rank
        self.ranks: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (a, b, new) in enumerate(self.merges):
            self.ranks.setdefault((a, b), (rank, new))
        # the same as one int per pair, rank << 32 | id, for encode_chunk's C-level min()
        self._rank_new = {p: (r << ID_BITS) | new for p, (r, new) in self.ranks.items()}
        self._never = itertools.repeat(NEVER)
        self._identity_bytes = self.byte_ids == list(range(256))
        self._decoder: dict[int, bytes] = {**self.vocab, **{
            i: s.encode("utf-8") for s, i in self.special_tokens.items()}}
        self._cache = _ChunkCache(self, "strict")
        self._raw_cache = _ChunkCache(self, "surrogateescape")  # encode_bytes (surrogates)
        self._special_rx: Any = None

    def _check(self) -> None:
        """A vocabulary that cannot encode or decode consistently is a corrupt file."""
        self._ids_by_bytes = {t: i for i, t in self.vocab.items()}
        if len(self._ids_by_bytes) != len(self.vocab):
            raise ScratchlabError("the vocabulary has two ids for the same bytes")
        missing = [b for b in range(256) if bytes([b]) not in self._ids_by_bytes]
        if missing:
            raise ScratchlabError(f"the vocabulary lacks the single byte {missing[0]}: every "
                                  "byte must be a token for byte-level BPE")
        for k, (a, b, new) in enumerate(self.merges):
            if a not in self.vocab or b not in self.vocab or new not in self.vocab:
                raise ScratchlabError(f"merge {k} ({a}, {b}) -> {new} names an id that is not "
                                      "in the vocabulary")
            if self.vocab[a] + self.vocab[b] != self.vocab[new]:
                raise ScratchlabError(f"merge {k}: tokens {a} + {b} do not make token {new}")
        clash = set(self.special_tokens.values()) & set(self.vocab)
        if clash:
            raise ScratchlabError(f"special token id {min(clash)} is also an ordinary token")
        patterns.resolve_pattern(self.pattern)

    def __repr__(self) -> str:
        name = patterns.pattern_name(self.pattern) or "custom"
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"pattern={name}, special_tokens={len(self.special_tokens)})")

    # --- encoding ----------------------------------------------------------------------------
    def encode_chunk(self, chunk: bytes) -> list[int]:
        """With ``ignore_merges``, a chunk that is itself a token is that token. Otherwise
        merges by rank on one chunk: merge the adjacent pair learnt earliest, leftmost
        first, until no learnt pair is left. ``ranks[k]`` holds pair k's rank << 32 | merged
        id, so ``min`` and ``list.index`` (both in C) find the next merge, and a merge only
        re-looks-up its two neighbours. (Pairs made by a merge were learnt after it, so all
        occurrences of one pair are merged before any other: the same as merging them all
        left to right, which is what training did.)"""
        if self.ignore_merges:
            whole = self._ids_by_bytes.get(chunk)
            if whole is not None:
                return [whole]
        ids = list(chunk) if self._identity_bytes else [self.byte_ids[b] for b in chunk]
        if len(ids) < 2:
            return ids
        get = self._rank_new.get
        ranks = list(map(get, itertools.pairwise(ids), self._never))
        while ranks:
            best = min(ranks)
            if best == NEVER:
                break
            i = ranks.index(best)
            new = best & ID_MASK
            ids[i] = new
            del ids[i + 1]
            if i < len(ranks) - 1:  # a token after the pair: (new, next)
                del ranks[i + 1]
                ranks[i] = get((new, ids[i + 1]), NEVER)
            else:
                del ranks[i]
            if i > 0:
                ranks[i - 1] = get((ids[i - 1], new), NEVER)
        return ids

    def _packed(self, chunks: list[str], errors: str = "strict") -> bytes:
        """The ids of ``chunks`` as packed int32, through the per-chunk cache: one C-level
        pass of dict lookups; a miss calls :class:`_ChunkCache.__missing__`."""
        cache = self._cache if errors == "strict" else self._raw_cache
        return b"".join(map(cache.__getitem__, chunks))

    def encode_ordinary(self, text: str) -> np.ndarray:
        """Ids of ``text`` with special-token strings treated as plain text."""
        try:
            packed = self._packed(patterns.split(text, self.pattern))
        except UnicodeEncodeError as exc:
            raise ScratchlabError(f"the text contains {text[exc.start]!r} at {exc.start}, "
                                  "which is not valid Unicode text (a lone surrogate); "
                                  "use encode_bytes for raw bytes") from None
        return np.frombuffer(packed, dtype=np.int32)

    def encode_array(self, text: str, *, allowed_special: SpecialSet | None = None,
                     disallowed_special: SpecialSet | None = None) -> np.ndarray:
        """Token ids as an int32 array. Special tokens follow tiktoken's rule: a special
        token in ``allowed_special`` becomes its id; one in ``disallowed_special`` (default: all
        not allowed) raises; any other is encoded as ordinary text. Left out, both come from
        ``special_policy``: "raise" (the default), "allowed" (all specials are tokens) or
        "disallowed" (special strings are plain text)."""
        default_allowed, default_disallowed = POLICIES[self.special_policy]
        if allowed_special is None:
            allowed_special = default_allowed
        if disallowed_special is None:
            disallowed_special = default_disallowed
        allowed = (set(self.special_tokens) if allowed_special == "all"
                   else set(allowed_special))
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise ScratchlabError(f"{sorted(unknown)[0]!r} is not a special token of this "
                                  f"tokenizer (it has: {sorted(self.special_tokens) or 'none'})")
        disallowed = (set(self.special_tokens) - allowed if disallowed_special == "all"
                      else set(disallowed_special) - allowed)
        for token in disallowed:
            if token in text:
                raise ScratchlabError(
                    f"the text contains the special token {token!r}; pass "
                    f"allowed_special={{{token!r}}} to encode it as a special token, or "
                    "disallowed_special=() to encode it as plain text")
        if not allowed or not any(t in text for t in allowed):
            return self.encode_ordinary(text)
        rx = regex.compile("|".join(regex.escape(t) for t in sorted(allowed, key=len,
                                                                     reverse=True)))
        parts, pos = [], 0
        for m in rx.finditer(text):
            parts.append(self.encode_ordinary(text[pos:m.start()]))
            parts.append(np.array([self.special_tokens[m.group()]], dtype=np.int32))
            pos = m.end()
        parts.append(self.encode_ordinary(text[pos:]))
        return np.concatenate(parts)

    def encode(self, text: str, *, allowed_special: SpecialSet | None = None,
               disallowed_special: SpecialSet | None = None) -> list[int]:
        """Token ids of ``text`` (see :meth:`encode_array` for the special-token policy)."""
        return self.encode_array(text, allowed_special=allowed_special,  # type: ignore[no-any-return]
                                 disallowed_special=disallowed_special).tolist()

    def encode_bytes(self, data: bytes) -> list[int]:
        """Ids of arbitrary bytes: invalid UTF-8 is split as lone surrogates and kept exact."""
        text = data.decode("utf-8", errors="surrogateescape")
        packed = self._packed(patterns.split(text, self.pattern), errors="surrogateescape")
        return np.frombuffer(packed, dtype=np.int32).tolist()  # type: ignore[no-any-return]

    def encode_batch(self, texts: Sequence[str], *, processes: int | None = None,
                     **special: Any) -> list[list[int]]:
        """Encode many texts, spread over ``processes`` worker processes (None: all CPUs)."""
        nproc = min(len(texts), processes or os.cpu_count() or 1)
        if nproc <= 1 or "fork" not in mp.get_all_start_methods():
            return [self.encode(t, **special) for t in texts]
        global _WORKER
        _WORKER = (self, special)  # inherited by the forked workers, not pickled per text
        try:
            with mp.get_context("fork").Pool(nproc) as pool:
                return pool.map(_encode_in_worker, texts, chunksize=max(1, len(texts) // (4 * nproc)))
        finally:
            _WORKER = None

    def encode_files(self, paths: Iterable[str | Path], *, errors: str = "strict",
                     dtype: Any = np.int32) -> np.ndarray:
        """Stream text files into one array of ids, a block at a time (blocks are cut where
        the split pattern is known to cut, so the ids equal encoding the whole file)."""
        parts = []
        for path in paths:
            for block in read_blocks(path, errors=errors,
                                     cut=patterns.covers_everything(self.pattern)):
                parts.append(self.encode_array(block, disallowed_special=()).astype(dtype))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    # --- decoding ----------------------------------------------------------------------------
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        try:
            return b"".join(map(self._decoder.__getitem__, map(int, ids)))
        except KeyError as exc:
            raise ScratchlabError(f"token id {exc.args[0]} is not in this tokenizer's "
                                  f"vocabulary (ids 0..{self.vocab_size - 1})") from None

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Text of ``ids``; bytes that are not valid UTF-8 become U+FFFD (``errors``)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token_bytes(self, token_id: int) -> bytes:
        return self.decode_bytes([token_id])

    # --- files -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        from scratchlab.tokenizer import formats

        formats.save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        from scratchlab.tokenizer import formats

        return formats.load(path)


class _ChunkCache(dict):  # type: ignore[type-arg]
    """chunk -> its ids as packed int32; a missing chunk is encoded on first use. Cleared when
    it holds ``max_cache`` chunks besides the seeds, which bounds memory on endless streams. With
    ``ignore_merges`` it starts out holding every token that is text (a chunk that is a token
    is that token), so a cold cache only runs the merge loop on chunks of two or more tokens:
    about half the distinct chunks of held-out text at vocabulary 32k (docs/bpe.md)."""

    def __init__(self, tokenizer: BPETokenizer, errors: str) -> None:
        super().__init__()
        self.tokenizer, self.errors = tokenizer, errors
        self.seeded = 0  # how many tokens the cache was seeded with (0: not yet)

    def _seed(self) -> None:
        """Every token that is a whole string, on the first miss (not at construction)."""
        tok = self.tokenizer
        for i, token in tok.vocab.items():
            with contextlib.suppress(UnicodeDecodeError):  # part of a character: never a chunk
                self[token.decode("utf-8", self.errors)] = i.to_bytes(4, sys.byteorder)
        self.seeded = len(self)

    def __missing__(self, chunk: str) -> bytes:
        tok = self.tokenizer
        if tok.ignore_merges and not self.seeded:
            self._seed()
            if chunk in self:
                return self[chunk]  # type: ignore[no-any-return]
        ids = array("i", tok.encode_chunk(chunk.encode("utf-8", self.errors))).tobytes()
        if len(self) >= tok.max_cache + self.seeded:
            self.clear()
            self.seeded = 0
        self[chunk] = ids
        return ids


_WORKER: tuple[BPETokenizer, dict[str, Any]] | None = None


def _encode_in_worker(text: str) -> list[int]:
    assert _WORKER is not None
    tokenizer, special = _WORKER
    return tokenizer.encode(text, **special)


def read_text(path: str | Path, errors: str = "strict") -> str:
    """A whole UTF-8 file, with a ScratchlabError naming the file for every failure."""
    return "".join(read_blocks(path, errors=errors, cut=False))


def read_blocks(path: str | Path, errors: str = "strict", cut: bool = True,
                block: int | None = None) -> Iterable[str]:
    """A UTF-8 file in pieces of about ``block`` characters, cut only at safe points
    (``cut=False``: one piece). ``errors='strict'`` (the policy by default) refuses a file
    that is not UTF-8 and names the byte; ``'replace'`` reads it with U+FFFD instead."""
    path = Path(path)
    block = block or BLOCK_CHARS
    if errors not in ("strict", "replace"):
        raise ScratchlabError(f"errors must be 'strict' or 'replace', got {errors!r}")
    try:
        f = open(path, encoding="utf-8", errors=errors, newline="")  # noqa: SIM115
    except FileNotFoundError:
        raise ScratchlabError(f"the input file {path} does not exist") from None
    except IsADirectoryError:
        raise ScratchlabError(f"the input {path} is a directory, not a text file") from None
    except OSError as exc:
        raise ScratchlabError(f"cannot read {path}: {exc.strerror or exc}") from None
    done = 0
    with f:
        rest = ""
        while True:
            try:
                piece = f.read(block if cut else -1)
            except UnicodeDecodeError as exc:
                raise ScratchlabError(
                    f"{path} is not valid UTF-8 ({exc.reason} near character {done}); "
                    "convert it, or read it with errors='replace' (CLI: --errors replace)"
                ) from None
            except OSError as exc:
                raise ScratchlabError(f"cannot read {path}: {exc.strerror or exc}") from None
            if not piece:
                if rest:
                    yield rest
                return
            text = rest + piece
            done += len(piece)
            if not cut:
                yield text
                continue
            last = None
            for m in patterns.SAFE_CUT.finditer(text, max(0, len(text) - block // 2)):
                last = m
            if last is None:
                rest = text
            else:
                yield text[:last.start()]
                rest = text[last.start():]

