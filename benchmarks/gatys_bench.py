"""Gatys: the cost of one optimisation step, and how soon the engine's path gets as good as a plain fp32 one.

*Per step*: ``gatys.stylize`` on one full-size scale, the time between consecutive progress callbacks (one L-BFGS
iteration: a VGG forward and backward plus the loss) after the first. FLOPs per step are twice a counted VGG forward
(the backward computes input gradients only, the same multiply-adds).

*Convergence*: the bar is the final loss of ``steps`` single-scale fp32 L-BFGS iterations on an NCHW VGG, its time
the budget. The engine's coarse-to-fine schedule then runs on the fast path (its last scale until the bar or the
budget); every full-size iterate is re-scored with an exact fp32 copy of the objective, outside the timed part.
Everything goes through ``ml_models.gatys``' public API (``stylize``, ``Objective``, ``fit_style``,
``make_stepper``).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.cases import CPU, fast_dtype
from benchmarks.flops import counting
from ml_models import device as engine_device
from ml_models import gatys
from ml_models.errors import Cancelled
from ml_models.vgg import VGG19

FULL_VGG = "vgg19/vgg19-features.pth"
SUBSET_VGG = "vgg19/vgg19_first_five_conv_layers.pth"


def load_vgg(weights_dir: Path, prefer: str) -> tuple[VGG19, str]:
    """``prefer`` is "full" (the production file, random here) or "subset" (the genuine conv1_1..conv3_1 file)."""
    order = (FULL_VGG, SUBSET_VGG) if prefer == "full" else (SUBSET_VGG, FULL_VGG)
    for rel in order:
        path = Path(weights_dir) / rel
        if path.is_file():
            return VGG19.load(path), rel
    torch.manual_seed(0)
    return VGG19(), "random VGG19() (no weight file)"


def _place(vgg: VGG19, path: str) -> tuple[VGG19, torch.dtype]:
    if path == "fast":
        dtype = fast_dtype("gatys")
        return engine_device.prepare(vgg, CPU), dtype
    vgg.eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    return vgg, torch.float32


def forward_flops(vgg: VGG19, image: Tensor, config: gatys.GatysConfig) -> tuple[float, tuple, tuple]:
    """GFLOP of one VGG forward as the objective calls it (up to the deepest layer in use)."""
    content_layers, style_layers, _ = gatys.choose_layers(vgg, config.content_layers, config.style_layers)
    with torch.no_grad(), counting(vgg) as count:
        vgg(image, list(dict.fromkeys(content_layers + style_layers)))
    return count.gflop, content_layers, style_layers


def step_case(weights_dir: Path, content: Tensor, style: Tensor, path: str, steps: int,
              budget_s: float) -> dict:
    """Per-step time of single-scale L-BFGS at ``content``'s size; stops early (at least 2 steps) over budget."""
    vgg, source = load_vgg(weights_dir, "full")
    vgg, dtype = _place(vgg, path)
    config = gatys.GatysConfig(scales=(1.0,), steps=(max(2, steps),))
    gflop_fwd, content_layers, style_layers = forward_flops(vgg, content, config)
    stamps: list[float] = []
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        stamps.append(time.perf_counter())

    def cancelled() -> bool:
        return len(stamps) >= 2 and time.perf_counter() - started > budget_s

    image = None
    try:
        result = gatys.stylize(vgg, content, [style], config=config, device=CPU, dtype=dtype,
                               progress=progress, cancelled=cancelled)
        image = result.image
    except Cancelled:
        pass
    intervals = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"weights": f"{source} ({'genuine' if source == SUBSET_VGG else 'random, official layout'})",
            "first_s": stamps[0] - started if stamps else None, "times": intervals,
            "gflop_per_step": 2.0 * gflop_fwd, "layers": {"content": content_layers, "style": style_layers},
            "image": image, "dtype": str(dtype).removeprefix("torch.")}


def stepper(weights_dir: Path, content: Tensor, style: Tensor, path: str):
    """One single-scale L-BFGS iteration per call on ``path``'s VGG, as ``step_case`` times them in ``stylize``."""
    vgg, _ = load_vgg(weights_dir, "full")
    vgg, dtype = _place(vgg, path)
    config = gatys.GatysConfig(scales=(1.0,), steps=(1,))
    objective = _objective(vgg, dtype, content, style, config)
    return gatys.make_stepper(config, content.clone().requires_grad_(True), objective)


