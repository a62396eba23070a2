"""Where and in which precision the networks run, decided at run time from the machine.

On the CPU bf16 autocast pays only where the CPU executes bf16 dot products natively (AVX512-BF16 or AMX): there it
roughly doubles convolution throughput and halves memory traffic. Elsewhere (AVX2-only CPUs) oneDNN emulates bf16
and it is slower than fp32, so ``auto`` picks fp32 there; the check reads the CPU's flags, not just "is it x86". On
CUDA fp16 is the cheap path. ``PRECISION=fp32`` always wins, for reproducible comparisons and numerical debugging.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ml_models.errors import BadRequest

log = logging.getLogger(__name__)

_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def select_device(setting: str = "auto") -> torch.device:
    """``auto`` picks the first CUDA GPU when there is one; ``cuda[:N]`` insists on it (refusing a missing GPU)."""
    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "cuda" or setting.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise BadRequest(message=f"DEVICE={setting} but no CUDA device is available", device=setting)
        device = torch.device("cuda:0" if setting == "cuda" else setting)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadRequest(message=f"DEVICE={setting} but only {torch.cuda.device_count()} CUDA device(s) exist",
                             device=setting)
        return device
    raise BadRequest(message=f"DEVICE={setting!r} is not one of auto, cpu, cuda, cuda:N", device=setting)


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def cpu_has_bf16() -> bool:
    """True when the CPU executes bf16 dot products natively (AVX512-BF16 or AMX-BF16) and oneDNN can use them.

    ``/proc/cpuinfo`` is the authority on Linux; torch's own capability string only says "AMX" on the newest builds,
    so it is used as a second source where cpuinfo is unavailable.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    flags = _cpu_flags()
    if flags:
        return bool(flags & _NATIVE_BF16_FLAGS)
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    return "AMX" in capability or "BF16" in capability


def precision_for(device: torch.device, setting: str = "auto") -> torch.dtype:
    """The compute dtype for ``device``: bf16 on CPUs with native BF16, fp16 on CUDA, fp32 otherwise or on request.

    Explicit ``bf16``/``fp16`` settings are honoured where the device can run them (for benchmarks).
    """
    setting = (setting or "auto").strip().lower()
    if setting not in _PRECISIONS:
        raise BadRequest(message=f"PRECISION={setting!r} is not one of {', '.join(_PRECISIONS)}", precision=setting)
    if setting == "fp32":
        return torch.float32
    if device.type == "cuda":
        if setting == "bf16" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    if setting == "bf16":
        return torch.bfloat16
    if setting == "fp16":
        return torch.float32  # CPU fp16 convolutions are emulated and slow
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def precision_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass only; a no-op in fp32 (also usable where gradients are needed)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def inference_context(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """No autograd bookkeeping plus autocast: the way every feed-forward network runs."""
    with torch.inference_mode(), autocast(device, dtype):
        yield


def prepare(module: nn.Module, device: torch.device) -> nn.Module:
    """Eval mode, frozen, on ``device``, in NHWC.

    NHWC on every device: cuDNN's tensor-core kernels want it, and every network here runs faster in it on the CPU
    too, in fp32 and bf16 (the instance-norm ones because ``ml_models.instance_norm`` keeps the layout). Weights stay
    fp32: autocast casts them per op, so one cached module serves fp32 and reduced-precision runs.
    """
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(device=device).to(memory_format=torch.channels_last)


def configure(device: torch.device) -> None:
    """Per-process backend switches: cuDNN autotuning (inputs repeat sizes: tiles, standard sides).

    TF32 is left at torch's default so ``PRECISION=fp32`` stays true fp32 for comparisons.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host to device (on CUDA through pinned memory, an asynchronous DMA copy), NHWC like the modules ``prepare``
    gives."""
    if device.type == "cuda":
        x = x.pin_memory().to(device, non_blocking=True) if x.device.type == "cpu" else x.to(device)
    else:
        x = x.to(device)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


_threads_set = False


def set_threads(n: int) -> None:
    """Intra-op threads (0 leaves torch's default). Inter-op threads can be set only once per process, so only then."""
    global _threads_set
    if n <= 0:
        return
    torch.set_num_threads(n)
    if not _threads_set:
        with contextlib.suppress(RuntimeError):  # raises if parallel work has already started
            torch.set_num_interop_threads(max(1, min(n, 4)))
        _threads_set = True
