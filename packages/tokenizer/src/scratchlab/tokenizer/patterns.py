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
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
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
SAFE_CUT_BYTES = re.compile(rb"(?<=[!-~]\n)(?=[!-~])")  # the same cut in UTF-8 bytes


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


# ASCII twins of the built-in patterns for Python's own ``re``, which runs them about 2.5x
# faster than the ``regex`` module runs the Unicode originals (\p{L} -> [A-Za-z], \p{N} ->
# [0-9], \s -> the six ASCII spaces, which is what ``regex`` means by \s on ASCII). On pure
# ASCII text each twin gives exactly the original's chunks (tested); a text with other
# characters is cut at safe points and only the pieces holding them go to ``regex``.
_S = r"\t\n\x0b\x0c\r "
ASCII_TWINS = {
    GPT2_PATTERN: (rf"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^{_S}A-Za-z0-9]+|"""
                   rf"""[{_S}]+(?![^{_S}])|[{_S}]+"""),
    GPT4_PATTERN: (rf"""'(?i:[sdmt]|ll|ve|re)|[^\r\nA-Za-z0-9]?+[A-Za-z]+|[0-9]{{1,3}}|"""
                   rf""" ?[^{_S}A-Za-z0-9]++[\r\n]*|[{_S}]*[\r\n]|[{_S}]+(?![^{_S}])|[{_S}]+"""),
}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=16)
def ascii_twin(pattern: str) -> Any:
    """The compiled ``re`` twin of a built-in pattern, or None (custom pattern, or a Python
    whose ``re`` lacks possessive quantifiers)."""
    if pattern not in ASCII_TWINS:
        return None
    try:
        return re.compile(ASCII_TWINS[pattern])
    except re.error:
        return None


