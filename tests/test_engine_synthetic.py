"""AdaIN and CycleGAN through the engine, on weight files with the official layouts but random values.

The genuine files are too large for the shared test folder, so these tests check the engine's plumbing for the two
families (dispatch, value ranges, strength, several styles, exact output size, caching), not the look of the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml_models import engine
from ml_models.adain import AdaINDecoder, AdaINEncoder
from ml_models.api import JobRequest
from ml_models.cyclegan import ResnetGenerator
from ml_models.settings import EngineSettings
from tests.engine_helpers import decode_result, png_bytes, psnr


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, (xx + yy) / (h + w)], axis=-1) * 200 + 20
    return np.clip(base + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    (root / "adain").mkdir()
    (root / "cyclegan").mkdir()
    encoder, decoder = AdaINEncoder(), AdaINDecoder()
    for module in (encoder, decoder):  # keep activations in a sane range through 20 random layers
        for m in module.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.weight.data *= 0.7
                torch.nn.init.zeros_(m.bias)
    torch.save(encoder.state_dict(), root / "adain" / "vgg_normalised.pth")
    torch.save(decoder.state_dict(), root / "adain" / "decoder.pth")
    torch.save(ResnetGenerator().state_dict(), root / "cyclegan" / "style_monet.pth")
    return root


def _settings(weights_dir: Path) -> EngineSettings:
    return EngineSettings(weights_dir=weights_dir)


def test_adain_runs_with_two_styles_and_keeps_an_odd_size(weights_dir):
    content = png_bytes(_photo(45, 67, 1))
    styles = [png_bytes(_photo(40, 40, 2)), png_bytes(_photo(50, 30, 3))]
    reports = []
    result = engine.run(JobRequest("adain", content, styles=styles, style_weights=[2, 1], output_format="png"),
                        _settings(weights_dir), progress=lambda d, t: reports.append((d, t)))
    out = decode_result(result)
    assert out.shape == (45, 67, 3)  # padded to a multiple of 8 inside, cropped back
    assert reports == [(1, 1)]
    assert result.info["weights"] == "adain/vgg_normalised.pth+adain/decoder.pth"


def test_adain_strength_is_feature_space_alpha(weights_dir, monkeypatch):
    from ml_models.adain import AdaIN

    seen = []
    original = AdaIN.stylize_with

    def spy(self, content, style_stats, weights=None, alpha=1.0):
        seen.append((alpha, list(weights)))
        return original(self, content, style_stats, weights, alpha)

    monkeypatch.setattr(AdaIN, "stylize_with", spy)
    content = png_bytes(_photo(32, 48, 4))
    style = [png_bytes(_photo(32, 32, 5))] * 2
    outs = [decode_result(engine.run(JobRequest("adain", content, styles=style, style_weights=[3, 1],
                                                options={"strength": s}, output_format="png"),
                                     _settings(weights_dir))) for s in (0.25, 1.0)]
    assert seen == [(0.25, [0.75, 0.25]), (1.0, [0.75, 0.25])]  # alpha = strength; weights normalised
    assert outs[0].shape == outs[1].shape == (32, 48, 3)


def test_cyclegan_pixel_strength_and_size(weights_dir):
    photo = _photo(37, 53, 6)

    def at(strength):
        return decode_result(engine.run(JobRequest("cyclegan", png_bytes(photo), preset="monet",
                                                   options={"strength": strength}, output_format="png"),
                                        _settings(weights_dir)))

    zero, full = at(0.0), at(1.0)
    assert zero.shape == full.shape == (37, 53, 3)
    assert psnr(zero, photo) > 50
    assert psnr(full, photo) < 30


def test_preload_accepts_model_and_model_preset(weights_dir):
    engine.clear_cache()
    engine.preload(["adain", "cyclegan"], _settings(weights_dir))
    assert len(engine._cache) == 2
    engine.preload(["cyclegan:monet"], _settings(weights_dir))
    assert len(engine._cache) == 2
