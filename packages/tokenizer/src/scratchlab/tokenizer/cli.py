"""``scratchlab tokenizer train|encode|decode|export|import|inspect``.

    scratchlab tokenizer train --input a.txt b.txt --vocab-size 4096 --pattern gpt4 --out tok.json
    scratchlab tokenizer encode --tokenizer tok.json "some text"      # ids on stdout
    scratchlab tokenizer encode --tokenizer tok.json --input a.txt --out ids.npy
    scratchlab tokenizer decode --tokenizer tok.json 31 2047 9
    scratchlab tokenizer export --tokenizer tok.json --format hf --out tokenizer.json
    scratchlab tokenizer import --from tiktoken --input ranks.tiktoken --pattern gpt4 --out tok.json
    scratchlab tokenizer inspect --tokenizer tok.json [--text "hello world"]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.errors import ScratchlabError


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("tokenizer", help="train, use and convert byte-level BPE tokenizers")
    sub = p.add_subparsers(dest="tokenizer_command", required=True)

    t = sub.add_parser("train", help="train a BPE tokenizer on text files")
    t.add_argument("--input", nargs="+", required=True, metavar="FILE", help="UTF-8 text files")
    t.add_argument("--vocab-size", type=int, required=True, help="tokens, specials included")
    t.add_argument("--pattern", default="gpt2", help="gpt2, gpt4 or a regular expression")
    t.add_argument("--special", action="append", default=[], metavar="TOKEN",
                   help="a special token (repeat), e.g. --special '<|endoftext|>'")
    t.add_argument("--min-frequency", type=int, default=0)
    t.add_argument("--algorithm", choices=["fast", "reference"], default="fast")
    t.add_argument("--processes", type=int, default=None, help="pre-tokenisation workers")
    t.add_argument("--errors", choices=["strict", "replace"], default="strict",
                   help="files that are not UTF-8: refuse (strict) or read with U+FFFD")
    t.add_argument("--out", type=Path, required=True, help="where to write the tokenizer")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("encode", help="text to token ids")
    e.add_argument("--tokenizer", "-t", type=Path, required=True)
    e.add_argument("text", nargs="?", help="the text (or use --input)")
    e.add_argument("--input", nargs="+", metavar="FILE", help="encode these files instead")
    e.add_argument("--out", type=Path, help="write the ids as a NumPy .npy file")
    e.add_argument("--allow-special", action="store_true",
                   help="special-token strings in the text become their ids")
    e.add_argument("--errors", choices=["strict", "replace"], default="strict")
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="token ids to text")
    d.add_argument("--tokenizer", "-t", type=Path, required=True)
    d.add_argument("ids", nargs="*", type=int)
    d.add_argument("--input", type=Path, help="a .npy file of ids")
    d.set_defaults(func=cmd_decode)

    x = sub.add_parser("export", help="write a tokenizer as HF tokenizer.json or tiktoken ranks")
    x.add_argument("--tokenizer", "-t", type=Path, required=True)
    x.add_argument("--format", choices=["hf", "tiktoken", "scratchlab"], required=True)
    x.add_argument("--out", type=Path, required=True)
    x.set_defaults(func=cmd_export)

    i = sub.add_parser("import", help="read a HF tokenizer.json or tiktoken ranks")
    i.add_argument("--from", dest="source", choices=["hf", "tiktoken"], required=True)
    i.add_argument("--input", type=Path, required=True)
    i.add_argument("--pattern", default="gpt2", help="tiktoken only: the split pattern")
    i.add_argument("--special", action="append", default=[], metavar="TOKEN=ID",
                   help="tiktoken only: a special token and its id")
    i.add_argument("--out", type=Path, required=True)
    i.set_defaults(func=cmd_import)

    s = sub.add_parser("inspect", help="summarise a tokenizer; show how it splits a text")
    s.add_argument("--tokenizer", "-t", type=Path, required=True)
    s.add_argument("--text", help="show the tokens of this text")
    s.add_argument("--top", type=int, default=10, help="how many merges and tokens to list")
    s.set_defaults(func=cmd_inspect)


def _load(path: Path) -> Any:
    from scratchlab.tokenizer.formats import load

    return load(path)


def cmd_train(args: argparse.Namespace) -> int:
    from scratchlab.tokenizer.train import train_bpe_files

    start = time.perf_counter()
    tok = train_bpe_files(args.input, args.vocab_size, pattern=args.pattern,
                          special_tokens=args.special, min_frequency=args.min_frequency,
                          algorithm=args.algorithm, processes=args.processes,
                          errors=args.errors)
    tok.meta["inputs"] = [str(p) for p in args.input]
    tok.save(args.out)
    print(f"{tok} trained on {tok.meta['train_bytes']:,} bytes in "
          f"{time.perf_counter() - start:.2f}s -> {args.out}", file=sys.stderr)
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    tok = _load(args.tokenizer)
    special = {"allowed_special": "all"} if args.allow_special else {}
    if args.input:
        if args.allow_special:
            from scratchlab.tokenizer.tokenizer import read_text

            ids = np.concatenate([tok.encode_array(read_text(p, args.errors), **special)
                                  for p in args.input])
        else:
            ids = tok.encode_files(args.input, errors=args.errors)
    elif args.text is not None:
        ids = tok.encode_array(args.text, **special)
    else:
        ids = tok.encode_array(sys.stdin.read(), **special)
    if args.out:
        np.save(args.out, ids)
        print(f"{ids.size:,} ids -> {args.out}", file=sys.stderr)
    else:
        print(" ".join(map(str, ids.tolist())))
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    tok = _load(args.tokenizer)
    if args.input is not None:
        try:
            ids = np.load(args.input).tolist()
        except (OSError, ValueError) as exc:
            raise ScratchlabError(f"cannot read ids from {args.input}: {exc}") from None
    else:
        ids = args.ids
    sys.stdout.write(tok.decode(ids))
    sys.stdout.write("\n" if sys.stdout.isatty() else "")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from scratchlab.tokenizer import formats

    tok = _load(args.tokenizer)
    {"hf": formats.export_hf, "tiktoken": formats.export_tiktoken,
     "scratchlab": formats.save}[args.format](tok, args.out)
    print(f"{tok} -> {args.out} ({args.format})", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from scratchlab.tokenizer import formats, patterns

    if args.source == "hf":
        tok = formats.import_hf(args.input)
    else:
        specials = {}
        for item in args.special:
            name, _, value = item.rpartition("=")
            if not name or not value.isdigit():
                raise ScratchlabError(f"--special expects TOKEN=ID, got {item!r}")
            specials[name] = int(value)
        tok = formats.from_tiktoken(formats.read_tiktoken(args.input),
                                    patterns.resolve_pattern(args.pattern), specials)
    tok.save(args.out)
    print(f"{tok} -> {args.out}", file=sys.stderr)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from scratchlab.tokenizer import patterns

    tok = _load(args.tokenizer)
    console = Console()
    table = Table(title=str(args.tokenizer), show_header=False)
    table.add_row("vocab size", str(tok.vocab_size))
    table.add_row("merges", str(len(tok.merges)))
    table.add_row("pattern", patterns.pattern_name(tok.pattern) or tok.pattern)
    table.add_row("special tokens", ", ".join(f"{s}={i}" for s, i in tok.special_tokens.items())
                  or "none")
    for k, v in tok.meta.items():
        table.add_row(str(k), str(v))
    console.print(table)
    show = lambda i: repr(tok.token_bytes(i).decode("utf-8", "backslashreplace"))  # noqa: E731
    merges = Table("rank", "left", "right", "token", title=f"first {args.top} merges")
    for r, (a, b, new) in enumerate(tok.merges[: args.top]):
        merges.add_row(str(r), show(a), show(b), f"{new} {show(new)}")
    console.print(merges)
    longest = sorted(tok.vocab, key=lambda i: (-len(tok.vocab[i]), i))[: args.top]
    console.print("longest tokens: " + ", ".join(show(i) for i in longest))
    if args.text is not None:
        ids = tok.encode(args.text, allowed_special="all")
        out = Text()
        for k, i in enumerate(ids):
            out.append(tok.token_bytes(i).decode("utf-8", "replace"),
                       style=["on blue", "on magenta", "on green", "on red"][k % 4])
        console.print(out)
        console.print(f"{len(ids)} tokens: {ids}")
    return 0
