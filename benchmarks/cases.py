"""One feed-forward model family at one size on one path, ready to time: the network, its inputs and one job's work.

Two paths are compared:

* ``fast``, what the engine does (``ml_models.device``): ``prepare`` (eval, frozen, NHWC), ``to_device`` (NHWC) and
  ``inference_context`` (inference mode plus the family's precision: bf16 autocast on CPUs with native BF16);
* ``ref``, a plain PyTorch baseline: fp32, NCHW-contiguous weights and input, ``torch.no_grad()`` (autograd off, but
  not inference mode), no autocast.

Each family's ``forward`` is the network part of one job as the engine runs it (padding, style encoding, tiling),
without decoding and encoding, which are timed separately through the engine. Outputs are mapped to a nominal [0, 1]
for the precision comparison.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.common import SHARED_WEIGHTS
from ml_models import device as engine_device
from ml_models.errors import Cancelled
from ml_models.tiling import pad_to_multiple, tiled_rows

FAMILIES = ("microast", "adain", "gatys", "johnson", "cyclegan", "rrdb", "srvgg")
CONV_HEAVY = frozenset({"adain", "cyclegan", "rrdb", "gatys"})  # the 50 %-of-peak target applies to these
SUPER_RESOLUTION = frozenset({"rrdb", "srvgg"})
CPU = torch.device("cpu")


@dataclass
class Prepared:
    forward: Callable[[], Tensor]  # one job's network work on prepared inputs -> output mapped to about [0, 1]
    modules: list[nn.Module]  # what the FLOP hooks watch
    weights: str  # "genuine <file>" or "random (official layout: ...)"
    genuine: bool
    input_hw: tuple[int, int]
    dtype: torch.dtype
    notes: list[str] = field(default_factory=list)
    tiles: dict = field(default_factory=dict)  # SR: {"timed": k, "total": n} after a run


def to_tensor(rgb: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1], NCHW contiguous."""
    pixels = torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=True))
    return pixels.permute(2, 0, 1)[None].float().div_(255.0).contiguous()


# registry model id per case family, for the engine's per-family precision
_MODEL_IDS = {"microast": "microast", "adain": "adain", "gatys": "gatys", "johnson": "johnson",
              "cyclegan": "cyclegan", "rrdb": "upscale", "srvgg": "upscale"}


def fast_dtype(family: str | None = None) -> torch.dtype:
    """The engine's compute dtype on this CPU for ``family`` (its ``Family.precision``; the device's default when
    ``family`` is None)."""
    if family is None:
        return engine_device.precision_for(CPU, "auto")
    from ml_models import families, registry

    return families.get(registry.get(_MODEL_IDS[family]).family).precision(CPU)


def place(net: nn.Module, path: str) -> nn.Module:
    """``fast``: as the engine places networks (NHWC, frozen); ``ref``: frozen, NCHW."""
    if path == "fast":
        return engine_device.prepare(net, CPU)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(memory_format=torch.contiguous_format)


def place_input(x: Tensor, path: str) -> Tensor:
    return engine_device.to_device(x, CPU) if path == "fast" else x.contiguous()


