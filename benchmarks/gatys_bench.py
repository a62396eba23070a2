"""Gatys' precision on the genuine VGG weights, and how soon the engine's fast path reaches a plain fp32 result.

*One step's work*: the fast path's loss gradient against fp32's at the same image (whole optimisations cannot be
compared pixel by pixel: L-BFGS amplifies any difference).

*Convergence*: the bar is the final loss of ``ref_steps`` single-scale fp32 L-BFGS iterations on an NCHW VGG, its time
the budget. The engine's coarse-to-fine schedule then runs on the fast path (its last scale until the bar or the
budget); each full-size iterate is re-scored with the fp32 objective on the reference VGG, outside the timed part.
Everything goes through ``ml_models.gatys``' public API.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.cases import CPU, SUBSET_VGG, fast_dtype, gatys_objective, load_vgg, place
from ml_models import gatys
from ml_models.errors import Cancelled
from ml_models.vgg import VGG19


def gradient_fidelity(vgg_ref: VGG19, vgg_fast: VGG19, dtype: torch.dtype, content: Tensor, style: Tensor,
                      config: gatys.GatysConfig, points: dict[str, Tensor]) -> dict:
    """At each of ``points``, the fast path's loss gradient against fp32's: PSNR against the fp32 gradient's peak,
    relative L2 error and cosine."""
    def gradient(vgg: VGG19, precision: torch.dtype, image: Tensor) -> Tensor:
        x = image.detach().float().clone().requires_grad_(True)
        gatys_objective(vgg, precision, content, style, config)(x)[0].backward()
        return x.grad.float()

    out = {}
    for name, image in points.items():
        ref, fast = gradient(vgg_ref, torch.float32, image), gradient(vgg_fast, dtype, image)
        error = fast - ref
        out[name] = {"psnr_db": float(10 * torch.log10(ref.abs().max() ** 2 / error.pow(2).mean())),
                     "rel_l2": float(error.norm() / ref.norm()),
                     "cosine": float(F.cosine_similarity(fast.flatten(), ref.flatten(), dim=0))}
    return out


def _vgg_pair(weights_dir: Path) -> tuple[VGG19, VGG19, torch.dtype, str]:
    """The genuine conv1_1..conv3_1 VGG (where present) on both paths: (ref, fast, fast dtype, weights)."""
    vgg, source = load_vgg(weights_dir, "subset")
    return place(vgg, "ref"), place(load_vgg(weights_dir, "subset")[0], "fast"), fast_dtype("gatys"), source


def step_fidelity(weights_dir: Path, content: Tensor, style: Tensor) -> dict:
    """The loss gradient of one step at the photo, fast against fp32."""
    vgg_ref, vgg_fast, dtype, source = _vgg_pair(weights_dir)
    config = gatys.GatysConfig(scales=(1.0,), steps=(1,))
    scored = gradient_fidelity(vgg_ref, vgg_fast, dtype, content, style, config, {"photo": content})["photo"]
    weights = "genuine VGG conv1_1..conv3_1" if source == SUBSET_VGG else source
    return {**scored, "basis": f"the loss gradient of one step at the photo ({weights}; against the fp32 peak)"}


def convergence(weights_dir: Path, content: Tensor, style: Tensor, ref_steps: int) -> dict:
    """Time for the engine's fast path and standard schedule to reach the fp32 single-scale reference's final loss."""
    vgg_ref, vgg_fast, dtype, source = _vgg_pair(weights_dir)
    ref_config = gatys.GatysConfig(scales=(1.0,), steps=(ref_steps,))
    started = time.perf_counter()
    ref = gatys.stylize(vgg_ref, content, [style], config=ref_config, device=CPU, dtype=torch.float32)
    budget, bar = time.perf_counter() - started, ref.final_loss
    exact = gatys_objective(vgg_ref, torch.float32, content, style, ref_config)

    @torch.no_grad()
    def score(image: Tensor) -> float:
        return float(exact(image.detach().float().clamp(0.0, 1.0).contiguous())[0])

    base = gatys.GatysConfig.from_quality("standard")
    config = gatys.GatysConfig(scales=base.scales, steps=(*base.steps[:-1], 10 * ref_steps))
    state: dict = {"image": None, "scoring_s": 0.0, "last": None, "reached": None}
    hook = vgg_fast.register_forward_pre_hook(lambda module, args: state.__setitem__("image", args[0]))

    def progress(done: int, total: int) -> None:  # the optimiser updates the picture the VGG last saw in place
        now, image = time.perf_counter(), state["image"]
        if image is None or image.shape[1] != 3 or tuple(image.shape[-2:]) != tuple(content.shape[-2:]):
            return
        elapsed, loss = now - started - state["scoring_s"], score(image)
        state["scoring_s"] += time.perf_counter() - now
        state["last"] = {"step": done, "seconds": elapsed, "loss": loss}
        if loss <= bar and elapsed <= budget and state["reached"] is None:
            state["reached"] = state["last"]

    def cancelled() -> bool:
        return state["reached"] is not None or time.perf_counter() - started - state["scoring_s"] > budget

    started = time.perf_counter()
    try:
        gatys.stylize(vgg_fast, content, [style], config=config, device=CPU, dtype=dtype, progress=progress,
                      cancelled=cancelled)
    except Cancelled:
        pass
    finally:
        hook.remove()
    reached = state["reached"]
    return {"size": list(content.shape[-2:]), "vgg": source, "precision": str(dtype).removeprefix("torch."),
            "schedule": {"scales": list(base.scales), "steps": [*base.steps[:-1], "until the bar"]},
            "reference": {"steps": ref_steps, "seconds": budget, "final_loss": bar, "rescored_fp32": score(ref.image)},
            "reached": reached, "last_scored": state["last"], "scoring_excluded_s": state["scoring_s"],
            "ratio": reached["seconds"] / budget if reached else None,
            "gradient_fidelity": gradient_fidelity(vgg_ref, vgg_fast, dtype, content, style, ref_config,
                                                   {"photo": content, "reference's result": ref.image})}
