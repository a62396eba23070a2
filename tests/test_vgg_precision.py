"""conv1_1 under bf16/fp16: its input (the picture Gatys optimises) keeps about fp32 accuracy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from ml_models import gatys, vgg
from ml_models.device import cpu_has_bf16
from ml_models.vgg import VGG19
from tests.conftest import need
from tests.engine_helpers import VGG_SUBSET, rgb_of


def _first_layer(seed: int = 0) -> VGG19:
    torch.manual_seed(seed)
    return VGG19(depth=1).eval()


def _plain_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """conv1_1 without the split: the input rounded to ``dtype`` like every other conv's."""
    return torch.nn.functional.conv2d(x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype),
                                      padding=1)


@contextlib.contextmanager
def _unsplit() -> Iterator[None]:
    """VGG19 with its first convolution computed the plain way (what the split is measured against)."""
    original = vgg._SplitFirstConv.apply
    vgg._SplitFirstConv.apply = _plain_conv
    try:
        yield
    finally:
        vgg._SplitFirstConv.apply = original


def _relu1_1(net: VGG19, x: torch.Tensor, dtype: torch.dtype | None, split: bool = True) -> torch.Tensor:
    with contextlib.nullcontext() if split else _unsplit():
        if dtype is None:
            return net(x, ["relu1_1"])["relu1_1"]
        with torch.autocast("cpu", dtype=dtype):
            return net(x, ["relu1_1"])["relu1_1"]


def test_the_unsplit_path_is_what_the_test_says() -> None:
    """The helper really bypasses the split: under bf16 its conv1_1 equals the plain bf16 convolution."""
    net = _first_layer()
    x = torch.rand(1, 3, 12, 10)
    normalised = (x - net.mean) / net.std
    with torch.no_grad():
        expected = torch.relu(_plain_conv(normalised, net.features[0].weight, net.features[0].bias, torch.bfloat16))
        assert torch.equal(_relu1_1(net, x, torch.bfloat16, split=False), expected)
        assert not torch.equal(_relu1_1(net, x, torch.bfloat16), expected)


def test_fp32_is_the_plain_convolution() -> None:
    net = _first_layer()
    x = torch.rand(1, 3, 20, 24)
    normalised = (x - net.mean) / net.std
    expected = torch.relu(torch.nn.functional.conv2d(normalised, net.features[0].weight, net.features[0].bias,
                                                     padding=1))
    with torch.no_grad():
        assert torch.equal(_relu1_1(net, x, None), expected)
        assert torch.equal(_relu1_1(net, x, None, split=False), expected)


def test_bf16_output_is_the_fp32_output_rounded_not_the_rounded_input_convolved() -> None:
    """Rounding the input to bf16 moves a fifth of the outputs by more than one bf16 step; the split keeps almost
    all of them within one (what remains is the bias, which the convolution takes in bf16)."""
    net = _first_layer()
    x = torch.rand(1, 3, 48, 40)
    with torch.no_grad():
        exact = _relu1_1(net, x, None)
        split, plain = _relu1_1(net, x, torch.bfloat16), _relu1_1(net, x, torch.bfloat16, split=False)
    assert split.dtype == plain.dtype == torch.bfloat16
    one_step = exact.abs() * 2**-8 + 1e-6

    def beyond_one_step(out: torch.Tensor) -> float:
        return float(((out.float() - exact).abs() > one_step).float().mean())

    assert beyond_one_step(split) < 0.05 < 0.15 < beyond_one_step(plain)
    assert (split.float() - exact).norm() < 0.7 * (plain.float() - exact).norm()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_input_gradient_is_the_transposed_convolution(dtype: torch.dtype) -> None:
    """On the convolution itself (through the ReLU a few outputs near zero change sides, which says nothing)."""
    conv = _first_layer().features[0]
    x = torch.randn(1, 3, 16, 20)
    weights = torch.randn(1, 64, 16, 20)

    def grad(low: bool) -> torch.Tensor:
        image = x.clone().requires_grad_(True)
        if low:
            out = vgg._SplitFirstConv.apply(image, conv.weight, conv.bias, dtype)
            assert out.dtype == dtype
        else:
            out = torch.nn.functional.conv2d(image, conv.weight, conv.bias, padding=1)
        (out.float() * weights).sum().backward()
        return image.grad

    exact, low = grad(False), grad(True)
    assert low.dtype == torch.float32
    assert (low - exact).norm() <= 2**-7 * exact.norm()


def test_a_net_cast_to_half_splits_only_the_input() -> None:
    net = _first_layer()
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        exact = _relu1_1(net, x, None)
        half = _first_layer().half()
        split, plain = _relu1_1(half, x, None), _relu1_1(half, x, None, split=False)
    assert split.dtype == plain.dtype == torch.float16
    assert (split.float() - exact).norm() < (plain.float() - exact).norm()


def test_bf16_gatys_gradient_at_the_photo_gains_from_the_split() -> None:
    """The measurement behind the split, on the genuine conv1_1..conv3_1 weights: the loss gradient of one bf16 step
    against fp32's at a 256 px photo (29.0 dB without the split, 36.0 dB with it on the machine that measured it)."""
    if not cpu_has_bf16():
        pytest.skip("this CPU emulates bf16 (no AVX512-BF16/AMX): the 256 px bf16 gradients take minutes here")
    net = VGG19.load(need(VGG_SUBSET))
    for p in net.parameters():
        p.requires_grad_(False)
    content = torch.from_numpy(rgb_of("content/lion.jpg", 256).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    style = torch.from_numpy(rgb_of("style/starry_night.jpg", 256).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    config = gatys.GatysConfig(scales=(1.0,), steps=(1,))
    layers = gatys.choose_layers(net, config.content_layers, config.style_layers)[:2]

    def gradient(dtype: torch.dtype, split: bool) -> torch.Tensor:
        with contextlib.nullcontext() if split else _unsplit():
            objective = gatys.Objective(net, torch.device("cpu"), dtype, content, [style], [1.0], config, *layers)
            image = content.clone().requires_grad_(True)
            objective(image)[0].backward()
            return image.grad

    def psnr(test: torch.Tensor, reference: torch.Tensor) -> float:
        return float(10 * torch.log10(reference.abs().max() ** 2 / (test - reference).pow(2).mean()))

    exact = gradient(torch.float32, True)
    assert torch.equal(exact, gradient(torch.float32, False))
    split, plain = psnr(gradient(torch.bfloat16, True), exact), psnr(gradient(torch.bfloat16, False), exact)
    assert split >= plain + 5.0 and split >= 34.0, (split, plain)
