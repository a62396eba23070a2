"""One model family at one size on one path, ready to time: the network, its inputs and one job's network work.

* ``fast`` is what the engine does (``ml_models.device``): ``prepare`` (eval, frozen, NHWC), ``to_device`` (NHWC) and
  ``inference_context`` (inference mode plus the family's precision: bf16 autocast on CPUs with native BF16);
* ``ref`` is plain PyTorch: fp32, NCHW weights and input, ``torch.no_grad()``, no autocast.

``forward`` is the network part of one job as the engine runs it (padding, style encoding, tiling), without decoding
and encoding; outputs are mapped to about [0, 1]. For Gatys it is one single-scale L-BFGS step at full size.
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
from ml_models import families, gatys, registry
from ml_models.adain import AdaIN, AdaINDecoder, AdaINEncoder, adaptive_instance_norm
from ml_models.cyclegan import ResnetGenerator, load_cyclegan
from ml_models.errors import Cancelled
from ml_models.johnson import TransformerNet, load_transformer_net
from ml_models.microast import MicroAST
from ml_models.rrdbnet import RRDBNet
from ml_models.srvgg import SRVGGNetCompact
from ml_models.superres import SR_OVERLAP, load_sr_network
from ml_models.tiling import pad_to_multiple, tiled_rows
from ml_models.vgg import VGG19

CPU = torch.device("cpu")
MODEL_IDS = {"microast": "microast", "adain": "adain", "gatys": "gatys", "johnson": "johnson",
             "cyclegan": "cyclegan", "rrdb": "upscale", "srvgg": "upscale"}  # registry model id per family
FULL_VGG, SUBSET_VGG = "vgg19/vgg19-features.pth", "vgg19/vgg19_first_five_conv_layers.pth"


@dataclass
class Prepared:
    forward: Callable[[], Tensor]  # one job's network work on prepared inputs
    modules: list[nn.Module]  # what the FLOP hooks watch
    weights: str  # "genuine <file>" or "random ..."
    genuine: bool
    flop_factor: float = 1.0  # counted forward FLOPs -> the work of one call
    tiles: dict = field(default_factory=dict)  # super-resolution: {"timed": k, "total": n} after a run


def to_tensor(rgb: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1], NCHW contiguous."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float().div_(255.0).contiguous()


def fast_dtype(family: str) -> torch.dtype:
    """The engine's compute dtype for ``family`` on this CPU (its ``Family.precision``)."""
    return families.get(registry.get(MODEL_IDS[family]).family).precision(CPU)


def place(net: nn.Module, path: str) -> nn.Module:
    """``fast``: as the engine places networks (NHWC, frozen); ``ref``: frozen, NCHW."""
    if path == "fast":
        return engine_device.prepare(net, CPU)
    return net.eval().requires_grad_(False).to(memory_format=torch.contiguous_format)


def place_input(x: Tensor, path: str) -> Tensor:
    return engine_device.to_device(x, CPU) if path == "fast" else x.contiguous()


