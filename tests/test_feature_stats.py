"""AdaIN's statistic transfer and MicroAST's style blending, checked on plain tensors (no weight files needed)."""

from __future__ import annotations

import torch

from ml_models.adain import adaptive_instance_norm, mean_std
from ml_models.microast import MicroAST, blend_styles


def test_adaptive_instance_norm_transfers_the_style_statistics() -> None:
    gen = torch.Generator().manual_seed(0)
    content = torch.randn(2, 8, 12, 10, generator=gen) * 3 + 1
    style = torch.randn(1, 8, 7, 9, generator=gen) * torch.linspace(0.5, 4, 8).view(1, 8, 1, 1) - 2
    out = adaptive_instance_norm(content, style)
    out_mean, out_std = mean_std(out)
    style_mean, style_std = mean_std(style)
    assert torch.allclose(out_mean, style_mean.expand_as(out_mean), atol=1e-4)
    assert torch.allclose(out_std, style_std.expand_as(out_std), atol=1e-3)


def test_adaptive_instance_norm_keeps_bf16_inputs_usable() -> None:
    content = (torch.randn(1, 4, 16, 16) * 50 + 200).bfloat16()  # large offset: bf16 statistics would be coarse
    style = torch.randn(1, 4, 8, 8)
    out = adaptive_instance_norm(content, style)
    assert out.dtype == torch.bfloat16
    assert torch.allclose(mean_std(out)[1], mean_std(style)[1], rtol=0.02)
    assert torch.allclose(mean_std(out)[0], mean_std(style)[0], atol=0.02)


def test_blended_style_code_is_the_weighted_mean() -> None:
    torch.manual_seed(0)
    net = MicroAST().eval()
    with torch.inference_mode():
        a, b = net.encode_style(torch.rand(1, 3, 32, 40)), net.encode_style(torch.rand(1, 3, 48, 24))
        mixed = blend_styles([a, b], [3.0, 1.0])  # normalised to 0.75 / 0.25
        assert torch.allclose(mixed.stats[1][1], 0.75 * a.stats[1][1] + 0.25 * b.stats[1][1])
        assert torch.allclose(mixed.w[0], 0.75 * a.w[0] + 0.25 * b.w[0])
        assert net.stylize_with(torch.rand(1, 3, 30, 21), *mixed).shape == (1, 3, 30, 21)
