"""The genuine small weight files in ../shared/weights load strictly and do what their networks are for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ml_models.errors import CheckpointError
from ml_models.johnson import load_transformer_net
from ml_models.microast import MicroAST, blend_styles
from ml_models.srvgg import SRVGGNetCompact
from ml_models.superres import load_sr_network
from ml_models.vgg import VGG19
from tests.conftest import IMAGES, WEIGHTS, need
from tests.engine_helpers import clipped_share

JOHNSON_STYLES = ["candy", "mosaic", "rain_princess", "udnie"]
MICROAST_PARTS = ["content_encoder", "style_encoder", "modulator", "decoder"]


def photo(relative: str, side: int | None = None) -> torch.Tensor:
    """RGB in [0, 1], (1, 3, H, W); ``side`` bounds the longer side."""
    image = Image.open(need(IMAGES / relative)).convert("RGB")
    if side:
        image.thumbnail((side, side), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


def _sharpness(image: torch.Tensor) -> float:
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return float(dx + dy)


def microast() -> MicroAST:
    return MicroAST.load(*(need(WEIGHTS / f"microast/{part}_iter_160000.pth.tar") for part in MICROAST_PARTS))


@pytest.mark.parametrize("style", JOHNSON_STYLES)
def test_johnson_nc16_stylises_a_photo(style: str) -> None:
    net = load_transformer_net(need(WEIGHTS / f"johnson/{style}_nc16.pth"))
    assert net.conv1.conv2d.out_channels == 16
    content = photo("content/chicago.jpg", 160) * 255  # 160 x 107: not a multiple of 4
    with torch.inference_mode():
        out = net.stylize(content)
    assert out.shape == content.shape and clipped_share(out, 0, 255) < 0.1  # genuine weights: 0.3-5% at a bound
    assert (out - content).abs().mean() > 20  # clearly repainted, not a near copy
    assert out.std() > 20  # and not a flat colour


def test_microast_loads_strictly_and_stylises() -> None:
    net = microast()
    content, style = photo("content/golden_gate.jpg", 150), photo("style/starry_night.jpg", 128)
    with torch.inference_mode():
        out = net.stylize(content[..., :147, :], style)
    assert out.shape == (1, 3, 147, 150) and clipped_share(out, 0, 1) < 0.1  # genuine weights: 0.7% at a bound
    assert (out - content[..., :147, :]).abs().mean() > 0.08 and out.std() > 0.1
    # The colours move towards the style's: starry night is blue/yellow, the bridge photo is not.
    style_mean = style.mean(dim=(2, 3))
    assert (out.mean(dim=(2, 3)) - style_mean).abs().sum() < (content.mean(dim=(2, 3)) - style_mean).abs().sum()


def test_microast_blended_styles_sit_between_the_styles() -> None:
    net = microast()
    content = photo("content/sailboat.jpg", 96)
    a, b = photo("style/starry_night.jpg", 96), photo("style/candy.jpg", 96)
    with torch.inference_mode():
        code_a, code_b = net.encode_style(a), net.encode_style(b)
        only_a = net.stylize_with(content, *code_a)
        assert torch.allclose(net.stylize_with(content, *blend_styles([code_a, code_b], [1.0, 0.0])), only_a)
        mixed = net.stylize_with(content, *blend_styles([code_a, code_b], [0.5, 0.5]))
        only_b = net.stylize_with(content, *code_b)
    assert (mixed - only_a).abs().mean() > 0.02 and (mixed - only_b).abs().mean() > 0.02


def test_microast_bf16_autocast_stays_close_to_fp32() -> None:
    net = microast()
    content, style = photo("content/chicago.jpg", 128), photo("style/mosaic.jpg", 96)
    with torch.inference_mode():
        full = net.stylize(content, style)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net.stylize(content, style)
    assert low.dtype == torch.float32 and (low - full).abs().mean() < 0.04


@pytest.mark.parametrize("name", ["realesr-animevideov3.pth", "realesr-animevideov3.as_found_rezipped.pth"])
def test_animevideov3_upscales_exactly_four_times(name: str) -> None:
    net, scale = load_sr_network(need(WEIGHTS / "esrgan" / name))
    assert isinstance(net, SRVGGNetCompact) and scale == 4
    low = photo("content/baboon.png")[..., :61, :47]  # odd sizes
    with torch.inference_mode():
        high = net(low).clamp(0, 1)
    assert high.shape == (1, 3, 244, 188)
    # A faithful upscale shrinks back to the input, adds detail over its nearest-neighbour skip path and is
    # sharper than bicubic interpolation (mean absolute gradient about 1.3x on this crop).
    assert (F.avg_pool2d(high, 4) - low).abs().mean() < 0.04
    assert (high - F.interpolate(low, scale_factor=4, mode="nearest")).abs().mean() > 0.015
    bicubic = F.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    assert _sharpness(high) > 1.15 * _sharpness(bicubic)


def test_both_animevideov3_containers_hold_the_same_network() -> None:
    official, _ = load_sr_network(need(WEIGHTS / "esrgan/realesr-animevideov3.pth"))
    rezipped, _ = load_sr_network(need(WEIGHTS / "esrgan/realesr-animevideov3.as_found_rezipped.pth"))
    for (key, a), (_, b) in zip(official.state_dict().items(), rezipped.state_dict().items(), strict=True):
        assert torch.equal(a, b), key


def test_vgg_subset_reports_its_layers_and_refuses_deeper_ones() -> None:
    net = VGG19.load(need(WEIGHTS / "vgg19/vgg19_first_five_conv_layers.pth"))
    assert net.available_layers == ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1"]
    with torch.inference_mode():
        feats = net(photo("content/golden_gate.jpg", 64), ["relu2_1", "relu3_1"])
    assert feats["relu3_1"].shape == (1, 256, 16, 16) and feats["relu2_1"].shape == (1, 128, 32, 32)
    with pytest.raises(CheckpointError) as err:
        net(torch.rand(1, 3, 32, 32), ["relu3_1", "relu4_1"])
    assert "relu4_1" in str(err.value) and "relu3_1" in str(err.value)


def test_vgg_features_under_bf16_autocast_stay_close() -> None:
    net = VGG19.load(need(WEIGHTS / "vgg19/vgg19_first_five_conv_layers.pth"))
    image = photo("content/sailboat.jpg", 64)
    with torch.inference_mode():
        full = net(image, ["relu3_1"])["relu3_1"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(image, ["relu3_1"])["relu3_1"].float()
    assert (low - full).abs().mean() < 0.02 * full.abs().mean()

