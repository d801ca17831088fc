"""core/memory.py: the allocator setting that keeps freed pages (the peak-RSS window is tested
in test_runner.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

linux_glibc = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="glibc's mallopt and /proc are Linux-only")

# allocate and free a 40 MiB block 10 times (above the 32 MiB up to which glibc adapts); count the minor page faults that costs
_FAULTS = textwrap.dedent("""
    import resource, sys
    from scratchlab.core import memory
    if sys.argv[1] == "keep":
        assert memory.keep_freed_memory()
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    bytearray(40 << 20)  # the first one always faults
    before = faults()
    for _ in range(10):
        block = bytearray(40 << 20)  # zero-filled: touches every page
        del block
    print(faults() - before)
""")


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


@linux_glibc
def test_keep_freed_memory_stops_the_page_faults_of_repeated_large_allocations() -> None:
    default, kept = _faults("default"), _faults("keep")
    pages = 10 * (40 << 20) // 4096
    assert default > pages // 2  # glibc mmaps and unmaps each block: every page faults again
    assert kept < pages // 20  # kept on the heap: the pages stay mapped
