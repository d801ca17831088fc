"""BPE training time and peak memory, ours against Hugging Face tokenizers, in the same run.

    python benchmarks/tokenizer_train.py                 # ~100 MB corpus, vocab 1k, 10k, 32k
    python benchmarks/tokenizer_train.py --mb 20 --vocab 1000 32000 --input my.txt
    python benchmarks/tokenizer_train.py --skip-training --skip-memory --skip-ablation \
        --compare-trainer /tmp/old_trainer.py --no-write   # merge phase: ours vs another trainer.py

Each training runs in a fresh process (its peak memory is its own, reported in MB and as a
multiple of the corpus size); both read the corpus file themselves and use --processes workers
(tokenizers: RAYON_NUM_THREADS). A memory table compares training from the text in memory
with streaming the file. A second table measures each optimisation of our
trainer on a small slice (the reference trainer recounts everything at every merge). Writes
its section of docs/benchmarks.md and docs/bpe.md unless --no-write.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from scratchlab.tokenizer import bench
from scratchlab.tokenizer.patterns import (
    count_chunks,
    count_chunks_files,
    resolve_pattern,
    split,
    split_unicode,
)
from scratchlab.tokenizer.reference import train_reference
from scratchlab.tokenizer.trainer import train_fast

ROOT = Path(__file__).resolve().parents[1]


def training_table(corpus: Path, vocabs: list[int], pattern: str, processes: int,
                   hf_input: str) -> str:
    rows = []
    for vocab in vocabs:
        for impl in ("hf" if hf_input == "file" else "hf-text", "ours"):
            r = bench.run_isolated("train", "--impl", impl, "--corpus", str(corpus), "--vocab",
                                   str(vocab), "--pattern", pattern, "--processes",
                                   str(processes))
            rows.append(r)
            print(f"  {impl:4s} vocab {vocab}: {r['seconds']:.1f}s ({r['cpu_s']:.1f}s CPU), peak "
                  f"{r['peak_mb']:.0f} MB", file=sys.stderr)
    mb = rows[0]["corpus_mb"]
    lines = [f"Corpus: {mb:.0f} MB (`{corpus.name}`), pattern {pattern}, {processes} processes "
             "/ threads each; ours reads the file itself (`train_bpe_files`), tokenizers "
             + ("too (`Tokenizer.train([file])`)" if hf_input == "file" else
                "gets the whole text as one sequence (`train_from_iterator([text])`)")
             + ". CPU: user + system seconds of the process, its threads and its workers (less "
             "disturbed by other jobs than wall time). Peak memory: the process's maximum RSS "
             "plus its largest worker's, and that as a multiple of the corpus size.", "",
             "| vocab | tokenizers (s) | ours (s) | ours / tokenizers | CPU s tokenizers / ours "
             "(ratio) | ours: pre-tokenise + merges (s) | distinct chunks | peak MB tokenizers "
             "(x corpus) | peak MB ours (x corpus) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for hf, ours in zip(rows[::2], rows[1::2]):
        lines.append(
            f"| {ours['vocab']:,} | {hf['seconds']:.1f} | {ours['seconds']:.1f} | "
            f"{ours['seconds'] / hf['seconds']:.2f} | {hf['cpu_s']:.1f} / {ours['cpu_s']:.1f} "
            f"({ours['cpu_s'] / hf['cpu_s']:.2f}) | {ours['pretokenize_s']:.1f} + "
            f"{ours['merge_s']:.1f} | {ours['chunks']:,} | {hf['peak_mb']:.0f} "
            f"({hf['peak_mb'] / mb:.1f}x) | {ours['peak_mb']:.0f} ({ours['peak_mb'] / mb:.1f}x) |")
    return "\n".join(lines)


def memory_table(corpus: Path, vocab: int, pattern: str, processes: int) -> str:
    """Peak memory of training from the text in memory against streaming the file."""
    rows = [bench.run_isolated("train", "--impl", impl, "--corpus", str(corpus), "--vocab",
                               str(vocab), "--pattern", pattern, "--processes", str(processes))
            for impl in ("ours-text", "ours")]
    mb = rows[0]["corpus_mb"]
    lines = [f"Peak memory on the same {mb:.0f} MB at vocab {vocab:,}, each in a fresh process "
             "(main + largest worker):", "",
             "| training input | seconds | peak MB main | peak MB main + worker | x corpus |",
             "|---|---:|---:|---:|---:|"]
    for label, r in zip(("`train_bpe(text)`: whole text read into one str, workers forked "
                         "over it", "`train_bpe_files([path])`: workers read 1 MB byte ranges"),
                        rows):
        lines.append(f"| {label} | {r['seconds']:.1f} | {r['peak_own_mb']:.0f} | "
                     f"{r['peak_mb']:.0f} | {r['peak_mb'] / mb:.1f}x |")
    return "\n".join(lines)


def ablation_table(text: str, merge_chars: int, vocab: int, pattern: str,
                   processes: int) -> str:
    """Each optimisation's effect, measured on the same slice."""
    regex_ = resolve_pattern(pattern)
    rows = []

    def timed(label: str, fn) -> object:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        out = fn()
        rows.append((label, time.perf_counter() - start))
        print(f"  {label}: {rows[-1][1]:.2f}s", file=sys.stderr)
        return out

    timed("pre-tokenise: `regex` module, whole text, 1 process",
          lambda: Counter(split_unicode(text, regex_)))
    timed("+ ASCII twin of the pattern on Python's `re`", lambda: Counter(split(text, regex_)))
    timed("+ equal lines split once (cut at safe newlines)",
                   lambda: count_chunks([text], regex_, processes=1))
    timed(f"+ {processes} processes", lambda: count_chunks([text], regex_, processes=processes,
                                                           piece_chars=len(text) // processes + 1))
    merge_text = text[:merge_chars]
    counts = count_chunks([merge_text], regex_, processes=1)
    n_chunks = sum(counts.values())
    ref = timed(f"merges: reference (recount all pairs each merge), {len(counts):,} distinct "
                f"chunks", lambda: train_reference(counts, vocab))
    fast = timed("merges: fast (incremental counts, pair->chunk index, lazy heap)",
                 lambda: train_fast(counts, vocab))
    assert ref == fast, "the fast trainer must equal the reference"
    out = [f"Pre-tokenisation on the first {len(text.encode()) / 1e6:.1f} MB; merges on the "
           f"first {len(merge_text.encode()) / 1e6:.2f} MB: {n_chunks:,} chunks of which "
           f"{len(counts):,} distinct ({n_chunks / len(counts):.0f}x fewer to merge in), "
           f"vocab {vocab}, pattern {pattern}.", "", "| step | seconds | speed-up |", "|---|---:|---:|"]
    base_pre, base_merge = rows[0][1], rows[4][1]
    for i, (label, secs) in enumerate(rows):
        base = base_pre if i < 4 else base_merge
        out.append(f"| {label} | {secs:.2f} | {base / secs:.1f}x |")
    return "\n".join(out)


def compare_table(corpus: Path, other: Path, vocab: int, pattern: str, processes: int,
                  rounds: int) -> str:
    """CPU time of the merge phase (``train_fast`` on the corpus's chunk counts) of another
    trainer.py against ours, alternating in this process (CPU time survives other jobs better
    than wall time), and the merges checked equal."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("other_trainer", other)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    counts = dict(count_chunks_files([corpus], resolve_pattern(pattern), processes))
    times: dict[str, list[float]] = {"other": [], "ours": []}
    results = {}
    for _ in range(rounds):
        for name, fn in (("other", module.train_fast), ("ours", train_fast)):
            start = time.process_time()
            results[name] = fn(dict(counts), vocab)
            times[name].append(time.process_time() - start)
            print(f"  {name}: {times[name][-1]:.2f}s CPU", file=sys.stderr)
    assert results["other"] == results["ours"], "the two trainers made different merges"
    best = {k: min(v) for k, v in times.items()}
    return (f"Merge phase (`train_fast` on {len(counts):,} distinct chunks, vocab {vocab:,}), CPU "
            f"seconds, {rounds} alternating rounds in one process, same merges: `{other.name}` "
            f"{', '.join(f'{t:.2f}' for t in times['other'])}; ours "
            f"{', '.join(f'{t:.2f}' for t in times['ours'])}; best ours / best other "
            f"{best['ours'] / best['other']:.2f}.")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mb", type=float, default=100)
    p.add_argument("--input", type=Path, help="a text file to use instead of the built corpus")
    p.add_argument("--vocab", type=int, nargs="+", default=[1000, 10000, 32000])
    p.add_argument("--pattern", default="gpt2")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--ablation-mb", type=float, default=10)
    p.add_argument("--ablation-chars", type=int, default=300_000, help="merge ablation slice")
    p.add_argument("--ablation-vocab", type=int, default=600)
    p.add_argument("--skip-ablation", action="store_true")
    p.add_argument("--memory-vocab", type=int, default=32000,
                   help="vocab of the memory comparison (text in memory vs streamed file)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--hf-input", choices=["file", "text"], default="file",
                   help="tokenizers reads the file (default) or gets the text as one sequence")
    p.add_argument("--compare-trainer", type=Path,
                   help="another trainer.py whose merge phase is timed against ours, e.g. "
                        "`git show REV:packages/tokenizer/src/scratchlab/tokenizer/trainer.py`")
    p.add_argument("--compare-vocab", type=int, default=32000)
    p.add_argument("--compare-rounds", type=int, default=2)
    p.add_argument("--skip-training", action="store_true", help="no training-time table")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    corpus = args.input or bench.build_corpus(args.mb, Path("/tmp") / f"bpe_corpus_{args.mb:g}.txt")
    command = "python " + " ".join(["benchmarks/tokenizer_train.py", *sys.argv[1:]])
    body = [f"Command: `{command}`"]
    if not args.skip_training:
        body += ["", "Training time and peak memory:", "",
                 training_table(corpus, args.vocab, args.pattern, args.processes, args.hf_input)]
    if not args.skip_memory:
        body += ["", memory_table(corpus, args.memory_vocab, args.pattern, args.processes)]
    if args.compare_trainer is not None:
        body += ["", compare_table(corpus, args.compare_trainer, args.compare_vocab, args.pattern,
                                   args.processes, args.compare_rounds)]
    if not args.skip_ablation:
        with open(corpus, encoding="utf-8") as f:
            text = f.read(int(args.ablation_mb * 1e6))
        ablation = ablation_table(text, args.ablation_chars, args.ablation_vocab, args.pattern,
                                  args.processes)
        body += ["", "Effect of each optimisation:", "", ablation]
    md = "\n".join(body)
    print(md)
    if not args.no_write:
        bench.replace_section(ROOT / "docs" / "benchmarks.md", "tokenizer_train", md)
        bench.replace_section(ROOT / "docs" / "bpe.md", "tokenizer_train", md)


if __name__ == "__main__":
    main()
