"""Pre-tokenisation: the split patterns, splitting text into chunks, and counting chunks.

BPE never merges across chunk boundaries: the text is first cut by a regular expression (GPT-2
splits letters from digits from punctuation, and keeps a leading space with the word after it).
Training only needs how often each distinct chunk occurs, so :func:`count_chunks` returns a
``Counter`` of chunks, computed in parallel processes over pieces of the text.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import regex

from scratchlab.core.errors import ScratchlabError

GPT2_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
GPT4_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}|"""
                r""" ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""")
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}

# For the built-in patterns, a lone newline between two visible ASCII characters ("a\nb") is
# always a chunk boundary, and the chunks on either side do not depend on the other side (no
# alternative crosses it, the lookahead in \s+(?!\S) sees only that one newline, nothing looks
# behind). So the text can be cut there into lines and equal lines split once (docs/bpe.md).
SAFE_CUT = re.compile(r"(?<=[!-~]\n)(?=[!-~])")


def resolve_pattern(pattern: str) -> str:
    """'gpt2', 'gpt4' or a regular expression (checked) -> the regular expression."""
    if pattern in PATTERNS:
        return PATTERNS[pattern]
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ScratchlabError(f"the split pattern {pattern!r} is not a valid regular expression "
                              f"({exc}); use gpt2, gpt4 or a regex") from None
    if compiled.search("") is not None and compiled.fullmatch("") is not None:
        raise ScratchlabError(f"the split pattern {pattern!r} matches the empty string, so it "
                              "would split text into nothing; make every alternative consume "
                              "at least one character")
    return pattern


def pattern_name(pattern: str) -> str | None:
    return next((name for name, p in PATTERNS.items() if p == pattern), None)


@lru_cache(maxsize=16)
def compiled(pattern: str) -> Any:
    return regex.compile(pattern)


def covers_everything(pattern: str) -> bool:
    """The built-in patterns match every character; a custom one may leave gaps."""
    return pattern in PATTERNS.values()


def split(text: str, pattern: str) -> list[str]:
    """Cut ``text`` into chunks. Text the pattern does not match becomes chunks of its own
    (like Hugging Face's ``Split(behavior="isolated")``), so nothing is ever dropped."""
    rx = compiled(pattern)
    if covers_everything(pattern):
        return rx.findall(text)  # type: ignore[no-any-return]
    out: list[str] = []
    pos = 0
    for m in rx.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        if m.end() > m.start():
            out.append(m.group())
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _count_piece(args: tuple[str, str]) -> Counter[str]:
    """Chunk counts of one piece of text; equal lines are split only once."""
    text, pattern = args
    counts: Counter[str] = Counter()
    if covers_everything(pattern):
        rx = compiled(pattern)
        for line, n in Counter(SAFE_CUT.split(text)).items():
            chunks = rx.findall(line)
            if n == 1:
                counts.update(chunks)
            else:
                for chunk, k in Counter(chunks).items():
                    counts[chunk] += k * n
    else:
        counts.update(split(text, pattern))
    return counts


def _pieces(texts: Iterable[str], pattern: str, target: int) -> Iterator[str]:
    """Each text, cut into pieces of about ``target`` characters where that is safe."""
    for text in texts:
        if not covers_everything(pattern) or len(text) <= target:
            yield text
            continue
        start = 0
        while start < len(text):
            end = min(len(text), start + target)
            if end < len(text):
                m = SAFE_CUT.search(text, end)
                end = m.start() if m else len(text)
            yield text[start:end]
            start = end


def count_chunks(texts: Iterable[str], pattern: str, processes: int | None = None,
                 piece_chars: int = 4_000_000) -> Counter[str]:
    """How often each chunk occurs in ``texts`` (each text is split on its own).

    ``processes``: worker processes for the regex (None: one per CPU, 1: none)."""
    pieces = list(_pieces(texts, pattern, piece_chars))
    nproc = processes or os.cpu_count() or 1
    total: Counter[str] = Counter()
    if nproc <= 1 or len(pieces) <= 1:
        for piece in pieces:
            total.update(_count_piece((piece, pattern)))
        return total
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(min(nproc, len(pieces))) as pool:
        for part in pool.imap_unordered(_count_piece, ((p, pattern) for p in pieces)):
            if not total:
                total = part
            else:
                total.update(part)
    return total
