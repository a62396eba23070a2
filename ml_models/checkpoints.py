"""Reading weight files and loading them strictly, with errors a person can act on.

Published checkpoints come in several containers: legacy (pre-zip) pickles, zip archives (also ones re-zipped by hand
under an odd folder name), dicts wrapping the weights under ``params_ema``/``params`` (BasicSR, Real-ESRGAN), and
state dicts saved from ``DataParallel`` whose keys start with ``module.``. ``read_state_dict`` flattens all of that
into one plain ``{key: tensor}`` dict, so each network module only has to know its own key layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from ml_models.errors import CheckpointError

StateDict = dict[str, torch.Tensor]

_WRAPPER_KEYS = ("params_ema", "params")  # the EMA weights are the ones BasicSR evaluates with
_PREFIX = "module."
_SHOWN = 6  # keys listed per category in an error message


def read_state_dict(path: str | PathLike[str]) -> StateDict:
    """Load a checkpoint on the CPU without executing pickled code and return its bare state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(message=f"{path}: weight file not found", file=str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(message=f"{path}: not a readable torch checkpoint ({exc})", file=str(path)) from exc
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise CheckpointError(message=f"{path}: holds a {type(obj).__name__}, not a state dict", file=str(path))
    state: StateDict = {}
    for key, value in obj.items():
        if key == "_metadata":
            continue
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                message=f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor", file=str(path))
        state[key.removeprefix(_PREFIX)] = value
    if not state:
        raise CheckpointError(message=f"{path}: the state dict is empty", file=str(path))
    return state


def _listing(keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | PathLike[str]) -> nn.Module:
    """``load_state_dict(strict=True)``, but a mismatch names the file and the keys/shapes that differ."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        parts = [f"{label}: {_listing(keys)}" for label, keys in
                 (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)) if keys]
        raise CheckpointError(
            message=f"{source}: does not fit {type(module).__name__}; " + "; ".join(parts),
            file=str(source), missing=missing[:_SHOWN], unexpected=unexpected[:_SHOWN],
            wrong_shape=wrong_shape[:_SHOWN])
    module.load_state_dict(state, strict=True)
    return module
