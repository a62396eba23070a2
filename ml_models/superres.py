"""One loader for every super-resolution file we accept: the architecture is read off the keys, not the file name.

Recognised: SRVGGNetCompact (``body.N`` with PReLU vectors), BasicSR RRDBNet (``conv_first``, ``body.N.rdbK``), and
the two ESRGAN namings of the same RRDBNet (``RRDB_trunk...`` and the pre-2019 ``model.1.sub...``).
"""

from __future__ import annotations

from os import PathLike

from torch import nn

from ml_models.checkpoints import load_strict, read_state_dict
from ml_models.errors import CheckpointError
from ml_models.rrdbnet import RRDBNet, to_basicsr_keys
from ml_models.srvgg import SRVGGNetCompact


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
