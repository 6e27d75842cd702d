"""This process's peak memory, counting this process alone.

`getrusage`'s `ru_maxrss` (and the one `wait4` returns for a child) is not that on Linux: when a
process execs, the kernel folds the high-water mark of the memory it was forked with into it,
so a child started by a 3 GB parent reports at least 3 GB whatever it used itself. `make bench`
read its runs' peaks that way and reported the benchmark's own size growing from repeat to
repeat. The kernel's per-process high-water mark is `VmHWM` in /proc/self/status.
"""

from __future__ import annotations

import re
import resource
import sys

_PROC_STATUS = "/proc/self/status"


def peak_rss_mb() -> float:
    """The most resident memory this process has held so far, in MB."""
    try:
        with open(_PROC_STATUS) as f:
            found = re.search(r"^VmHWM:\s+(\d+)\s+kB", f.read(), re.MULTILINE)
        if found:
            return int(found.group(1)) / 1024
    except OSError:
        pass
    # No /proc (macOS): ru_maxrss, in bytes there (KB on Linux).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