def context(path: str, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    return engine_device.inference_context(CPU, dtype) if path == "fast" else torch.no_grad()


def _file(weights_dir: Path, rel: str) -> Path | None:
    path = Path(weights_dir) / rel
    return path if path.is_file() else None


def _describe(path: Path | None, rel: str, fallback: str) -> tuple[str, bool]:
    if path is None:
        return f"random ({fallback}; {rel} absent)", False
    genuine = SHARED_WEIGHTS.resolve() in path.resolve().parents
    return (f"genuine {rel}" if genuine else f"random, official layout ({rel})"), genuine


def _run(ctx_path: str, dtype: torch.dtype, fn: Callable[[], Tensor]) -> Callable[[], Tensor]:
    def forward() -> Tensor:
        with context(ctx_path, dtype):
            return fn()
    return forward


# --------------------------------------------------------------------------------------------------- families


def _microast(weights_dir, content, style, path, dtype, opts) -> Prepared:
    from ml_models.microast import MicroAST

    parts = [_file(weights_dir, f"microast/{p}_iter_160000.pth.tar")
             for p in ("content_encoder", "style_encoder", "modulator", "decoder")]
    net = MicroAST.load(*parts) if all(parts) else MicroAST()
    weights, genuine = _describe(parts[0] if all(parts) else None, "microast/*_iter_160000.pth.tar", "MicroAST()")
    net = place(net, path)
    x, s = place_input(content, path), place_input(style, path)
    return Prepared(_run(path, dtype, lambda: net.stylize(x, s)), [net], weights, genuine,
                    tuple(content.shape[-2:]), dtype, ["includes encoding the style image"])


def _johnson(weights_dir, content, style, path, dtype, opts) -> Prepared:
    from ml_models.johnson import TransformerNet, load_transformer_net

    rel = "johnson/mosaic_nc16.pth"
    file = _file(weights_dir, rel)
    net = load_transformer_net(file) if file else TransformerNet(16)
    weights, genuine = _describe(file, rel, "TransformerNet(16)")
    net = place(net, path)
    x = place_input(content * 255.0, path)
    return Prepared(_run(path, dtype, lambda: net.stylize(x) / 255.0), [net], weights, genuine,
                    tuple(content.shape[-2:]), dtype)


def _adain(weights_dir, content, style, path, dtype, opts) -> Prepared:
    from ml_models.adain import AdaIN, AdaINDecoder, AdaINEncoder, adaptive_instance_norm

    enc, dec = _file(weights_dir, "adain/vgg_normalised.pth"), _file(weights_dir, "adain/decoder.pth")
    net = AdaIN.load(enc, dec) if enc and dec else AdaIN(AdaINEncoder(), AdaINDecoder())
    weights, genuine = _describe(enc if enc and dec else None, "adain/vgg_normalised.pth + decoder.pth", "AdaIN()")
    net = place(net, path)
    x, s = place_input(content, path), place_input(style, path)

    def work() -> Tensor:
        # AdaIN.stylize minus the final clamp: random decoders saturate a clamp, which would hide precision errors
        padded, (h, w) = pad_to_multiple(x, 8)
        feat = net.encoder(padded)
        return net.decoder(adaptive_instance_norm(feat, net.encoder(s)))[..., :h, :w].float()

    return Prepared(_run(path, dtype, work), [net], weights, genuine, tuple(content.shape[-2:]), dtype,
                    ["includes encoding the style image"])


def _cyclegan(weights_dir, content, style, path, dtype, opts) -> Prepared:
    from ml_models.cyclegan import ResnetGenerator, load_cyclegan

    rel = "cyclegan/style_monet.pth"
    file = _file(weights_dir, rel)
    net = load_cyclegan(file) if file else ResnetGenerator()
    weights, genuine = _describe(file, rel, "ResnetGenerator()")
    net = place(net, path)
    x = place_input(content * 2.0 - 1.0, path)
    return Prepared(_run(path, dtype, lambda: (net.stylize(x) + 1.0) / 2.0), [net], weights, genuine,
                    tuple(content.shape[-2:]), dtype)


def _sr_overlap(tile: int) -> int:
    """The engine's tile overlap (``superres.SR_OVERLAP``, at most a quarter tile)."""
    from ml_models.superres import SR_OVERLAP

    return min(SR_OVERLAP, tile // 4)


def _super_resolution(rel: str, fallback: Callable[[], nn.Module], fallback_name: str):
    def build(weights_dir, content, style, path, dtype, opts) -> Prepared:
        from ml_models.superres import load_sr_network

        file = _file(weights_dir, rel)
        net, scale = load_sr_network(file) if file else (fallback(), 4)
        weights, genuine = _describe(file, rel, fallback_name)
        net = place(net, path)
        max_tiles = int(opts.get("max_tiles") or 0)
        tile = int(opts.get("tile") or 256)
        overlap = _sr_overlap(tile)
        prepared = Prepared(lambda: content, [net], weights, genuine, tuple(content.shape[-2:]), dtype,
                            [f"tiled as the engine does: tile {tile} input px, overlap {overlap}"])

        def work() -> Tensor:
            seen = {"done": 0, "total": 0}
            kept: list[Tensor] = []

            def fn(t: Tensor) -> Tensor:
                # per tile, as the super-resolution family: layout change, network, fp32 result
                with context(path, dtype):
                    y = net(place_input(t, path)).float()
                if max_tiles:
                    kept.append(y.flatten())
                return y

            def progress(done: int, total: int) -> None:
                seen.update(done=done, total=total)

            try:
                out = torch.cat([rows for _, rows in tiled_rows(
                    fn, content, scale, tile=tile, overlap=overlap, progress=progress,
                    cancelled=(lambda: seen["done"] >= max_tiles) if max_tiles else None)], dim=-2)
            except Cancelled:
                out = torch.cat(kept)
            prepared.tiles = {"timed": seen["done"], "total": seen["total"]}
            return out

        prepared.forward = work
        return prepared

    return build


def _rrdb_fallback() -> nn.Module:
    from ml_models.rrdbnet import RRDBNet

    return RRDBNet()


def _srvgg_fallback() -> nn.Module:
    from ml_models.srvgg import SRVGGNetCompact

    return SRVGGNetCompact()


BUILDERS = {
    "microast": _microast,
    "johnson": _johnson,
    "adain": _adain,
    "cyclegan": _cyclegan,
    "rrdb": _super_resolution("esrgan/RealESRGAN_x4plus.pth", _rrdb_fallback, "RRDBNet() x4plus"),
    "srvgg": _super_resolution("esrgan/realesr-animevideov3.pth", _srvgg_fallback, "SRVGGNetCompact()"),
}


def build(family: str, weights_dir: Path, content: Tensor, style: Tensor, path: str,
          opts: dict | None = None) -> Prepared:
    """The prepared case; ``path`` is "fast" or "ref"; ``opts``: ``max_tiles`` and ``tile`` for SR."""
    if family not in BUILDERS:
        raise ValueError(f"no feed-forward case for {family!r}; known: {', '.join(BUILDERS)}")
    torch.manual_seed(0)
    dtype = fast_dtype(family) if path == "fast" else torch.float32
    opts = dict(opts or {})
    return BUILDERS[family](weights_dir, content, style, path, dtype, opts)