def context(path: str, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    return engine_device.inference_context(CPU, dtype) if path == "fast" else torch.no_grad()


def _weights(weights_dir: Path, *rels: str) -> tuple[list[Path] | None, str, bool]:
    """The files (None unless all are present), a description and whether they are the genuine ones."""
    paths = [Path(weights_dir) / rel for rel in rels]
    if not all(p.is_file() for p in paths):
        return None, f"random ({' + '.join(rels)} absent)", False
    genuine = SHARED_WEIGHTS.resolve() in paths[0].resolve().parents
    return paths, f"{'genuine' if genuine else 'random, official layout'} {' + '.join(rels)}", genuine


def load_vgg(weights_dir: Path, prefer: str) -> tuple[VGG19, str]:
    """``prefer`` is "full" (the production file, random here) or "subset" (the genuine conv1_1..conv3_1 file)."""
    for rel in (FULL_VGG, SUBSET_VGG) if prefer == "full" else (SUBSET_VGG, FULL_VGG):
        if (Path(weights_dir) / rel).is_file():
            return VGG19.load(Path(weights_dir) / rel), rel
    return VGG19(), "random VGG19() (no weight file)"


def gatys_objective(vgg: VGG19, dtype: torch.dtype, content: Tensor, style: Tensor,
                    config: gatys.GatysConfig) -> gatys.Objective:
    """The engine's objective at ``content``'s size, the style fitted as ``gatys.stylize`` fits it."""
    layers = gatys.choose_layers(vgg, config.content_layers, config.style_layers)[:2]
    return gatys.Objective(vgg, CPU, dtype, content, [gatys.fit_style(style, tuple(content.shape[-2:]))], [1.0],
                           config, *layers)


def _simple(load: Callable[..., nn.Module], fallback: Callable[[], nn.Module], rels: tuple[str, ...],
            to_input: Callable[[Tensor], Tensor], run: Callable[[nn.Module, Tensor, Tensor], Tensor]):
    """A family whose job is ``run(net, input, style)`` on one network (``load(*files)``, else ``fallback()``)."""
    def build(weights_dir: Path, content: Tensor, style: Tensor, path: str, dtype: torch.dtype, max_tiles: int):
        files, weights, genuine = _weights(weights_dir, *rels)
        net = place(load(*files) if files else fallback(), path)
        x, s = place_input(to_input(content), path), place_input(style, path)

        def forward() -> Tensor:
            with context(path, dtype):
                return run(net, x, s)

        return Prepared(forward, [net], weights, genuine)

    return build


def _adain_run(net: nn.Module, x: Tensor, s: Tensor) -> Tensor:
    """``AdaIN.stylize`` minus the final clamp: random decoders saturate a clamp, which would hide precision errors."""
    padded, (h, w) = pad_to_multiple(x, 8)
    return net.decoder(adaptive_instance_norm(net.encoder(padded), net.encoder(s)))[..., :h, :w].float()


def _super_resolution(rel: str, fallback: Callable[[], nn.Module]):
    """x4 in the engine's tiles (tile 256 input px, its overlap); with ``max_tiles`` only the first tiles run."""
    def build(weights_dir: Path, content: Tensor, style: Tensor, path: str, dtype: torch.dtype, max_tiles: int):
        files, weights, genuine = _weights(weights_dir, rel)
        net, scale = load_sr_network(files[0]) if files else (fallback(), 4)
        net, tiles = place(net, path), {}

        def forward() -> Tensor:
            kept = []
            tiles.update(timed=0, total=0)

            def tile(t: Tensor) -> Tensor:  # per tile, as the super-resolution family: layout, network, fp32 result
                with context(path, dtype):
                    y = net(place_input(t, path)).float()
                if max_tiles:
                    kept.append(y.flatten())
                return y

            try:
                return torch.cat([rows for _, rows in tiled_rows(
                    tile, content, scale, tile=256, overlap=SR_OVERLAP,
                    progress=lambda done, total: tiles.update(timed=done, total=total),
                    cancelled=(lambda: tiles["timed"] >= max_tiles) if max_tiles else None)], dim=-2)
            except Cancelled:
                return torch.cat(kept)

        return Prepared(forward, [net], weights, genuine, tiles=tiles)

    return build


def _gatys(weights_dir: Path, content: Tensor, style: Tensor, path: str, dtype: torch.dtype, max_tiles: int):
    """One L-BFGS iteration of ``gatys.stylize`` on one full-size scale: a VGG forward, the loss and the input-gradient
    backward (the same multiply-adds as the forward, hence twice the counted FLOPs)."""
    vgg, rel = load_vgg(weights_dir, "full")
    vgg = place(vgg, path)
    config = gatys.GatysConfig(scales=(1.0,), steps=(1,))
    objective = gatys_objective(vgg, dtype, content, style, config)
    step = gatys.make_stepper(config, content.clone().requires_grad_(True), objective)
    genuine = rel == SUBSET_VGG  # linked from ../shared only
    return Prepared(lambda: torch.tensor(step()), [vgg], f"{'genuine' if genuine else 'random'} {rel}", genuine, 2.0)


MICROAST_FILES = tuple(f"microast/{part}_iter_160000.pth.tar"
                       for part in ("content_encoder", "style_encoder", "modulator", "decoder"))
BUILDERS = {
    "microast": _simple(MicroAST.load, MicroAST, MICROAST_FILES, lambda c: c, lambda net, x, s: net.stylize(x, s)),
    "johnson": _simple(load_transformer_net, lambda: TransformerNet(16), ("johnson/mosaic_nc16.pth",),
                       lambda c: c * 255.0, lambda net, x, s: net.stylize(x) / 255.0),
    "adain": _simple(AdaIN.load, lambda: AdaIN(AdaINEncoder(), AdaINDecoder()),
                     ("adain/vgg_normalised.pth", "adain/decoder.pth"), lambda c: c, _adain_run),
    "cyclegan": _simple(load_cyclegan, ResnetGenerator, ("cyclegan/style_monet.pth",), lambda c: c * 2.0 - 1.0,
                        lambda net, x, s: (net.stylize(x) + 1.0) / 2.0),
    "rrdb": _super_resolution("esrgan/RealESRGAN_x4plus.pth", RRDBNet),
    "srvgg": _super_resolution("esrgan/realesr-animevideov3.pth", SRVGGNetCompact),
    "gatys": _gatys,
}


def build(family: str, weights_dir: Path, content: Tensor, style: Tensor, path: str, max_tiles: int = 0) -> Prepared:
    """The prepared case; ``path`` is "fast" or "ref"; ``max_tiles`` caps the tiles a super-resolution run times."""
    torch.manual_seed(0)
    dtype = fast_dtype(family) if path == "fast" else torch.float32
    return BUILDERS[family](weights_dir, content, style, path, dtype, max_tiles)
