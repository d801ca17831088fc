"""The command line: ``scratchlab list``, ``scratchlab run`` (= ``run-exp``), and the
subcommands plugins add through the ``scratchlab_commands`` hook."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scratchlab.core.errors import ScratchlabError


def _console() -> Any:
    from rich.console import Console

    return Console()


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registry: kind, name, backends, package, summary."""
    from rich.table import Table

    from scratchlab.core.registry import get_registry

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for c in get_registry():
        if args.kind and c.kind != args.kind:
            continue
        row = rows.setdefault((c.kind, c.name), {"backends": [], "package": c.package,
                                                 "summary": c.summary})
        row["backends"].append(c.backend or "any")
    table = Table("kind", "name", "backends", "package", "summary", title="scratchlab components")
    for (kind, name), row in sorted(rows.items()):
        table.add_row(kind, name, ", ".join(sorted(row["backends"])), row["package"], row["summary"])
    _console().print(table)
    return 0


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="experiments/<name>.yaml")
    p.add_argument("--backend", action="append", default=None,
                   help="run only these backends (torch, mlx; repeat or comma-separate)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value for every run, e.g. --set train.steps=100")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="results root (default: results/); the sweep goes to OUT/<name>/")
    p.add_argument("--dry-run", action="store_true", help="print the expanded runs and stop")
    p.add_argument("--jobs", type=int, default=1, help="independent runs in parallel processes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (torch) / gpu (mlx)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per run, torch's and (under MLX) OpenBLAS's (default: "
                        "the library's choice; with --jobs N, cores / N). Use 1 on a busy machine")
    p.add_argument("--list", action="store_true", help="list the installed components")


def cmd_run(args: argparse.Namespace) -> int:
    """Expand, run and report a spec."""
    from rich.markup import escape
    from rich.table import Table

    from scratchlab.core.config import to_dict
    from scratchlab.core.runner import check_backends, run_sweep
    from scratchlab.core.spec import load_spec

    if args.list:
        args.kind = None
        return cmd_list(args)
    if not args.spec:
        raise ScratchlabError("run-exp needs a spec file, e.g. run-exp experiments/quickstart.yaml")
    if args.jobs < 1:
        raise ScratchlabError(f"--jobs must be at least 1, got {args.jobs}")
    backends = [b for item in args.backend or [] for b in item.split(",") if b] or None
    spec = load_spec(args.spec, args.overrides, backends)
    if getattr(args, "may_reexec", False) and "mlx" in spec.backends and not args.dry_run:
        from scratchlab.core.blas import maybe_reexec_with_openblas

        if args.threads:  # OpenBLAS reads it when it loads, i.e. in the re-executed process
            os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))

        maybe_reexec_with_openblas()  # only for MLX: under the preload torch runs slower
    runs = spec.runs()
    console = _console()
    if args.dry_run:
        table = Table("run_id", "variant", "backend", "seed", title=f"{spec.name}: {len(runs)} runs "
                      f"(task {spec.task}) -> {args.out / spec.name}")
        for r in runs:
            table.add_row(r.id, escape(r.variant), r.backend, str(r.seed))
        console.print(table)
        if runs:
            import json

            console.print(f"[dim]first run's resolved config:[/dim]\n"
                          f"{json.dumps(to_dict(runs[0].config), indent=1)}")
        return 0
    check_backends(spec)
    sweep = run_sweep(spec, args.out, jobs=args.jobs, device=args.device,
                      threads=args.threads)
    names = sweep.metric_names()
    table = Table("variant", "backend", "seeds", *names, title=f"{spec.name} ({sweep.dir})")
    from scratchlab.core.results import format_mean_std

    for row in sweep.summary():
        table.add_row(escape(row["variant"]), row["backend"], str(row["seeds"]),
                      *(format_mean_std(row[m]) for m in names))
    console.print(table)
    console.print(f"results: {sweep.dir / 'results.md'}")
    if sweep.failed:
        console.print(f"[red]{len(sweep.failed)} of {len(sweep.results)} runs failed; see "
                      "results.md and each run's log.txt[/red]")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchlab", description="LLM parts from scratch, "
                                     "in PyTorch and MLX, compared by experiment.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the installed components")
    p.add_argument("--kind", help="only this kind (model, optimizer, task, ...)")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("run", help="run an experiment spec (same as run-exp)")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
    try:
        from scratchlab.core.registry import get_plugin_manager

        get_plugin_manager().hook.scratchlab_commands(subparsers=sub)
    except ScratchlabError as exc:  # a broken plugin must not hide `list` and `run`
        print(f"warning: {exc}", file=sys.stderr)
    return parser


def _guard(fn: Any, args: argparse.Namespace, from_shell: bool) -> int:
    args.may_reexec = from_shell  # a real command line (not a call from Python): safe to re-exec
    if from_shell and fn is not cmd_run:  # cmd_run decides once it knows the backends
        from scratchlab.core.blas import maybe_reexec_with_openblas

        maybe_reexec_with_openblas()
    try:
        return int(fn(args) or 0)
    except ScratchlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume",
              file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return _guard(args.func, args, argv is None)


def run_exp(argv: Sequence[str] | None = None) -> int:
    """``run-exp SPEC [...]``: the experiment runner."""
    parser = argparse.ArgumentParser(prog="run-exp", description="Run every variant, seed and "
                                     "backend of an experiment spec and write a results table.")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    return _guard(cmd_run, args, argv is None)


if __name__ == "__main__":
    sys.exit(main())
