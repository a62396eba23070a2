"""Instance norm computes what torch's does and keeps an NHWC map NHWC, so CycleGAN and Johnson can run NHWC."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml_models.cyclegan import ResnetGenerator
from ml_models.instance_norm import InstanceNorm2d
from ml_models.johnson import TransformerNet

NHWC = torch.channels_last


def _pair(channels: int, affine: bool) -> tuple[nn.InstanceNorm2d, InstanceNorm2d]:
    plain, ours = nn.InstanceNorm2d(channels, affine=affine), InstanceNorm2d(channels, affine=affine)
    if affine:
        with torch.no_grad():
            plain.weight.uniform_(0.5, 1.5)
            plain.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(plain.state_dict())
    return plain.eval(), ours.eval()


@pytest.mark.parametrize("affine", [False, True])
def test_one_picture_is_normalised_as_torch_does_in_its_own_layout(affine: bool) -> None:
    torch.manual_seed(0)
    plain, ours = _pair(6, affine)
    x = torch.randn(1, 6, 11, 9) * 3 + 2
    want = plain(x)
    for layout in (torch.contiguous_format, NHWC):
        got = ours(x.contiguous(memory_format=layout))
        assert got.is_contiguous(memory_format=layout)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_bf16_maps_are_normalised_with_fp32_statistics_and_stay_bf16() -> None:
    torch.manual_seed(0)
    plain, ours = _pair(16, True)
    x = (torch.randn(1, 16, 32, 32) * 4 + 10).bfloat16()  # a large mean: bf16 statistics would be visibly off
    want = plain(x.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ours(x.contiguous(memory_format=NHWC))
    assert got.dtype == torch.bfloat16 and got.is_contiguous(memory_format=NHWC)
    assert (got.float() - want).abs().max() < 0.03  # bf16 rounding of the output (|values| up to ~4)


def test_batches_take_torch_s_own_path() -> None:
    torch.manual_seed(0)
    plain, ours = _pair(4, True)
    x = torch.randn(3, 4, 8, 8)
    torch.testing.assert_close(ours(x), plain(x))


@pytest.mark.parametrize("net", [ResnetGenerator(ngf=8, n_blocks=2), TransformerNet(8)], ids=["cyclegan", "johnson"])
def test_a_network_in_nhwc_gives_the_nchw_picture_without_layout_changes(net: nn.Module) -> None:
    torch.manual_seed(0)
    net.eval()
    x = torch.rand(1, 3, 48, 40)
    with torch.inference_mode():
        want = net(x)
        nhwc = net.to(memory_format=NHWC)
        converted: list[str] = []
        hooks = [module.register_forward_hook(
            lambda m, args, out, name=name: converted.append(name)
            if args[0].is_contiguous(memory_format=NHWC) and not out.is_contiguous(memory_format=NHWC) else None)
            for name, module in nhwc.named_modules() if isinstance(module, nn.InstanceNorm2d)]
        got = nhwc(x.contiguous(memory_format=NHWC))
        for hook in hooks:
            hook.remove()
    assert not converted, converted
    assert got.is_contiguous(memory_format=NHWC)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
