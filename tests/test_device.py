"""Device and precision selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ml_models import device
from ml_models.errors import BadRequest


def test_select_device():
    assert device.select_device("cpu") == torch.device("cpu")
    assert device.select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(BadRequest):
        device.select_device("tpu")
    if not torch.cuda.is_available():
        for setting in ("cuda", "cuda:1"):
            with pytest.raises(BadRequest):
                device.select_device(setting)


def test_native_bf16_follows_the_cpu_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo on this system")
    flags = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    assert device.cpu_has_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_cpuinfo_parsing(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert "avx512_bf16" in device._cpu_flags(info)
    assert device._cpu_flags(tmp_path / "absent") == frozenset()


def test_precision_for():
    cpu = torch.device("cpu")
    assert device.precision_for(cpu, "fp32") == torch.float32
    assert device.precision_for(cpu, "auto") == (torch.bfloat16 if device.cpu_has_bf16() else torch.float32)
    assert device.precision_for(cpu, "bf16") == torch.bfloat16
    with pytest.raises(BadRequest):
        device.precision_for(cpu, "int4")
    assert device.precision_name(torch.bfloat16) == "bf16"


def test_inference_context_and_prepare():
    net = device.prepare(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).train(), torch.device("cpu"))
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    with device.inference_context(torch.device("cpu"), torch.bfloat16):
        assert torch.is_inference_mode_enabled()
        y = net(torch.rand(1, 3, 8, 8))
    assert y.dtype == torch.bfloat16 and y.shape == (1, 4, 6, 6)
    with device.inference_context(torch.device("cpu"), torch.float32):
        assert net(torch.rand(1, 3, 8, 8)).dtype == torch.float32


def test_set_threads_keeps_the_default_for_zero():
    before = torch.get_num_threads()
    device.set_threads(0)
    assert torch.get_num_threads() == before
    device.set_threads(1)
    assert torch.get_num_threads() == 1
    device.set_threads(before)


def test_microast_stays_fp32_on_the_cpu_where_bf16_is_the_default(monkeypatch):
    """MicroAST's depthwise convolutions ran slower in bf16 than in fp32 on a native-BF16 CPU, so its family asks for
    fp32 there; the other families keep the CPU's fast precision, and an explicit PRECISION still wins."""
    from ml_models import families

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    cpu = torch.device("cpu")
    assert families.get("microast").precision(cpu) == torch.float32
    assert families.get("adain").precision(cpu) == torch.bfloat16
    assert families.get("microast").precision(cpu, "bf16") == torch.bfloat16
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert families.get("adain").precision(cpu) == torch.float32


def test_gatys_never_runs_in_fp16(monkeypatch):
    """fp16 gradients underflow in the Gram backward: where the device's precision is fp16, Gatys runs in fp32 (or
    bf16 on a GPU that has it) while the feed-forward families keep fp16."""
    from ml_models import families

    monkeypatch.setattr(device, "precision_for", lambda dev, setting="auto": torch.float16)
    cpu = torch.device("cpu")
    assert families.get("gatys").precision(cpu) == torch.float32
    assert families.get("johnson").precision(cpu) == torch.float16


def test_prepared_modules_and_inputs_are_nhwc():
    """Every network runs NHWC (Gatys' Gram reads NHWC maps in place, the instance norm of Johnson and CycleGAN keeps
    the layout): ``prepare`` and ``to_device`` put modules and pictures in it."""
    cpu = torch.device("cpu")
    net = device.prepare(nn.Conv2d(3, 4, 3), cpu)
    assert net.weight.is_contiguous(memory_format=torch.channels_last) and not net.weight.is_contiguous()
    x = device.to_device(torch.rand(1, 3, 8, 8), cpu)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert device.to_device(torch.rand(3, 8), cpu).is_contiguous()
