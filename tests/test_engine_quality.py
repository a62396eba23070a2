"""End-to-end quality of ``ml_models.engine.run`` on the genuine weights in ../shared/weights.

"Stylised" is measured, not eyeballed: the output must be nearer than the content photo to the style image's Gram
statistics on VGG-19 relu1_1..relu3_1 (the subset file). Sizes stay small so the whole file runs in well under a
minute on two cores.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ml_models import engine, families
from ml_models.api import JobRequest
from tests.engine_helpers import (
    chroma,
    decode_result,
    image_bytes,
    png_bytes,
    psnr,
    request,
    rgb_of,
    settings,
    style_distance,
)

JOHNSON_STYLE_IMAGES = {"candy": "candy.jpg", "mosaic": "mosaic.jpg", "rain_princess": "rain-princess.jpg",
                        "udnie": "udnie.jpg"}
SIDE = 256


@pytest.mark.parametrize("preset", list(JOHNSON_STYLE_IMAGES))
def test_johnson_presets_move_towards_their_style(preset):
    content = rgb_of("content/chicago.jpg", SIDE)
    style = rgb_of(f"style/{JOHNSON_STYLE_IMAGES[preset]}")
    result = engine.run(request("johnson", png_bytes(content), SIDE, preset=preset), settings())
    out = decode_result(result)
    assert out.shape == content.shape
    native = max(style.shape[:2])  # the nets were trained on the style image at its own size
    before, after = style_distance(content, style, native), style_distance(out, style, native)
    assert after < 0.5 * before, (preset, before, after)
    assert result.info["weights"] == f"johnson/{preset}_nc16.pth"


def test_microast_moves_towards_the_style():
    content = rgb_of("content/golden_gate.jpg", SIDE)
    style = rgb_of("style/starry_night.jpg")
    result = engine.run(request("microast", png_bytes(content), SIDE, styles=[png_bytes(style)]), settings())
    out = decode_result(result)
    side = families.STYLE_SIDE  # the engine hands MicroAST the style at this size
    before, after = style_distance(content, style, side), style_distance(out, style, side)
    assert after < 0.75 * before, (before, after)  # measured 0.54..0.69 over 2 photos x 4 styles


def test_microast_blends_two_styles_between_them():
    content = png_bytes(rgb_of("content/sailboat.jpg", 192))
    a, b = rgb_of("style/starry_night.jpg"), rgb_of("style/mondrian.jpg")
    run = lambda styles, weights: decode_result(engine.run(  # noqa: E731
        request("microast", content, 192, styles=[png_bytes(s) for s in styles], style_weights=weights), settings()))
    only_a, only_b, mixed = run([a], []), run([b], []), run([a, b], [0.5, 0.5])
    assert psnr(mixed, only_a) < 40 and psnr(mixed, only_b) < 40  # neither style alone
    # The blend's statistics lie between the two single-style results.
    assert style_distance(mixed, a) < style_distance(only_b, a)
    assert style_distance(mixed, b) < style_distance(only_a, b)


def test_gatys_on_the_vgg_subset_moves_towards_the_style_and_notes_the_fallback():
    content = rgb_of("content/golden_gate.jpg", 128)
    style = rgb_of("style/starry_night.jpg")
    result = engine.run(request("gatys", png_bytes(content), 128, styles=[png_bytes(style)],
                                options={"quality": "fast", "steps": 12}), settings())
    out = decode_result(result)
    assert out.shape == content.shape
    before, after = style_distance(content, style), style_distance(out, style)
    assert after < 0.5 * before, (before, after)
    assert result.info["precision"] in ("bf16", "fp32")
    assert any("relu3_1" in note and "provide only" in note for note in result.info["notes"])


@pytest.mark.parametrize("model", ["johnson", "microast"])
def test_preserve_colours_keeps_the_content_chroma(model):
    content = rgb_of("content/chicago.jpg", 192)
    style = [png_bytes(rgb_of("style/candy.jpg"))] if model == "microast" else []
    preset = "candy" if model == "johnson" else None
    plain = decode_result(engine.run(request(model, png_bytes(content), 192, preset=preset, styles=style), settings()))
    kept = decode_result(engine.run(request(model, png_bytes(content), 192, preset=preset, styles=style,
                                            options={"preserve_colors": True}), settings()))
    drift_plain = np.abs(chroma(plain) - chroma(content)).mean()
    drift_kept = np.abs(chroma(kept) - chroma(content)).mean()
    assert drift_kept < 1.5, drift_kept  # rounding and clipping only
    assert drift_plain > 5 * drift_kept
    assert psnr(kept, content) < 30  # the texture (luminance) is still stylised


def test_gatys_preserve_colours_transfers_luminance_only():
    content = rgb_of("content/sailboat.jpg", 96)
    style = png_bytes(rgb_of("style/candy.jpg"))
    out = decode_result(engine.run(request("gatys", png_bytes(content), 96, styles=[style],
                                           options={"preserve_colors": True, "steps": 8}), settings()))
    assert np.abs(chroma(out) - chroma(content)).mean() < 1.5
    assert psnr(out, content) < 35


@pytest.mark.parametrize("model", ["johnson", "microast"])
def test_strength_round_trips_in_pixel_space(model):
    content = rgb_of("content/golden_gate.jpg", 160)
    kwargs = {"preset": "udnie"} if model == "johnson" else {"styles": [png_bytes(rgb_of("style/udnie.jpg"))]}

    def at(strength):
        return decode_result(engine.run(request(model, png_bytes(content), 160, options={"strength": strength},
                                                **kwargs), settings()))

    full = decode_result(engine.run(request(model, png_bytes(content), 160, **kwargs), settings()))
    outs = [at(s) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert psnr(outs[0], content) > 50  # strength 0 is the photo (up to rounding)
    assert np.array_equal(outs[-1], full)  # strength 1 is the default
    distances = [float(np.abs(o.astype(float) - content).mean()) for o in outs]
    assert all(a < b for a, b in zip(distances, distances[1:], strict=False)), distances


def test_gatys_strength_scales_the_style():
    content = rgb_of("content/golden_gate.jpg", 96)
    style_rgb = rgb_of("style/starry_night.jpg")

    def at(strength):
        return decode_result(engine.run(request("gatys", png_bytes(content), 96, styles=[png_bytes(style_rgb)],
                                                options={"strength": strength, "steps": 10}), settings()))

    zero, half, full = at(0.0), at(0.5), at(1.0)
    assert np.array_equal(zero, content)
    d = [style_distance(x, style_rgb) for x in (content, half, full)]
    assert d[0] > d[1] > d[2], d


def _panorama() -> np.ndarray:
    photo = rgb_of("content/avril.jpg")  # 1680 x 1050
    return np.ascontiguousarray(photo[245:245 + 560])  # 1680 x 560, 3:1


@pytest.mark.parametrize("model", ["johnson", "microast", "gatys"])
@pytest.mark.parametrize("shape", ["panorama", "portrait"])
def test_outputs_keep_the_aspect_ratio(model, shape):
    if shape == "panorama":
        content, side, expected = _panorama(), 301, (100, 301)  # neither side a multiple of 4 or 8
    else:
        content, side, expected = rgb_of("content/blonde_girl.jpg"), 150, (150, 112)  # 600 x 800 -> 112.5 x 150
    kwargs = {"johnson": {"preset": "mosaic"}, "microast": {"styles": [image_bytes("style/mosaic.jpg")]},
              "gatys": {"styles": [image_bytes("style/mosaic.jpg")], "options": {"steps": 2}}}[model]
    result = engine.run(request(model, png_bytes(content), side, **kwargs), settings())
    out = decode_result(result)
    assert (result.height, result.width) == out.shape[:2]
    assert out.shape[:2] == expected  # padded to the network's multiple inside, cropped back exactly
    assert abs(out.shape[1] / out.shape[0] - content.shape[1] / content.shape[0]) < 0.01


def test_a_greyscale_photo_works():
    result = engine.run(JobRequest("johnson", image_bytes("content/wolf_gray.jpg"), preset="candy",
                                   options={"max_side": 128}), settings())
    assert result.mime == "image/jpeg"
    out = decode_result(result)
    assert out.shape == (128, 128, 3)
    assert chroma(out).std() > 5  # candy's colours appear on a grey photo


@pytest.mark.parametrize("model", ["johnson", "upscale"])
def test_an_rgba_png_comes_back_as_png_with_its_alpha(model):
    rgb = rgb_of("content/sailboat.jpg", 96)
    h, w = rgb.shape[:2]
    alpha = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    alpha[: h // 4] = 0
    rgba = np.dstack([rgb, alpha])
    preset = "mosaic" if model == "johnson" else "general"
    result = engine.run(JobRequest(model, png_bytes(rgba), preset=preset, options={"max_side": 96}), settings())
    assert result.mime == "image/png"
    out = decode_result(result)
    assert out.shape[2] == 4
    factor = 4 if model == "upscale" else 1
    assert out.shape[:2] == (h * factor, w * factor)
    small_alpha = np.asarray(Image.fromarray(out[..., 3]).resize((w, h), Image.Resampling.BOX)).astype(float)
    assert np.abs(small_alpha - alpha).mean() < 3
