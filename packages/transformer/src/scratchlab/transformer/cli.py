"""``scratchlab generate``: continue a prompt with the model of a finished ``lm`` run.

    scratchlab generate --run results/shakespeare_char/runs/<id> --prompt "ROMEO:" \
        --max-new-tokens 200 --temperature 0.8 --top-k 50 --seed 0

The run folder holds everything needed: config.json (the model, adapter and tokenizer
settings), tokenizer.json and checkpoint.safetensors. Weights are NumPy-portable, so a run
trained with torch can generate with ``--backend mlx`` and back.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from scratchlab.core.errors import ScratchlabError
from scratchlab.core.hookspecs import hookimpl


def add_generate_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("generate", help="continue a prompt with a trained lm run",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, type=Path, help="the run folder (results/<spec>/runs/<id>)")
    p.add_argument("--prompt", required=True, help="the text to continue")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0, help="0 for greedy decoding")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set "
                   "of tokens whose probability reaches p")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["torch", "mlx"], default=None,
                   help="default: the backend the run was trained with")
    p.add_argument("--no-cache", action="store_true", help="recompute the whole context at "
                   "every step instead of using the KV cache (slower; same tokens)")
    p.set_defaults(func=cmd_generate)


@hookimpl
def scratchlab_commands(subparsers: Any) -> None:
    add_generate_parser(subparsers)


def load_run(run_dir: Path, backend_name: str | None = None) -> tuple[Any, Any, str, Any]:
    """(model, tokenizer, backend name, config) of a finished lm run, ready to generate."""
    from scratchlab.core.backends import require
    from scratchlab.transformer.lm import data as lmdata

    if not run_dir.is_dir():
        raise ScratchlabError(f"--run {run_dir} is not a folder")
    cfg, trained_with = lmdata.load_run_config(run_dir)
    name = backend_name or trained_with
    require(name)
    tokenizer = lmdata.load_tokenizer(run_dir)
    if tokenizer is None:
        raise ScratchlabError(f"{run_dir} has no {lmdata.TOKENIZER_FILE}; was the run finished?")
    weights, _ = lmdata.resolve_weights(str(run_dir))
    task = importlib.import_module(f"scratchlab.transformer.lm.{name}")
    model = task.load_model(cfg, tokenizer.vocab_size, lmdata.model_tensors(weights))
    return model, tokenizer, name, cfg


def stream_text(tokenizer: Any, ids: list[int], new_ids: Any) -> Any:
    """Decoded text as tokens arrive. A token may end in the middle of a UTF-8 character
    (byte-level tokenizers): text is held back while it ends in a replacement character."""
    shown = len(tokenizer.decode(ids))
    out = list(ids)
    for token in new_ids:
        out.append(int(token))
        text = tokenizer.decode(out)
        if not text.endswith("\ufffd"):
            yield text[shown:]
            shown = len(text)
    text = tokenizer.decode(out)
    if len(text) > shown:
        yield text[shown:]


def cmd_generate(args: argparse.Namespace) -> int:
    if args.max_new_tokens < 0:
        raise ScratchlabError(f"--max-new-tokens must be >= 0, got {args.max_new_tokens}")
    if args.temperature < 0:
        raise ScratchlabError(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise ScratchlabError(f"--top-k must be at least 1, got {args.top_k}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ScratchlabError(f"--top-p must be in (0, 1], got {args.top_p}")
    if not args.prompt:
        raise ScratchlabError("--prompt is empty; give at least one character to continue")
    model, tokenizer, name, _ = load_run(args.run, args.backend)
    ids = list(tokenizer.encode(args.prompt))
    generate = importlib.import_module(f"scratchlab.transformer.{name}.generate").generate
    tokens = generate(model, ids, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                      top_p=args.top_p, seed=args.seed, use_cache=not args.no_cache)
    sys.stdout.write(args.prompt)
    for piece in stream_text(tokenizer, ids, tokens):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
