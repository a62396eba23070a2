"""RRDBNet, the ESRGAN / Real-ESRGAN x4 generator (Wang et al., arXiv 1809.00219 and 2107.10833), BasicSR names.

Residual-in-residual dense blocks without batch norm: each dense block concatenates all previous feature maps, each
residual is scaled by 0.2 for stable training of a deep trunk. The same tensors have been published under three
naming schemes; ``to_basicsr_keys`` maps the two ESRGAN ones onto BasicSR's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        for j in range(1, 5):
            setattr(self, f"conv{j}", nn.Conv2d(num_feat + (j - 1) * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(_lrelu(conv(torch.cat(feats, 1))))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """x4 super-resolution; RGB in [0, 1] -> RGB about [0, 1] at 4x the size (clamp afterwards)."""

    scale = 4

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))

    @classmethod
    def from_basicsr_state(cls, state: Mapping[str, Tensor]) -> RRDBNet:
        """An unloaded network whose sizes (blocks, widths, channels) are read off BasicSR-named keys."""
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
        first = state["conv_first.weight"]
        return cls(num_in_ch=first.shape[1], num_out_ch=state["conv_last.weight"].shape[0], num_feat=first.shape[0],
                   num_block=max(blocks) + 1 if blocks else 0,
                   num_grow_ch=state["body.0.rdb1.conv1.weight"].shape[0] if blocks else 32)


# ESRGAN (after June 2019) -> BasicSR; applied in order to every key.
_NEW_TO_BASICSR = (("RRDB_trunk.", "body."), (".RDB", ".rdb"), ("trunk_conv.", "conv_body."),
                   ("upconv", "conv_up"), ("HRconv.", "conv_hr."))
# Flattened pre-2019 ESRGAN Sequential: position of each top-level conv in ``model``.
_OLD_TOP = {"0": "conv_first", "3": "conv_up1", "6": "conv_up2", "8": "conv_hr", "10": "conv_last"}
_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)")
_OLD_TRUNK = re.compile(r"model\.1\.sub\.(\d+)\.(weight|bias)")
_OLD_TOP_RE = re.compile(r"model\.(\d+)\.(weight|bias)")


def _old_key(key: str) -> str:
    if m := _OLD_RDB.fullmatch(key):
        return f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"
    if m := _OLD_TRUNK.fullmatch(key):  # the conv after the last block closes the trunk
        return f"conv_body.{m[2]}"
    if (m := _OLD_TOP_RE.fullmatch(key)) and m[1] in _OLD_TOP:
        return f"{_OLD_TOP[m[1]]}.{m[2]}"
    return key  # left as is: the strict load will name it


def to_basicsr_keys(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an old (``model.1.sub...``) or new (``RRDB_trunk...``) ESRGAN state dict to BasicSR names.

    BasicSR-named dicts pass through unchanged; tensors are shared, not copied.
    """
    if any(k.startswith("model.1.sub.") for k in state):
        return {_old_key(k): v for k, v in state.items()}
    if any(k.startswith("RRDB_trunk.") for k in state):
        renamed = {}
        for key, value in state.items():
            for old, new in _NEW_TO_BASICSR:
                key = key.replace(old, new)
            renamed[key] = value
        return renamed
    return dict(state)
