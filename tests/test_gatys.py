"""Gatys image optimisation on the genuine VGG-19 subset (conv1_1..conv3_1): losses, schedule, fallback, cancelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_models import gatys
from ml_models.errors import BadRequest, Cancelled
from ml_models.vgg import VGG19
from tests.conftest import need
from tests.engine_helpers import VGG_SUBSET, clipped_share, rgb_of


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    net = VGG19.load(need(VGG_SUBSET))
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def tensor(relative: str, side: int) -> torch.Tensor:
    return torch.from_numpy(rgb_of(relative, side).astype(np.float32) / 255.0).permute(2, 0, 1)[None]


def test_gram_matrix_is_normalised_by_size():
    feat = torch.ones(1, 2, 3, 4)
    assert torch.allclose(gatys.gram_matrix(feat), torch.full((1, 2, 2), 12 / 24))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_gram_backward_matches_autograd_of_the_plain_product(dtype):
    """The hand-written backward (g + gᵀ) F / n must give the gradient autograd gives for bmm(F, Fᵀ) / n."""
    torch.manual_seed(0)
    feat = torch.randn(2, 8, 16, 12).to(dtype)
    target = torch.randn(2, 8, 8) * 0.05

    def grad_of(gram_fn) -> torch.Tensor:
        x = feat.clone().requires_grad_(True)
        ((gram_fn(x) - target) ** 2).sum().backward()
        return x.grad

    def plain(x: torch.Tensor) -> torch.Tensor:
        flat = x.float().reshape(2, 8, -1)
        return torch.bmm(flat, flat.transpose(1, 2)) / (8 * 16 * 12)

    ours, reference = grad_of(gatys.gram_matrix), grad_of(plain)
    assert ours.dtype == dtype
    if dtype == torch.float32:
        assert torch.allclose(ours, reference, rtol=1e-5, atol=1e-9)
    else:  # reduced precision (bf16: 8 significant bits): errors of the order of one step of the largest entry
        error = (ours.float() - reference.float()).abs()
        assert error.max() <= 2**-7 * reference.float().abs().max()
        assert error.norm() <= 2**-7 * reference.float().norm()
    assert torch.allclose(gatys.gram_matrix(feat), plain(feat))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_gram_of_an_nhwc_map_matches_nchw_and_its_gradient_stays_nhwc(dtype):
    """An NHWC map is read in place (no copy to NCHW): same Gram, same gradient, and the gradient in NHWC, so the
    autograd sum with the next conv's NHWC gradient and the ReLU backward never mix layouts."""
    torch.manual_seed(1)
    nchw = torch.randn(2, 16, 12, 10).to(dtype)
    target = torch.randn(2, 16, 16) * 0.05
    results = {}
    for name, feat in (("nchw", nchw), ("nhwc", nchw.contiguous(memory_format=torch.channels_last))):
        x = feat.clone(memory_format=torch.preserve_format).requires_grad_(True)
        gram = gatys.gram_matrix(x)
        ((gram - target) ** 2).sum().backward()
        results[name] = gram.detach(), x.grad
    (gram_a, grad_a), (gram_b, grad_b) = results["nchw"], results["nhwc"]
    assert gram_b.dtype == torch.float32 and torch.allclose(gram_a, gram_b, rtol=1e-5, atol=1e-7)
    assert grad_b.dtype == dtype and grad_b.is_contiguous(memory_format=torch.channels_last)
    assert not grad_b.is_contiguous()
    tolerance = 1e-5 if dtype == torch.float32 else 2**-7
    assert (grad_a.float() - grad_b.float()).abs().max() <= tolerance * grad_a.float().abs().max()


def test_bf16_gram_of_a_large_nhwc_map_is_an_fp32_sum_of_exact_partial_products():
    """A large bf16 NHWC map's Gram is summed in fp32 from 256 or more bf16 partial products: within 1.5e-4 of the
    exact Gram (rounding the whole product to bf16 is off by ~4e-3), any pixel count (a tail of 253 here), N > 1."""
    torch.manual_seed(2)
    feat = torch.relu(torch.randn(2, 16, 259, 255)).bfloat16().contiguous(memory_format=torch.channels_last)
    flat = feat.double().permute(0, 2, 3, 1).reshape(2, -1, 16)
    exact = torch.bmm(flat.transpose(1, 2), flat) / (16 * 259 * 255)
    gram = gatys.gram_matrix(feat)
    assert gram.dtype == torch.float32
    assert float((gram.double() - exact).norm() / exact.norm()) < 1.5e-4
    rounded = exact.to(torch.bfloat16).double()  # what one bf16 product gives at best
    assert float((rounded - exact).norm() / exact.norm()) > 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_content_loss_is_mse_with_a_gradient_in_the_maps_dtype_and_layout(dtype):
    torch.manual_seed(3)
    feat = torch.randn(1, 8, 6, 5).to(dtype).contiguous(memory_format=torch.channels_last)
    target = torch.randn(1, 8, 6, 5).contiguous(memory_format=torch.channels_last)
    x, y = feat.clone().requires_grad_(True), feat.clone().requires_grad_(True)
    ours = gatys.content_loss(x, target)
    plain = torch.nn.functional.mse_loss(y.float(), target)
    assert torch.allclose(ours, plain, rtol=1e-6)
    ours.backward(), plain.backward()
    assert x.grad.dtype == dtype and x.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x.grad.float(), y.grad.float(), rtol=2**-7, atol=1e-7)


def test_quality_presets_and_step_split():
    cfg = gatys.GatysConfig.from_quality("fast")
    assert cfg.scales[-1] == 1.0 and len(cfg.scales) == len(cfg.steps)
    cfg = gatys.GatysConfig.from_quality("standard", total_steps=30)
    assert sum(cfg.steps) == 30 and len(cfg.steps) == 3
    assert sum(gatys.GatysConfig.from_quality("high", total_steps=2).steps) == 2
    assert sum(gatys.QUALITY_PRESETS["high"][1]) > sum(gatys.QUALITY_PRESETS["fast"][1])


