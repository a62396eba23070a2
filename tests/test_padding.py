"""Reflection padding keeps bf16 activations in bf16 under CPU autocast (which otherwise runs it in fp32)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ml_models.cyclegan import ResnetGenerator
from ml_models.padding import ReflectionPad2d


def test_padding_is_exact_and_keeps_the_dtype_under_autocast() -> None:
    x = torch.randn(1, 5, 9, 7).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain, ours = nn.ReflectionPad2d(2)(x), ReflectionPad2d(2)(x)
    assert plain.dtype == torch.float32  # what autocast does to torch's own layer
    assert ours.dtype == torch.bfloat16 and torch.equal(ours.float(), plain)
    assert torch.equal(ReflectionPad2d(3)(x.float()), F.pad(x.float(), (3, 3, 3, 3), mode="reflect"))


def test_a_bf16_generator_never_widens_to_fp32_between_layers() -> None:
    net = ResnetGenerator(ngf=8, n_blocks=2).eval()
    widened: list[str] = []

    def check(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if inputs[0].dtype == torch.bfloat16 and output.dtype != torch.bfloat16:
                widened.append(name)
        return hook

    for name, module in net.named_modules():
        if not list(module.children()):
            module.register_forward_hook(check(name))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(torch.rand(1, 3, 32, 32))
    assert out.dtype == torch.bfloat16 and not widened, widened
