"""Keep freed memory in a worker during a job and give it back after: glibc malloc set up for tensor workloads.

PyTorch's CPU tensors come from plain ``malloc``. glibc serves a block of more than 32 MiB with a fresh ``mmap`` and
unmaps it on ``free``, so every full-size activation of every layer, at every step, starts as untouched pages that
the kernel faults in and zeroes; smaller blocks go back to the OS whenever the free top of the heap passes the trim
threshold. So a process that runs jobs starts with three glibc tunables: no mmap, no trimming on free, and no
per-thread cache. The cache has to go too: ``posix_memalign`` (torch aligns to 64 bytes) splits a small tail off
each block, the cache keeps that tail "in use", the freed block cannot merge with its neighbours, and the heap grows
by a block at every allocation. ``release_freed_memory`` gives the free heap back once a worker is idle.
Gains and costs, measured: docs/performance.md.

Tunables are read when a process starts, so they are set in the environment of the processes that run jobs: pool
workers (``jobs.pool``), benchmark cases, the CLI (which re-executes itself). ``ALLOCATOR=system`` keeps glibc's
default. Other C libraries (musl, macOS, Windows) ignore the variable and have no ``malloc_trim``: nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

VARIABLE = "GLIBC_TUNABLES"
TUNABLES = (
    "glibc.malloc.mmap_max=0",
    f"glibc.malloc.trim_threshold={16 * 2**30}",
    "glibc.malloc.tcache_count=0",
)
_AT_START = os.environ.get(VARIABLE, "")


def _merge(existing: str) -> str:
    """Ours added to whatever tunables the operator set (theirs win: a name they set is left alone)."""
    items = [item for item in existing.split(":") if item]
    names = {item.partition("=")[0] for item in items}
    return ":".join(items + [t for t in TUNABLES if t.partition("=")[0] not in names])


def environment(env: Mapping[str, str], mode: str = "reuse") -> dict[str, str]:
    """``env`` for a child process that runs jobs: with the tunables for ``reuse``, without ours for ``system``."""
    out = dict(env)
    if mode == "reuse" and sys.platform.startswith("linux"):
        out[VARIABLE] = _merge(out.get(VARIABLE, ""))
    elif mode != "reuse" and VARIABLE in out:
        kept = ":".join(item for item in out[VARIABLE].split(":") if item and item not in TUNABLES)
        if kept:
            out[VARIABLE] = kept
        else:
            del out[VARIABLE]
    return out


def export_for_children(mode: str = "reuse") -> None:
    """Set this process's environment so that every process it starts from now on gets ``mode``'s allocator (this
    process itself keeps the one it started with)."""
    wanted = environment(os.environ, mode)
    if VARIABLE in wanted:
        os.environ[VARIABLE] = wanted[VARIABLE]
    else:
        os.environ.pop(VARIABLE, None)


def started_tuned() -> bool:
    """Whether this process started with every tunable set (by us or the operator): the environment as this module
    first saw it, not ``os.environ`` now, which ``export_for_children`` may have changed (and not
    /proc/self/environ, where glibc 2.36 has replaced the colons by NULs while parsing)."""
    return _merge(_AT_START) == _AT_START


def reexec_tuned(mode: str = "reuse") -> None:
    """Replace this process by the same command with the tunables (once; call before importing torch)."""
    if mode != "reuse" or not sys.platform.startswith("linux") or _glibc() is None:
        return
    if started_tuned() or _merge(os.environ.get(VARIABLE, "")) == os.environ.get(VARIABLE):
        return  # never loop: the replaced process has them
    argv = list(getattr(sys, "orig_argv", []) or [sys.executable, *sys.argv])
    os.execve(sys.executable, [sys.executable, *argv[1:]], environment(os.environ, mode))


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "malloc_trim") else None


def release_freed_memory() -> None:
    """Give the heap's free pages back to the OS (after a job, so that an idle worker is small again)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