def test_subset_falls_back_to_its_deepest_layers_with_a_note(vgg):
    content, style, notes = gatys.choose_layers(vgg, gatys.CONTENT_LAYERS, gatys.STYLE_LAYERS)
    assert content == ("relu3_1",)
    assert style == ("relu1_1", "relu2_1", "relu3_1")
    assert len(notes) == 1 and "relu4_2" in notes[0]
    full = VGG19()  # all sixteen convs (random weights): nothing to fall back from
    assert gatys.choose_layers(full, gatys.CONTENT_LAYERS, gatys.STYLE_LAYERS) == (
        gatys.CONTENT_LAYERS, gatys.STYLE_LAYERS, [])


def _run(vgg, scales, steps, optimizer="lbfgs", side=128, **kwargs):
    content = tensor("content/golden_gate.jpg", side)
    style = tensor("style/starry_night.jpg", side)
    config = gatys.GatysConfig(scales=scales, steps=steps, optimizer=optimizer)
    return gatys.stylize(vgg, content, [style], config=config, dtype=torch.float32, **kwargs)


def test_coarse_stages_lower_the_final_loss_of_the_same_full_size_steps(vgg):
    """The coarse-to-fine schedule: cheap steps at half size, carried over as the start of the full size, end lower
    than the same number of full-size steps started from the photo (measured at 128 px: 24.9 against 32.9).

    Not asserted, because it is not true on the subset file: for the same *total* step count, single-scale ends lower
    (the subset's style layers see only pixel-scale texture, which a 2x upsampling cannot carry over).
    """
    single = _run(vgg, (1.0,), (8,))
    multi = _run(vgg, (0.5, 1.0), (8, 8))
    assert multi.final_loss <= single.final_loss, (multi.final_loss, single.final_loss)
    assert multi.notes and single.steps == 8 and multi.steps == 16


def test_optimisation_lowers_the_loss_with_lbfgs_and_adam(vgg):
    for optimizer in ("lbfgs", "adam"):
        result = _run(vgg, (1.0,), (10,), optimizer=optimizer, side=96)
        assert result.losses[0] > 2 * result.final_loss, (optimizer, result.losses)
        assert result.image.shape == (1, 3, 96, 96)
        # the image is clamped each step, so a diverging run piles up at 0 and 1 (10 steps here: 5% L-BFGS, 7% Adam)
        assert clipped_share(result.image, 0.0, 1.0) < 0.25, optimizer


def test_too_small_scales_are_skipped_and_their_steps_kept(vgg):
    reports = []
    result = _run(vgg, (0.25, 0.5, 1.0), (3, 3, 2), side=100, progress=lambda d, t: reports.append((d, t)))
    # 25 px and 50 px are below MIN_SCALE_SIDE: everything runs at full size, still 8 steps
    assert result.steps == 8 and reports[-1] == (8, 8)


def test_two_styles_give_weighted_gram_targets(vgg):
    content = tensor("content/sailboat.jpg", 64)
    a, b = tensor("style/candy.jpg", 64), tensor("style/mondrian.jpg", 64)
    config = gatys.GatysConfig(scales=(1.0,), steps=(1,))
    layers = gatys.choose_layers(vgg, config.content_layers, config.style_layers)[:2]
    mixed = gatys.Objective(vgg, torch.device("cpu"), torch.float32, content, [a, b], [3.0, 1.0], config, *layers)
    only_a = gatys.Objective(vgg, torch.device("cpu"), torch.float32, content, [a], [1.0], config, *layers)
    only_b = gatys.Objective(vgg, torch.device("cpu"), torch.float32, content, [b], [1.0], config, *layers)
    for k in layers[1]:
        expected = 0.75 * only_a.gram_targets[k] + 0.25 * only_b.gram_targets[k]
        assert torch.allclose(mixed.gram_targets[k], expected, rtol=1e-4, atol=1e-7)


def test_bf16_autocast_keeps_the_image_and_losses_fp32(vgg):
    content = tensor("content/sailboat.jpg", 64)
    style = tensor("style/candy.jpg", 64)
    result = gatys.stylize(vgg, content, [style], config=gatys.GatysConfig(scales=(1.0,), steps=(4,)),
                           dtype=torch.bfloat16)
    assert result.image.dtype == torch.float32
    assert np.isfinite(result.final_loss) and result.final_loss < result.losses[0]


def test_cancelled_between_steps(vgg):
    with pytest.raises(Cancelled):
        _run(vgg, (1.0,), (20,), side=64, cancelled=lambda: True)


def test_schedule_skips_scales_too_small_for_vgg_and_keeps_the_step_count():
    config = gatys.GatysConfig(scales=(0.25, 0.5, 1.0), steps=(60, 60, 40))
    assert gatys.schedule(config, 512, 384) == [(0.25, 60), (0.5, 60), (1.0, 40)]
    assert gatys.schedule(config, 200, 150) == [(0.5, 120), (1.0, 40)]  # 50 px is under MIN_SCALE_SIDE
    assert gatys.schedule(config, 100, 100) == [(1.0, 160)]
    with pytest.raises(BadRequest):
        gatys.schedule(gatys.GatysConfig(scales=(0.5,), steps=(10,)), 256, 256)


def test_fit_style_gives_the_style_the_contents_long_side():
    style = torch.rand(1, 3, 40, 80)
    assert gatys.fit_style(style, (30, 20)).shape[-2:] == (15, 30)
    assert gatys.fit_style(style, (80, 60)) is style  # already the size: untouched
