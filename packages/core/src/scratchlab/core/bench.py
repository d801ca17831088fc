"""What every benchmark script shares: its section of docs/benchmarks.md and the command line
that made it. Benchmarks print tables; they never assert on time."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from scratchlab.core.checkpoint import atomic_write_text

HEADER = ("# Benchmarks\n\nEach section is written by its script under `benchmarks/` "
          "(all of them: `nox -s bench`), with the command that made it.\n")


def write_section(name: str, body: str, doc: str | Path) -> None:
    """Replace (or append) the block between ``<!-- bench:name -->`` markers, keeping others."""
    doc = Path(doc)
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = doc.read_text() if doc.exists() else HEADER
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (pattern.sub(lambda _: block, text) if pattern.search(text)
            else text.rstrip() + "\n\n" + block + "\n")
    atomic_write_text(doc, text)


def command(script: str, drop: tuple[str, ...] = ("--note",)) -> str:
    """The command line that made a table, without options (and their values) in ``drop``."""
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if a in drop:
            skip = True
            continue
        if not any(a.startswith(d + "=") for d in drop):
            argv.append(a)
    return shlex.join(["python", script, *argv])


def load_average() -> str:
    """The 1-minute load average, to print beside timings taken on a shared machine."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"