# Where the ASCII twins may hand over to ``regex``: just before a newline that follows an
# ASCII character that no chunk of the pattern joins to a newline. GPT-2: any visible character
# (only alternatives that start with whitespace take a newline, and nothing looks behind);
# GPT-4: letters and digits (its punctuation alternative takes the newlines after it). Most
# lines end so, which keeps the pieces sent to the slower ``regex`` to the lines that need it.
_BEFORE_NEWLINE = {GPT2_PATTERN: frozenset(map(chr, range(0x21, 0x7F))),
                   GPT4_PATTERN: frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789")}
_NEWLINE_CUT = {GPT2_PATTERN: re.compile(r"(?<=[!-~])\n"),
                GPT4_PATTERN: re.compile(r"(?<=[A-Za-z0-9])\n")}


def ascii_segments(text: str, pattern: str = GPT2_PATTERN) -> Iterator[tuple[str, bool]]:
    """``text`` (a built-in pattern's) as consecutive pieces cut at safe points, each flagged
    pure-ASCII or not."""
    ok, after_rx = _BEFORE_NEWLINE[pattern], _NEWLINE_CUT[pattern]
    pos, n = 0, len(text)
    while pos < n:
        m = _NON_ASCII.search(text, pos)
        if m is None:
            yield text[pos:], True
            return
        cut, i = pos, text.rfind("\n", pos, m.start())
        while i > pos:  # the last safe cut before the non-ASCII character
            if text[i - 1] in ok:
                cut = i
                break
            i = text.rfind("\n", pos, i)
        after = after_rx.search(text, m.end())
        end = after.start() if after else n
        if cut > pos:
            yield text[pos:cut], True
        yield text[cut:end], False
        pos = end


def split(text: str, pattern: str) -> list[str]:
    """Cut ``text`` into chunks. Text the pattern does not match becomes chunks of its own
    (like Hugging Face's ``Split(behavior="isolated")``), so nothing is ever dropped."""
    rx = compiled(pattern)
    twin = ascii_twin(pattern)
    if twin is not None:
        if text.isascii():
            return twin.findall(text)  # type: ignore[no-any-return]
        out: list[str] = []
        for piece, is_ascii in ascii_segments(text, pattern):
            out += (twin if is_ascii else rx).findall(piece)
        return out
    if covers_everything(pattern):
        return rx.findall(text)  # type: ignore[no-any-return]
    out = []
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


def split_unicode(text: str, pattern: str) -> list[str]:
    """:func:`split` with the ``regex`` module only: the definition the fast path must equal."""
    return compiled(pattern).findall(text)  # type: ignore[no-any-return]


def _count_piece(args: tuple[str, str]) -> Counter[str]:
    """Chunk counts of one piece of text; equal lines are split only once."""
    text, pattern = args
    counts: Counter[str] = Counter()
    if covers_everything(pattern):
        for line, n in Counter(SAFE_CUT.split(text)).items():
            chunks = split(line, pattern)
            if n == 1:
                counts.update(chunks)
            else:
                for chunk, k in Counter(chunks).items():
                    counts[chunk] += k * n
    else:
        counts.update(split(text, pattern))
    return counts


def _ranges(texts: list[str], pattern: str, target: int) -> list[tuple[int, int, int]]:
    """(text index, start, end): each text cut into pieces of about ``target`` characters
    where that is safe (custom patterns: whole texts)."""
    out = []
    for k, text in enumerate(texts):
        start = 0
        while start < len(text):
            end = len(text)
            if covers_everything(pattern) and start + target < len(text):
                m = SAFE_CUT.search(text, start + target)
                end = m.start() if m else len(text)
            out.append((k, start, end))
            start = end
    return out


_TEXTS: list[str] = []  # the texts being counted, inherited by forked workers (not pickled)


def _count_range(args: tuple[int, int, int, str]) -> Counter[str]:
    k, start, end, pattern = args
    return _count_piece((_TEXTS[k][start:end], pattern))


def count_chunks(texts: Iterable[str], pattern: str, processes: int | None = None,
                 piece_chars: int = 4_000_000) -> Counter[str]:
    """How often each chunk occurs in ``texts`` (each text is split on its own).

    ``processes``: worker processes for the regex (None: one per CPU, 1: none). Workers are
    forked and read the texts from memory they share with this process."""
    global _TEXTS
    texts = list(texts)
    ranges = _ranges(texts, pattern, piece_chars)
    nproc = min(processes or os.cpu_count() or 1, len(ranges))
    total: Counter[str] = Counter()
    if nproc <= 1:
        for k, start, end in ranges:
            total.update(_count_piece((texts[k][start:end], pattern)))
        return total
    jobs: list[Any]
    if "fork" in mp.get_all_start_methods():
        _TEXTS, jobs = texts, [(k, a, b, pattern) for k, a, b in ranges]
        fn: Any = _count_range
        ctx: Any = mp.get_context("fork")
    else:  # spawn: the pieces travel to the workers
        jobs = [(texts[k][a:b], pattern) for k, a, b in ranges]
        fn, ctx = _count_piece, mp.get_context("spawn")
    try:
        with ctx.Pool(nproc) as pool:
            for part in pool.imap_unordered(fn, jobs):
                if not total:
                    total = part
                else:
                    total.update(part)
    finally:
        _TEXTS = []
    return total


# --- counting files without reading them whole ------------------------------------------------
# The parent process only finds cut points (a few KB read per block); each worker reads its own
# byte range of the file, decodes it and returns the Counter of its chunks. No process ever
# holds the whole text (4 bytes a character as a Python str once one character is outside
# Latin-1), so peak memory is the chunk counts plus a few blocks, not a multiple of the corpus.

def file_ranges(path: str | Path, pattern: str, block_bytes: int) -> list[tuple[str, int, int]]:
    """(path, start, end) byte ranges of about ``block_bytes``, cut at safe newlines (found in
    the bytes: in UTF-8 a byte below 0x80 is always that ASCII character). Custom patterns:
    the whole file."""
    path = str(path)
    out: list[tuple[str, int, int]] = []
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise _file_error(path, exc) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if not covers_everything(pattern):
            return [(path, 0, size)] if size else []
        start = 0
        while start < size:
            end, pos = size, start + block_bytes
            while pos < size:  # the first safe cut at or after pos
                f.seek(pos - 2)
                window = f.read(1 << 16)
                m = SAFE_CUT_BYTES.search(window, 2)
                if m is not None:
                    end = pos - 2 + m.start()
                    break
                pos += len(window) - 2
            out.append((path, start, end))
            start = end
    return out


def _file_error(path: str, exc: OSError) -> ScratchlabError:
    if isinstance(exc, FileNotFoundError):
        return ScratchlabError(f"the input file {path} does not exist")
    if isinstance(exc, IsADirectoryError):
        return ScratchlabError(f"the input {path} is a directory, not a text file")
    return ScratchlabError(f"cannot read {path}: {exc.strerror or exc}")


def _count_file_range(args: tuple[str, int, int, str, str]) -> Counter[str]:
    path, start, end, pattern, errors = args
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
    except OSError as exc:
        raise _file_error(path, exc) from None
    try:
        text = data.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        raise ScratchlabError(
            f"{path} is not valid UTF-8 ({exc.reason} at byte {start + exc.start}); convert "
            "it, or read it with errors='replace' (CLI: --errors replace)") from None
    del data
    return _count_piece((text, pattern))


def count_chunks_files(paths: Sequence[str | Path], pattern: str, processes: int | None = None,
                       errors: str = "strict", block_bytes: int = 1_000_000) -> Counter[str]:
    """:func:`count_chunks` of text files (each file split on its own), streamed: workers read
    byte ranges of ~``block_bytes`` themselves and send back Counters, at most two per worker
    in flight. ``errors``: 'strict' refuses a file that is not UTF-8 (naming the byte),
    'replace' reads it with U+FFFD."""
    if errors not in ("strict", "replace"):
        raise ScratchlabError(f"errors must be 'strict' or 'replace', got {errors!r}")
    jobs = [(*r, pattern, errors) for p in paths for r in file_ranges(p, pattern, block_bytes)]
    nproc = min(processes or os.cpu_count() or 1, len(jobs))
    total: Counter[str] = Counter()
    if nproc <= 1:
        for job in jobs:
            total.update(_count_file_range(job))
        return total
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(nproc) as pool:
        pending: list[Any] = []
        for job in jobs:  # a bounded window: results never pile up in this process
            pending.append(pool.apply_async(_count_file_range, (job,)))
            if len(pending) >= 2 * nproc:
                total.update(pending.pop(0).get())
        for result in pending:
            total.update(result.get())
    return total

