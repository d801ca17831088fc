"""Helpers for benchmarks/tokenizer_*.py: a ~100 MB corpus from text on this machine, and
timing one training or encoding run in a fresh process (so its peak memory is its own).

    python -m scratchlab.tokenizer.bench corpus --mb 100 --out /tmp/corpus.txt
    python -m scratchlab.tokenizer.bench train --impl ours|ours-text|hf --corpus FILE --vocab 32000
    python -m scratchlab.tokenizer.bench encode-files --tokenizer tok.json --input FILE
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any


def build_corpus(mb: float, out: Path) -> Path:
    """Python's docs, then the .py files of the standard library and site-packages, in sorted
    order, until ``mb`` megabytes: real, mostly distinct text (code and prose)."""
    from scratchlab.core.data import stdlib_docs

    limit = int(mb * 1e6)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(out, "w", encoding="utf-8") as f:
        for doc in stdlib_docs():
            f.write(doc)
            size += len(doc.encode())
        roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
        seen: set[Path] = set()
        for root in roots:
            for path in sorted(root.rglob("*.py")):
                if size >= limit:
                    return out
                real = path.resolve()
                if real in seen or "site-packages" in str(path.relative_to(root).parts[:1]):
                    continue
                seen.add(real)
                try:
                    text = path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                text = text[: limit - size]
                f.write(text)
                size += len(text.encode())
    return out


def own_peak_mb() -> float:
    """This process's peak resident memory in MB: VmHWM, which starts afresh at exec (Linux's
    ``ru_maxrss`` keeps the high-water mark of the process that forked us)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def peak_mb() -> float:
    """Peak resident memory of this process plus its largest (finished) child, in MB: Linux's
    ``ru_maxrss`` of the children is the maximum over them. Pages shared after ``fork`` count
    twice, so this is an upper bound."""
    return own_peak_mb() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and its finished children: a measure that
    other jobs on a shared machine disturb less than wall time."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def train_once(impl: str, corpus: Path, vocab: int, pattern: str, processes: int) -> dict[str, Any]:
    """Both read the corpus file in their own streaming way: ours ``train_bpe_files`` (workers
    read byte ranges), tokenizers ``Tokenizer.train([file])`` (its rust reader). ``ours-text``
    and ``hf-text`` read the whole text first (``train_bpe(text)``,
    ``train_from_iterator([text])``: one sequence, as the merge-equality tests feed it)."""
    corpus_mb = corpus.stat().st_size / 1e6
    if impl in ("ours", "ours-text"):
        from scratchlab.tokenizer import train_bpe, train_bpe_files

        start, cpu_start = time.perf_counter(), cpu_seconds()
        if impl == "ours":
            tok = train_bpe_files([corpus], vocab, pattern=pattern, processes=processes,
                                  progress=False)
        else:  # the whole text in memory first (what streaming avoids)
            tok = train_bpe(corpus.read_text(encoding="utf-8"), vocab, pattern=pattern,
                            processes=processes, progress=False)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        extra = {"pretokenize_s": tok.meta["pretokenize_s"], "merge_s": tok.meta["merge_s"],
                 "merges": len(tok.merges), "chunks": tok.meta["distinct_chunks"]}
    else:
        import os

        os.environ["RAYON_NUM_THREADS"] = str(processes)
        text = corpus.read_text(encoding="utf-8") if impl == "hf-text" else None
        from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

        from scratchlab.tokenizer.patterns import resolve_pattern

        hf = Tokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(resolve_pattern(pattern)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        trainer = trainers.BpeTrainer(vocab_size=vocab, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        start, cpu_start = time.perf_counter(), cpu_seconds()
        if text is None:
            hf.train([str(corpus)], trainer)
        else:
            hf.train_from_iterator([text], trainer)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        extra = {"merges": len(json.loads(hf.to_str())["model"]["merges"])}
    return {"impl": impl, "vocab": vocab, "seconds": seconds, "cpu_s": cpu, "peak_mb": peak_mb(),
            "peak_own_mb": own_peak_mb(), "corpus_mb": corpus_mb, **extra}


def encode_files_once(tokenizer: Path, path: Path) -> dict[str, Any]:
    """Stream one file into ids in this (fresh) process: time and peak memory."""
    from scratchlab.tokenizer import BPETokenizer

    tok = BPETokenizer.load(tokenizer)
    start = time.perf_counter()
    ids = tok.encode_files([path])
    return {"seconds": time.perf_counter() - start, "tokens": len(ids),
            "peak_mb": peak_mb(), "file_mb": path.stat().st_size / 1e6}


def run_isolated(*args: str, timeout: float = 3600) -> dict[str, Any]:
    """``python -m scratchlab.tokenizer.bench ARGS`` in a fresh process; its JSON line."""
    out = subprocess.run([sys.executable, "-m", "scratchlab.tokenizer.bench", *args],
                         capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def replace_section(doc: Path, name: str, body: str) -> None:
    """Write ``body`` between <!-- bench:name --> markers in ``doc`` (other sections kept)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("--mb", type=float, default=100)
    c.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("--impl", choices=["ours", "ours-text", "hf", "hf-text"], required=True)
    t.add_argument("--corpus", type=Path, required=True)
    t.add_argument("--vocab", type=int, required=True)
    t.add_argument("--pattern", default="gpt2")
    t.add_argument("--processes", type=int, default=2)
    e = sub.add_parser("encode-files")
    e.add_argument("--tokenizer", type=Path, required=True)
    e.add_argument("--input", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "encode-files":
        print(json.dumps(encode_files_once(args.tokenizer, args.input)))
    elif args.cmd == "corpus":
        print(json.dumps({"path": str(build_corpus(args.mb, args.out))}))
    else:
        print(json.dumps(train_once(args.impl, args.corpus, args.vocab, args.pattern,
                                    args.processes)))


if __name__ == "__main__":
    main()
