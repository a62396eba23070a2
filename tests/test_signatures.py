"""Every official weight layout in ../shared/weights/signatures/*.json loads through our loaders and runs.

The large official files are not available to tests, so each case writes a synthetic checkpoint with the official
keys, shapes and container quirks (legacy pickle, ``params``/``params_ema`` wrapper, deprecated norm buffers,
``_metadata``, a ``module.`` variant) and loads it exactly as production does: from a file, strictly.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ml_models.adain import AdaIN, AdaINDecoder, AdaINEncoder
from ml_models.checkpoints import read_state_dict
from ml_models.cyclegan import load_cyclegan
from ml_models.errors import CheckpointError
from ml_models.johnson import load_transformer_net
from ml_models.rrdbnet import to_basicsr_keys
from ml_models.superres import load_sr_network
from ml_models.vgg import VGG19, convert_torchvision_vgg19
from tests.conftest import SIGNATURES

_JSONS = sorted(SIGNATURES.glob("*.json")) if SIGNATURES.is_dir() else []
_NO_DATA = pytest.mark.skipif(not _JSONS, reason=f"signature files not found in {SIGNATURES} (../shared is absent)")
_BIG = 1 << 22  # tensors above this many elements are stored as a broadcast row to keep the files small


def _signature(path: Path) -> dict:
    return json.loads(path.read_text())


def _layout(sig: dict) -> list[list]:
    """The layout the released files are expected to have (with legacy buffers where the JSON gives one)."""
    return sig["container"].get("legacy_checkpoint_layout_expected") or sig["state_dict_layout"]


def _tensor(key: str, shape: list[int], dtype: str, gen: torch.Generator) -> torch.Tensor:
    if dtype == "int64":
        return torch.tensor(7, dtype=torch.int64).expand(shape).clone()
    if key.endswith("running_var"):
        return torch.rand(shape, generator=gen) + 0.5
    if len(shape) <= 1:
        return torch.rand(shape, generator=gen) * 0.2
    fan_in = math.prod(shape[1:])
    if math.prod(shape) > _BIG:
        row = torch.randn(shape[1:], generator=gen) / math.sqrt(fan_in)
        return row.expand(shape)  # saved as one row: the file keeps the official shape at a fraction of the size
    return torch.randn(shape, generator=gen) / math.sqrt(fan_in)


def write_checkpoint(sig: dict, path: Path, module_prefix: bool = False) -> dict[str, torch.Tensor]:
    """Write a checkpoint in the official container of ``sig``; returns the bare state dict written."""
    gen = torch.Generator().manual_seed(0)
    prefix = "module." if module_prefix else ""
    state = collections.OrderedDict()
    for key, shape, dtype in _layout(sig):
        state[prefix + key] = _tensor(key, shape, dtype, gen)
    container = sig["container"]
    if container.get("metadata"):  # nn.Module.state_dict() attaches _metadata; the official loader deletes it
        state._metadata = collections.OrderedDict({"": {"version": 1}})
    obj = {container["wrapper_key"]: state} if container.get("wrapper_key") else state
    legacy = "legacy" in (container.get("serialization") or "")
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return state


def _image(h: int, w: int) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))


def _run_vgg(path: Path, sig: dict) -> None:
    net = VGG19.load(path)
    assert net.available_layers[-1] == "relu5_4" and len(net.available_layers) == 16
    feats = net(_image(32, 32), ["relu1_1", "relu4_2", "relu5_1"])
    assert feats["relu5_1"].shape == (1, 512, 2, 2) and feats["relu1_1"].min() >= 0
    converted = convert_torchvision_vgg19(path, path.with_name("features.pth"))
    slim = read_state_dict(converted)
    assert not any(k.startswith(("features.", "classifier.")) for k in slim) and "34.weight" in slim
    again = VGG19.load(converted)(_image(32, 32), ["relu5_1"])["relu5_1"]
    assert torch.equal(again, feats["relu5_1"])


def _run_adain_encoder(path: Path, sig: dict) -> None:
    encoder = AdaINEncoder.load(path)
    assert len(encoder) == 31
    assert encoder(_image(33, 50)).shape == (1, 512, 5, 7)  # ceil-mode pooling: ceil(33/8) x ceil(50/8)
    out = AdaIN(encoder, AdaINDecoder()).eval().stylize(_image(33, 50), [_image(40, 24)], [1.0], alpha=0.7)
    assert out.shape == (1, 3, 33, 50)


def _run_adain_decoder(path: Path, sig: dict) -> None:
    net = AdaIN(AdaINEncoder(), AdaINDecoder.load(path)).eval()
    assert net.decoder(torch.rand(1, 512, 4, 6)).shape == (1, 3, 32, 48)
    out = net.stylize(_image(33, 50), [_image(24, 24), _image(40, 40)], [0.3, 0.7], alpha=1.0)
    assert out.shape == (1, 3, 33, 50) and torch.isfinite(out).all()  # stylize clamps: only NaN could escape


def _run_johnson(path: Path, sig: dict) -> None:
    net = load_transformer_net(path)
    assert net.conv1.conv2d.out_channels == sig["state_dict_layout"][0][1][0]
    out = net.stylize(_image(33, 50) * 255)
    assert out.shape == (1, 3, 33, 50) and torch.isfinite(out).all()


def _run_cyclegan(path: Path, sig: dict) -> None:
    out = load_cyclegan(path).stylize(_image(33, 50) * 2 - 1)
    assert out.shape == (1, 3, 33, 50) and torch.isfinite(out).all()


def _run_sr(path: Path, sig: dict) -> None:
    net, scale = load_sr_network(path)
    assert scale == sig["preprocessing"]["scale"] == 4
    out = net(_image(16, 13))
    assert out.shape == (1, 3, 64, 52) and torch.isfinite(out).all()


# Matched on the start of the JSON's "name"; a new signature file fails until it is given a runner here.
_RUNNERS: dict[str, Callable[[Path, dict], None]] = {
    "vgg19_torchvision": _run_vgg, "adain_vgg_normalised": _run_adain_encoder, "adain_decoder": _run_adain_decoder,
    "johnson": _run_johnson, "cyclegan": _run_cyclegan, "esrgan": _run_sr, "realesrgan": _run_sr, "srvgg": _run_sr,
}


def _runner(sig: dict) -> Callable[[Path, dict], None]:
    for prefix, run in _RUNNERS.items():
        if sig["name"].startswith(prefix):
            return run
    pytest.fail(f"no loader test registered for signature {sig['name']!r}; add one to _RUNNERS")


@_NO_DATA
@pytest.mark.parametrize("variant", ["official", "module_prefix"])
@pytest.mark.parametrize("sig_path", _JSONS, ids=[p.stem for p in _JSONS])
def test_official_layout_loads_strictly_and_runs(sig_path: Path, variant: str, tmp_path: Path) -> None:
    sig = _signature(sig_path)
    run = _runner(sig)
    path = tmp_path / "weights.pth"
    write_checkpoint(sig, path, module_prefix=variant == "module_prefix")
    with torch.inference_mode():
        run(path, sig)


# VGG-19 writes two large files, so it runs in fp32 only here; its bf16 check uses the real subset file.
_BF16_JSONS = [p for p in _JSONS if not p.stem.startswith("vgg19")]


@_NO_DATA
@pytest.mark.parametrize("sig_path", _BF16_JSONS, ids=[p.stem for p in _BF16_JSONS])
def test_runs_under_bf16_autocast(sig_path: Path, tmp_path: Path) -> None:
    sig = _signature(sig_path)
    run = _runner(sig)
    path = tmp_path / "weights.pth"
    write_checkpoint(sig, path)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        run(path, sig)


@_NO_DATA
def test_old_esrgan_rule_reproduces_the_published_mapping() -> None:
    old = _signature(SIGNATURES / "esrgan_rrdb_old.json")
    new = _signature(SIGNATURES / "esrgan_rrdb_new.json")
    dummy = torch.zeros(1)
    for old_key, new_key in old["key_mapping_old_to_new"]:
        assert list(to_basicsr_keys({old_key: dummy, "model.1.sub.0.RDB1.conv1.0.weight": dummy}))[0] == \
            list(to_basicsr_keys({new_key: dummy, "RRDB_trunk.0.RDB1.conv1.weight": dummy}))[0]
    for basicsr_key, new_key in new["basicsr_rename_rules"]["mapping_basicsr_to_this"]:
        assert list(to_basicsr_keys({new_key: dummy, "RRDB_trunk.0.RDB1.conv1.weight": dummy}))[0] == basicsr_key


@_NO_DATA
def test_mismatched_file_names_the_file_and_the_keys(tmp_path: Path) -> None:
    sig = _signature(SIGNATURES / "johnson_transformer_net.json")
    path = tmp_path / "broken_style.pth"
    state = write_checkpoint(sig, tmp_path / "ok.pth")
    del state["res3.conv1.conv2d.weight"]
    state["res3.conv1.conv2d.bias"] = torch.zeros(5)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_transformer_net(path)
    text = str(err.value)
    assert "broken_style.pth" in text and "res3.conv1.conv2d.weight" in text and "extra.weight" in text
    assert "res3.conv1.conv2d.bias (5,)" in text and err.value.code == "bad_checkpoint"


def test_read_state_dict_unwraps_and_strips(tmp_path: Path) -> None:
    ema, raw = torch.ones(2), torch.zeros(2)
    torch.save({"params": {"module.a": raw}, "params_ema": {"module.a": ema}}, tmp_path / "w.pth")
    assert torch.equal(read_state_dict(tmp_path / "w.pth")["a"], ema)  # params_ema preferred
    torch.save({"module.body.0.weight": raw, "_metadata": {"": {"version": 1}}}, tmp_path / "m.pth")
    assert list(read_state_dict(tmp_path / "m.pth")) == ["body.0.weight"]
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        read_state_dict(tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.pth")