def _objective(vgg: VGG19, dtype: torch.dtype, content: Tensor, style: Tensor,
               config: gatys.GatysConfig) -> gatys.Objective:
    """The engine's objective at ``content``'s size, the style fitted as ``stylize`` fits it."""
    layers = gatys.choose_layers(vgg, config.content_layers, config.style_layers)[:2]
    return gatys.Objective(vgg, CPU, dtype, content, [gatys.fit_style(style, tuple(content.shape[-2:]))], [1.0],
                           config, *layers)


class Fp32Objective:
    """The engine's total loss in exact fp32 on a private NCHW copy of the VGG (for scoring fast iterates only)."""

    def __init__(self, vgg: VGG19, content: Tensor, style: Tensor, config: gatys.GatysConfig) -> None:
        copy = VGG19(depth=len(vgg.features) - 1)
        copy.load_state_dict({k: v.float().contiguous() for k, v in vgg.state_dict().items()})
        self.objective = _objective(copy.eval().requires_grad_(False), torch.float32, content, style, config)
        self.content_layers, self.style_layers = self.objective.content_layers, self.objective.style_layers

    @torch.no_grad()
    def __call__(self, image: Tensor) -> float:
        return float(self.objective(image.detach().float().clamp(0.0, 1.0).contiguous())[0])


def convergence(weights_dir: Path, content: Tensor, style: Tensor, ref_steps: int,
                quality: str = "standard") -> dict:
    """Time for the engine's fast path and schedule to reach the fp32 single-scale reference's final loss.

    The fast run gets the reference's time; its last scale runs until the bar or that time, whichever comes first.
    """
    vgg_ref, source = load_vgg(weights_dir, "subset")
    vgg_ref, _ = _place(vgg_ref, "ref")
    ref_config = gatys.GatysConfig(scales=(1.0,), steps=(ref_steps,))
    started = time.perf_counter()
    ref = gatys.stylize(vgg_ref, content, [style], config=ref_config, device=CPU, dtype=torch.float32)
    ref_seconds = time.perf_counter() - started
    scorer = Fp32Objective(vgg_ref, content, style, ref_config)
    bar = ref.final_loss

    base = gatys.GatysConfig.from_quality(quality)
    vgg_fast, dtype = _place(load_vgg(weights_dir, "subset")[0], "fast")
    fidelity = gradient_fidelity(vgg_ref, vgg_fast, dtype, content, style, ref_config,
                                 {"photo (the start)": content, "reference's final image": ref.image})
    config = gatys.GatysConfig(scales=base.scales, steps=(*base.steps[:-1], 10 * ref_steps))
    fast = _race(vgg_fast, dtype, content, style, scorer, config, bar, ref_seconds, sum(base.steps))
    return {
        "size": list(content.shape[-2:]), "vgg": f"{source} (genuine)" if source == SUBSET_VGG else source,
        "layers": {"content": list(scorer.content_layers), "style": list(scorer.style_layers)},
        "reference": {"steps": ref_steps, "seconds": ref_seconds, "final_loss": bar, "precision": "fp32",
                      "schedule": "single scale", "rescored_fp32": scorer(ref.image)},
        "fast": {"schedule": {"scales": list(base.scales), "steps": [*base.steps[:-1], "until the bar"]},
                 "precision": str(dtype).removeprefix("torch."), "layout": "NHWC", **fast},
        "ratio": fast["reached"]["seconds"] / ref_seconds if fast["reached"] else None,
        "gradient_fidelity": fidelity,
    }


