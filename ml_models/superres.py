"""One loader for every super-resolution file we accept: the architecture is read off the keys, not the file name.

Recognised: SRVGGNetCompact (``body.N`` with PReLU vectors), BasicSR RRDBNet (``conv_first``, ``body.N.rdbK``), and
the two ESRGAN namings of the same RRDBNet (``RRDB_trunk...`` and the pre-2019 ``model.1.sub...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml_models import device as dev
from ml_models import families
from ml_models.checkpoints import load_strict, read_state_dict
from ml_models.errors import CheckpointError
from ml_models.rrdbnet import RRDBNet, to_basicsr_keys
from ml_models.srvgg import SRVGGNetCompact
from ml_models.tiling import tiled_rows

SR_OVERLAP = 32  # input pixels shared by neighbouring tiles


def load_sr_network(path: str | PathLike[str]) -> tuple[nn.Module, int]:
    """(network in eval mode, scale) for a super-resolution weight file, loaded strictly."""
    state = read_state_dict(path)
    if "body.0.weight" in state and "body.1.weight" in state and state["body.1.weight"].dim() == 1:
        net: nn.Module = SRVGGNetCompact.from_state(state)
        scale = net.upscale
    else:
        state = to_basicsr_keys(state)
        if "conv_first.weight" not in state or "conv_last.weight" not in state:
            raise CheckpointError(
                message=f"{path}: not a known super-resolution layout (SRVGG, RRDBNet, ESRGAN); first keys: "
                        f"{', '.join(list(state)[:4])}", file=str(path))
        net = RRDBNet.from_basicsr_state(state)
        if state["conv_first.weight"].shape[1] != state["conv_last.weight"].shape[0]:
            raise CheckpointError(
                message=f"{path}: RRDBNet with {state['conv_first.weight'].shape[1]} input channels is a pixel-"
                        "unshuffle x2/x1 variant; only x4 files are supported", file=str(path))
        scale = RRDBNet.scale
    return load_strict(net, state, path).eval(), scale


class SuperResolutionFamily(families.StyleFamily):
    """x4 upscaling in overlapping tiles: memory follows the tile, and tiles are the progress and cancel points."""

    def load(self, paths: Sequence[Path]) -> nn.Module:
        return load_sr_network(paths[0])[0]

    def output_scale(self, net: nn.Module) -> int:
        return int(net.scale)  # SRVGGNetCompact and RRDBNet both say it

    def prepare(self, job: families.Job) -> families.Stylise:
        net, scale = job.net, self.output_scale(job.net)
        tile = max(32, int(job.tile))
        overlap = min(SR_OVERLAP, tile // 4)

        def forward(part: torch.Tensor) -> torch.Tensor:
            with dev.inference_context(job.device, job.dtype):
                return net(dev.to_device(part, job.device)).float().clamp_(0.0, 1.0)

        def upscale(rgb: np.ndarray) -> np.ndarray:
            content = families.to_tensor(rgb).to(job.device)
            canvas = np.empty((rgb.shape[0] * scale, rgb.shape[1] * scale, 3), dtype=np.uint8)
            # Each finished strip goes straight to uint8, so the float32 output never exists whole; the overlaps are
            # cross-faded so seams do not show.
            for top, rows in tiled_rows(forward, content, scale, tile=tile, overlap=overlap, progress=job.progress,
                                        cancelled=job.cancelled):
                canvas[top:top + rows.shape[-2]] = _to_uint8_hwc(rows)
            return canvas

        return upscale


def _to_uint8_hwc(t: torch.Tensor) -> np.ndarray:
    """(1, 3, h, w) in [0, 1] -> (h, w, 3) uint8, rounded half to even like ``families.to_uint8``."""
    return t[0].clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


FAMILY = SuperResolutionFamily()
