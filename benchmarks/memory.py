"""Process memory: peak RSS of the current process, current RSS of another, and whether a process mapped torch.

``ru_maxrss`` is the kernel's high-water mark of resident memory for the process, so one fresh subprocess per case
gives a per-case peak that includes everything the case touched (weights, activations, decode and encode buffers).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

MB = 1024 * 1024


def peak_rss_mb() -> float:
    """High-water resident set of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


def rss_mb(pid: int | None = None) -> float:
    """Current resident set of ``pid`` (this process when None) in MiB."""
    import psutil

    return psutil.Process(pid).memory_info().rss / MB


def uss_mb(pid: int) -> float | None:
    """Memory unique to the process (not shared with others), in MiB; None where the platform cannot say."""
    import psutil

    try:
        return psutil.Process(pid).memory_full_info().uss / MB
    except (psutil.AccessDenied, AttributeError):
        return None


def maps_torch(pid: int) -> bool | None:
    """True when the process has torch's shared library mapped (it imported torch); None when unknown."""
    maps = Path(f"/proc/{pid}/maps")
    try:
        text = maps.read_text(errors="replace")
    except OSError:
        return None
    return "libtorch" in text or "/torch/_C" in text
