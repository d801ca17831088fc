"""Peak memory of one run, the same way for every task and backend.

On the CPU the honest number is the process's peak resident set (weights, gradients,
optimizer state, activations *and* the framework itself). Linux lets us reset that peak
(``/proc/self/clear_refs``), so runs executed one after another in the same process each get
their own figure. On an accelerator the backends report their allocator's peak instead.

It also holds the one allocator setting that matters for speed on a Linux CPU:
:func:`keep_freed_memory`.
"""

from __future__ import annotations

import ctypes
import functools
import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window; False where the OS cannot (the peak then covers the
    whole process). Memory freed but kept by the allocator (:func:`keep_freed_memory`) goes
    back to the OS first, so one run's leftovers do not count towards the next run's peak."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
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


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (it has mallopt and malloc_trim), else None."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 1 << 30
_GLIBC_MMAP_MAX = 32 << 20  # the largest mmap threshold some glibc versions accept


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks for reuse instead of handing them back to the OS.

    By default glibc serves large blocks (above a threshold that starts at 128 KiB and adapts up
    to 32 MiB) with a fresh ``mmap`` and unmaps them on free, and gives the top of its heap
    back to the OS once enough of it is free. A training step that allocates the same
    activations every iteration then pays a page fault per 4 KiB page, every time: on a 2-core
    CPU that was a third of a small GPT's step (a GELU over 1.5 MB took 1.0 ms instead of
    0.25 ms; docs/lm.md#speed-on-a-cpu). Raising the mmap and trim thresholds to 1 GiB keeps
    those pages mapped. The process's resident memory then stays at its peak instead of
    shrinking between steps; the peak itself is unchanged. Returns False where the C library
    is not glibc (macOS, musl).
    """
    libc = _glibc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES) or mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_MAX)
    return bool(mmap_ok and mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
