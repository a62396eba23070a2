"""What this CPU can do at best: a large square matmul in fp32 and in bf16, timed in the process that needs it.

A dense GEMM is the best case for the same oneDNN/MKL kernels the convolutions use, so "achieved GFLOP/s / matmul
GFLOP/s" says how much of the machine a network uses. The peak is taken in the same subprocess right after a case,
because other processes on a shared 2-core machine move both numbers together; the best of several runs is reported
(a peak is a best case, while model times are medians).
"""

from __future__ import annotations

import time

import torch


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 7) -> float:
    """Best achieved GFLOP/s (2 n^3 per product) of ``torch.matmul`` on two n x n matrices of ``dtype``."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    torch.matmul(a, b)  # first call: thread pool and kernel selection
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2.0 * n**3 / best / 1e9


def measure(n: int = 2048, repeats: int = 7) -> dict[str, float | None]:
    """``{"fp32": GFLOP/s, "bf16": GFLOP/s or None, "n": n}``.

    bf16 is measured only where the CPU has native BF16: elsewhere oneDNN emulates it (a 2048 matmul took minutes on
    an AVX2 EPYC), the engine never uses it there, and no model is compared with it.
    """
    from ml_models.device import cpu_has_bf16

    bf16 = matmul_gflops(torch.bfloat16, n, repeats) if cpu_has_bf16() else None
    return {"fp32": matmul_gflops(torch.float32, n, repeats), "bf16": bf16, "n": n}
