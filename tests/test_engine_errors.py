"""The engine's refusals, cancellation and progress reports."""

from __future__ import annotations

import pickle

import pytest

from ml_models import engine
from ml_models.api import JobRequest
from ml_models.errors import BadRequest, Cancelled, ImageError, TooLarge, WeightsMissing
from ml_models.settings import EngineSettings
from tests.engine_helpers import image_bytes, png_bytes, request, rgb_of, settings

PHOTO = "content/sailboat.jpg"


@pytest.fixture
def small_photo() -> bytes:
    return png_bytes(rgb_of(PHOTO, 64))


@pytest.mark.parametrize("kwargs", [
    {"model": "nope"},
    {"model": "johnson", "preset": "nope"},
    {"model": "johnson"},  # needs a preset
    {"model": "microast", "preset": "mosaic", "styles": ["style"]},  # no presets
    {"model": "johnson", "preset": "mosaic", "options": {"nope": 1}},
    {"model": "johnson", "preset": "mosaic", "options": {"strength": 1.5}},
    {"model": "gatys", "styles": ["style"], "options": {"quality": "ultra"}},
    {"model": "johnson", "preset": "mosaic", "options": {"max_side": 2}},
    {"model": "johnson", "preset": "mosaic", "styles": ["style"]},  # a preset model takes no style
    {"model": "microast"},  # needs a style
    {"model": "microast", "styles": ["style"] * 3},  # at most 2
    {"model": "microast", "styles": ["style"] * 2, "style_weights": [1.0]},
    {"model": "microast", "styles": ["style"], "style_weights": [-1.0]},
    {"model": "johnson", "preset": "mosaic", "output_format": "gif"},
])
def test_bad_requests(kwargs, small_photo):
    style = image_bytes("style/mosaic.jpg")
    kwargs = dict(kwargs)
    kwargs["styles"] = [style for _ in kwargs.get("styles", [])]
    with pytest.raises(BadRequest) as info:
        engine.run(JobRequest(content=small_photo, **kwargs), settings())
    assert info.value.code == "bad_request"
    assert pickle.loads(pickle.dumps(info.value)).code == "bad_request"


def test_missing_weights_name_the_download_command(tmp_path, small_photo):
    with pytest.raises(WeightsMissing) as info:
        engine.run(JobRequest("johnson", small_photo, preset="mosaic"), EngineSettings(weights_dir=tmp_path))
    assert info.value.details["command"] == "python -m ml_models download johnson:mosaic"
    assert "python -m ml_models download johnson:mosaic" in str(info.value)
    with pytest.raises(WeightsMissing):
        engine.preload(["gatys"], EngineSettings(weights_dir=tmp_path))


def test_not_an_image_is_an_image_error():
    with pytest.raises(ImageError) as info:
        engine.run(JobRequest("johnson", b"definitely not a picture", preset="mosaic"), settings())
    assert info.value.code == "not_image"


def test_over_the_pixel_budget_is_too_large():
    with pytest.raises(TooLarge) as info:  # Gatys allows 1.1 MP on a CPU; 1200 x 1200 is 1.44 MP
        engine.run(request("gatys", image_bytes("content/lion.jpg"), 1200, styles=[image_bytes("style/udnie.jpg")]),
                   settings(device="cpu"))
    assert info.value.details["pixels"] == 1200 * 1200


def test_cancellation_in_the_middle_of_gatys():
    polls, reports = [], []

    def cancelled() -> bool:
        polls.append(1)
        return len(polls) > 4

    with pytest.raises(Cancelled) as info:
        engine.run(request("gatys", png_bytes(rgb_of(PHOTO, 96)), 96, styles=[image_bytes("style/udnie.jpg")],
                           options={"steps": 50}),
                   settings(), progress=lambda d, t: reports.append((d, t)), cancelled=cancelled)
    assert info.value.code == "cancelled"
    assert 0 < len(reports) < 50 and reports[-1][1] == 50


def test_cancellation_between_sr_tiles():
    with pytest.raises(Cancelled):
        engine.run(JobRequest("upscale", png_bytes(rgb_of(PHOTO, 160)), preset="general"), settings(tile=48),
                   cancelled=lambda: True)


@pytest.mark.parametrize("case", ["gatys", "upscale", "johnson"])
def test_progress_is_monotone_and_ends_at_total(case):
    photo = png_bytes(rgb_of(PHOTO, 96))
    job, config = {
        "gatys": (request("gatys", photo, 96, styles=[image_bytes("style/udnie.jpg")],
                          options={"steps": 7, "quality": "standard"}), settings()),
        "upscale": (JobRequest("upscale", photo, preset="general"), settings(tile=40)),
        "johnson": (JobRequest("johnson", photo, preset="candy"), settings()),
    }[case]
    reports = []
    engine.run(job, config, progress=lambda d, t: reports.append((d, t)))
    assert reports, "no progress reported"
    totals = {t for _, t in reports}
    assert len(totals) == 1
    done = [d for d, _ in reports]
    assert done == sorted(done) and len(set(done)) == len(done)
    assert done[-1] == reports[-1][1]
    if case == "gatys":
        assert reports[-1][1] == 7
    if case == "johnson":
        assert reports == [(1, 1)]


def test_preload_caches_networks_for_run(small_photo):
    engine.clear_cache()
    engine.preload(["johnson:candy", "microast"], settings())
    cached = len(engine._cache)
    assert cached == 2
    engine.run(JobRequest("johnson", small_photo, preset="candy"), settings())
    assert len(engine._cache) == cached  # served from the cache, nothing new loaded
    engine.preload(["johnson"], settings())  # every present preset
    assert len(engine._cache) == cached + 3
