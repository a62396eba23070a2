"""Model families are objects behind one Protocol: every registered model resolves to one, the engine dispatches
through it without knowing family names, and ``stylise_frames`` runs a sequence with one network and one style code."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ml_models import engine, families, registry
from ml_models.api import JobRequest
from ml_models.errors import BadRequest, Cancelled
from ml_models.microast import MicroAST
from ml_models.settings import EngineSettings
from tests.engine_helpers import decode_result, png_bytes

ENGINE_SOURCE = Path(engine.__file__).read_text()


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, (xx + yy) / (h + w)], axis=-1) * 200 + 20
    return np.clip(base + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------ the Protocol


@pytest.mark.parametrize("model_id", list(registry.MODELS))
def test_every_model_resolves_to_a_family_object(model_id: str) -> None:
    family = families.get(registry.get(model_id).family)
    assert isinstance(family, families.Family)
    assert family.precision(torch.device("cpu"), "fp32") == torch.float32


def test_every_registered_family_is_used_and_importable() -> None:
    assert {spec.family for spec in registry.MODELS.values()} == set(registry.FAMILIES)
    for name in registry.FAMILIES:
        assert isinstance(families.get(name), families.Family), name


def test_an_unknown_family_is_a_clear_error() -> None:
    with pytest.raises(BadRequest, match="no engine for model family 'nope'"):
        families.get("nope")


def test_the_engine_names_no_family() -> None:
    """A guard against dispatch creeping back into string comparisons: no family name appears as a literal."""
    for name in registry.FAMILIES:
        assert not re.search(rf"""["']{name}["']""", ENGINE_SOURCE), f"engine.py mentions {name!r}"


# ------------------------------------------------------------------------------------------------ a new family


class Inverter(families.StyleFamily):
    """A family the engine has never heard of: a photographic negative scaled by a weight read from its file."""

    prepared = 0

    def load(self, paths: Sequence[Path]) -> nn.Module:
        net = nn.Conv2d(3, 3, 1, bias=False)
        net.weight.data.copy_(torch.load(paths[0])["gain"] * torch.eye(3).view(3, 3, 1, 1))
        return net

    def prepare(self, job: families.Job) -> families.Stylise:
        Inverter.prepared += 1
        net = job.net
        return families.feed_forward(job, lambda x: net(1.0 - x), pixel_strength=True)


FAMILY = Inverter()


@pytest.fixture
def inverter(tmp_path, monkeypatch) -> EngineSettings:
    (tmp_path / "inverter").mkdir()
    torch.save({"gain": torch.tensor(1.0)}, tmp_path / "inverter" / "net.pth")
    monkeypatch.setitem(registry.FAMILIES, "negative", f"{__name__}:FAMILY")
    monkeypatch.setitem(registry.MODELS, "negative", registry.ModelSpec(
        "negative", "negative", "single_image", "Негатив", "Negative", "", "",
        options=(registry.Option("strength", "float", 1.0, "", "", 0.0, 1.0),),
        alternatives=(("inverter/net.pth",),)))
    Inverter.prepared = 0
    engine.clear_cache()
    yield EngineSettings(weights_dir=tmp_path, device="cpu")
    engine.clear_cache()


def test_a_family_registered_under_a_new_name_runs_without_engine_changes(inverter: EngineSettings) -> None:
    photo = _photo(20, 30, 1)
    result = engine.run(JobRequest("negative", png_bytes(photo), output_format="png"), inverter)
    assert np.array_equal(decode_result(result), 255 - photo)
    half = engine.run(JobRequest("negative", png_bytes(photo), options={"strength": 0.5}, output_format="png"),
                      inverter)
    assert np.abs(decode_result(half).astype(int) - 127.5).max() <= 1  # pixel blend of the photo and its negative
    engine.preload(["negative"], inverter)
    assert len(engine._cache) == 1  # the family's network, loaded once


def test_stylise_frames_yields_one_frame_per_frame_and_prepares_once(inverter: EngineSettings) -> None:
    frames = [_photo(16, 24, seed) for seed in range(5)]
    out = list(engine.stylise_frames(JobRequest("negative", b""), iter(frames), inverter))
    assert len(out) == len(frames)
    for frame, stylised in zip(frames, out, strict=True):
        assert stylised.dtype == np.uint8 and np.array_equal(stylised, 255 - frame)
    assert Inverter.prepared == 1


def test_stylise_frames_checks_frames_and_stops_when_cancelled(inverter: EngineSettings) -> None:
    with pytest.raises(BadRequest, match="not \\(H, W, 3\\) uint8"):
        list(engine.stylise_frames(JobRequest("negative", b""), [np.zeros((8, 8), np.uint8)], inverter))
    polls = iter([False, False, True])
    seen = []
    with pytest.raises(Cancelled):
        for frame in engine.stylise_frames(JobRequest("negative", b""), [_photo(8, 8, s) for s in range(5)],
                                           inverter, cancelled=lambda: next(polls)):
            seen.append(frame)
    assert len(seen) == 2


# ------------------------------------------------------------------------------------------------ a real network


@pytest.fixture(scope="module")
def microast_weights(tmp_path_factory) -> Path:
    """MicroAST files in the official layout with random values (the genuine ones are not needed for plumbing)."""
    root = tmp_path_factory.mktemp("weights")
    (root / "microast").mkdir()
    torch.manual_seed(0)
    net = MicroAST()
    parts = ("content_encoder", "style_encoder", "modulator", "decoder")
    for part in parts:
        torch.save(getattr(net, part).state_dict(), root / "microast" / f"{part}_iter_160000.pth.tar")
    return root


def test_stylise_frames_encodes_the_style_once_and_matches_run(microast_weights: Path, monkeypatch) -> None:
    monkeypatch.setenv("WEIGHTS_VERIFY", "off")  # random weights under the official names: not the pinned files
    settings = EngineSettings(weights_dir=microast_weights, device="cpu")
    style = png_bytes(_photo(40, 40, 9))
    frames = [_photo(24, 32, seed) for seed in range(3)]
    encoded = []
    original = MicroAST.encode_style
    monkeypatch.setattr(MicroAST, "encode_style", lambda self, s: encoded.append(1) or original(self, s))
    options = {"strength": 0.8}
    out = list(engine.stylise_frames(JobRequest("microast", b"", styles=[style], options=options), frames, settings))
    assert len(out) == 3 and len(encoded) == 1
    assert all(o.shape == f.shape for o, f in zip(out, frames, strict=True))
    single = engine.run(JobRequest("microast", png_bytes(frames[1]), styles=[style], options=options,
                                   output_format="png"), settings)
    assert np.array_equal(decode_result(single), out[1])


def test_stylise_frames_encodes_adain_styles_once(tmp_path: Path, monkeypatch) -> None:
    from ml_models.adain import AdaIN, AdaINDecoder, AdaINEncoder

    (tmp_path / "adain").mkdir()
    torch.manual_seed(0)
    torch.save(AdaINEncoder().state_dict(), tmp_path / "adain" / "vgg_normalised.pth")
    torch.save(AdaINDecoder().state_dict(), tmp_path / "adain" / "decoder.pth")
    settings = EngineSettings(weights_dir=tmp_path, device="cpu")
    encoded = []
    original = AdaIN.encode_styles
    monkeypatch.setattr(AdaIN, "encode_styles", lambda self, s: encoded.append(len(s)) or original(self, s))
    styles = [png_bytes(_photo(32, 32, 7)), png_bytes(_photo(24, 40, 8))]
    request = JobRequest("adain", b"", styles=styles, style_weights=[3, 1], options={"strength": 0.6})
    frames = [_photo(24, 32, seed) for seed in range(3)]
    out = list(engine.stylise_frames(request, frames, settings))
    assert len(out) == 3 and encoded == [2]  # both styles, once for the whole sequence
    single = engine.run(JobRequest("adain", png_bytes(frames[2]), styles=styles, style_weights=[3, 1],
                                   options={"strength": 0.6}, output_format="png"), settings)
    assert np.array_equal(decode_result(single), out[2])