def _race(vgg: VGG19, dtype: torch.dtype, content: Tensor, style: Tensor, scorer: Fp32Objective,
          config: gatys.GatysConfig, bar: float, budget_s: float, default_total: int) -> dict:
    """``gatys.stylize`` until its full-size iterate scores at or below ``bar`` or ``budget_s`` is spent.

    The optimiser updates the picture in place, so the VGG's forward pre-hook sees the iterate each step produced;
    scoring it (an fp32 forward) is excluded from the time.
    """
    full = tuple(content.shape[-2:])
    state: dict = {"image": None, "scored": [], "reached": None, "engine_default": None, "scoring_s": 0.0}
    hook = vgg.register_forward_pre_hook(lambda module, args: state.__setitem__("image", args[0]))

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        image = state["image"]
        if image is None or tuple(image.shape[-2:]) != full or image.shape[1] != 3:
            return
        loss = scorer(image)
        elapsed = now - started - state["scoring_s"]
        state["scoring_s"] += time.perf_counter() - now
        state["scored"].append((done, elapsed, loss))
        if done == default_total:
            state["engine_default"] = {"steps": done, "seconds": elapsed, "loss": loss}
        if loss <= bar and elapsed <= budget_s and state["reached"] is None:
            state["reached"] = {"step": done, "seconds": elapsed, "loss": loss}

    def cancelled() -> bool:
        return state["reached"] is not None or time.perf_counter() - started - state["scoring_s"] > budget_s

    started = time.perf_counter()
    try:
        gatys.stylize(vgg, content, [style], config=config, device=CPU, dtype=dtype, progress=progress,
                      cancelled=cancelled)
    except Cancelled:
        pass
    finally:
        hook.remove()
    last = state["scored"][-1] if state["scored"] else None
    return {"reached": state["reached"], "engine_default_schedule": state["engine_default"],
            "last_scored": {"step": last[0], "seconds": last[1], "loss": last[2]} if last else None,
            "scoring_excluded_s": state["scoring_s"]}


def step_fidelity(weights_dir: Path, content: Tensor, style: Tensor) -> dict:
    """What one step of the fast path computes, against fp32: the loss gradient at the photo, on the genuine
    conv1_1..conv3_1 weights where they are present (the full VGG here is random and its losses meaningless)."""
    vgg_ref, source = load_vgg(weights_dir, "subset")
    vgg_ref, _ = _place(vgg_ref, "ref")
    vgg_fast, dtype = _place(load_vgg(weights_dir, "subset")[0], "fast")
    config = gatys.GatysConfig(scales=(1.0,), steps=(1,))
    scored = gradient_fidelity(vgg_ref, vgg_fast, dtype, content, style, config, {"photo": content})["photo"]
    weights = "genuine VGG conv1_1..conv3_1" if source == SUBSET_VGG else source
    return {**scored, "vgg": source,
            "basis": f"the loss gradient of one step at the photo, fast vs fp32 ({weights}; PSNR against the fp32 "
                     "gradient's peak)"}


def gradient_fidelity(vgg_ref: VGG19, vgg_fast: VGG19, dtype: torch.dtype, content: Tensor, style: Tensor,
                      config: gatys.GatysConfig, points: dict[str, Tensor]) -> dict:
    """The fast path's loss gradient against fp32's at the same images: what one Gatys step actually computes.

    Whole optimisations cannot be compared pixel by pixel (L-BFGS amplifies any difference), so this is the
    per-step fidelity of the fast VGG forward and backward, on the genuine weights. PSNR is against the peak of the
    fp32 gradient; also the relative L2 error and the cosine between the two gradients.
    """
    content_layers, style_layers, _ = gatys.choose_layers(vgg_ref, config.content_layers, config.style_layers)

    def gradient(vgg: VGG19, precision: torch.dtype, image: Tensor) -> Tensor:
        objective = gatys.Objective(vgg, CPU, precision, content, [style], [1.0], config, content_layers,
                                    style_layers)
        x = image.detach().float().clone().requires_grad_(True)
        objective(x)[0].backward()
        return x.grad.float()

    out = {}
    for name, image in points.items():
        ref, fast = gradient(vgg_ref, torch.float32, image), gradient(vgg_fast, dtype, image)
        error = fast - ref
        out[name] = {"psnr_db": float(10 * torch.log10(ref.abs().max() ** 2 / error.pow(2).mean())),
                     "rel_l2": float(error.norm() / ref.norm()),
                     "cosine": float(F.cosine_similarity(fast.flatten(), ref.flatten(), dim=0))}
    return out
