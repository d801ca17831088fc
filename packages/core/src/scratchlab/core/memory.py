"""Peak memory of one run, the same way for every task and backend.

On the CPU the honest number is the process's peak resident set (weights, gradients,
optimizer state, activations *and* the framework itself). Linux lets us reset that peak
(``/proc/self/clear_refs``), so runs executed one after another in the same process each get
their own figure. On an accelerator the backends report their allocator's peak instead.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window; False where the OS cannot (the peak then covers the
    whole process)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (since the last reset, on Linux)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB
