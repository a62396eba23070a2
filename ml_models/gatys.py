"""Neural style transfer by image optimisation (Gatys, Ecker & Bethge, arXiv 1508.06576).

The picture itself is the parameter: starting from the content photo, L-BFGS (or Adam) changes pixels until the VGG-19
features at a deep layer still match the photo (content loss) while the Gram matrices (channel correlations) at
several layers match the style image's (style loss); a small total-variation term keeps high-frequency noise down.

Two practical additions from the follow-up work of the same authors (arXiv 1606.05897, "Controlling perceptual
factors"): *colour preservation* by optimising only the luminance (the style's luminance first matched to the
content's mean and spread, the content's chroma put back at the end), and a *coarse-to-fine* schedule that optimises
a small version first and upsamples it as the start of the next scale, which places the large brush structures cheaply
and lets the expensive full-size steps only refine them.

Gradients flow through VGG here, so there is no inference mode; the VGG forward may run under bf16/fp16 autocast,
while the image, the optimiser state, the Gram matrices and every loss stay fp32 (and conv1_1 sees the image at about
fp32 accuracy: ``ml_models.vgg._SplitFirstConv``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ml_models import device as dev
from ml_models import families, images
from ml_models.api import CancelledFn, ProgressFn
from ml_models.device import autocast
from ml_models.errors import BadRequest, Cancelled
from ml_models.vgg import VGG19

CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# What the 2 MB conv1_1..conv3_1 file supports: the deepest layers it has.
SUBSET_CONTENT_LAYERS = ("relu3_1",)
SUBSET_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")

# quality -> (fractions of the target side, steps at each). The small scales are cheap (a quarter of the pixels per
# halving), so most of the step count goes there; the full size only refines.
QUALITY_PRESETS: dict[str, tuple[tuple[float, ...], tuple[int, ...]]] = {
    "fast": ((0.5, 1.0), (40, 20)),
    "standard": ((0.25, 0.5, 1.0), (60, 60, 40)),
    "high": ((0.25, 0.5, 1.0), (100, 100, 100)),
}
MIN_SCALE_SIDE = 64  # below this VGG's pooled maps are too small for meaningful Gram matrices

_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, the YIQ/YCbCr luma the follow-up paper uses


@dataclass(frozen=True)
class GatysConfig:
    """Loss weights and the optimisation schedule. ``style_weight`` multiplies Gram MSEs normalised by C*H*W."""

    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 1e-4
    optimizer: str = "lbfgs"  # lbfgs | adam
    scales: tuple[float, ...] = QUALITY_PRESETS["standard"][0]
    steps: tuple[int, ...] = QUALITY_PRESETS["standard"][1]
    preserve_colors: bool = False
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    adam_lr: float = 0.02  # pixels are in [0, 1]
    lbfgs_history: int = 50

    @classmethod
    def from_quality(cls, quality: str = "standard", total_steps: int = 0, **kwargs) -> GatysConfig:
        """A preset's schedule; ``total_steps`` > 0 keeps its shape and rescales the count (at least 1 per scale)."""
        if quality not in QUALITY_PRESETS:
            raise BadRequest(message=f"unknown Gatys quality {quality!r}; known: {', '.join(QUALITY_PRESETS)}")
        scales, steps = QUALITY_PRESETS[quality]
        if total_steps > 0:
            scales, steps = _split_steps(scales, steps, total_steps)
        return cls(scales=scales, steps=steps, **kwargs)


def _split_steps(scales: tuple[float, ...], shape: Sequence[int], total: int
                 ) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Distribute ``total`` steps in proportion to ``shape``; with fewer steps than scales the coarsest go first."""
    while len(shape) > 1 and total < len(shape):
        scales, shape = scales[1:], shape[1:]
    raw = [total * s / sum(shape) for s in shape]
    steps = [max(1, math.floor(r)) for r in raw]
    steps[-1] += total - sum(steps)
    return tuple(scales), tuple(steps)


@dataclass
class GatysResult:
    image: Tensor  # (1, 3, H, W) float32 RGB in [0, 1] on the CPU
    final_loss: float  # total loss of the returned image at the final scale
    losses: list[float] = field(default_factory=list)  # total loss at every step
    notes: list[str] = field(default_factory=list)
    content_layers: tuple[str, ...] = ()
    style_layers: tuple[str, ...] = ()
    steps: int = 0


_GRAM_ROWS = 256  # pixels per bf16 partial product
_GRAM_PARTS = 256  # at least this many partials (the error falls as 1/sqrt(n)); smaller maps widen to fp32


def _bf16_gram(rows: Tensor) -> Tensor:
    """Fᵀ F of a bf16 (N, HW, C) map as an fp32 sum of bf16 partial products over 256 pixels each.

    torch's CPU matmul rounds its bf16 output to bf16, an error of the order of the style residual near convergence.
    Rounding many partial sums instead and adding them in fp32 keeps the Gram accurate and skips widening the large
    early maps to fp32; maps with fewer than ``_GRAM_PARTS`` partials are widened (cheap, and fewer partials cost
    accuracy). Numbers: docs/performance.md.
    """
    n, hw, c = rows.shape
    whole = hw - hw % _GRAM_ROWS
    parts = rows[:, :whole].reshape(-1, _GRAM_ROWS, c)
    gram = torch.bmm(parts.transpose(1, 2), parts).view(n, -1, c, c).sum(1, dtype=torch.float32)
    if whole < hw:
        tail = rows[:, whole:].float()
        gram.baddbmm_(tail.transpose(1, 2), tail)
    return gram


class _Gram(torch.autograd.Function):
    """G = F Fᵀ / norm in fp32 whatever F's dtype, with the backward written out: dL/dF = ((g + gᵀ) / norm) F.

    Autograd's backward for ``bmm(F, Fᵀ)`` runs two (C x C) @ (C x HW) products and adds them; this is one. The Gram
    is fp32 (a bf16 one biases the style loss, a small difference of Gram entries), but the backward runs in F's own
    dtype: the gradient reaching F is rounded to it anyway, and so F's gradient is never widened and narrowed back.

    ``flat`` is (N, C, HW) for an NCHW map or (N, HW, C) for an NHWC one (``channels_first``): both are views of the
    map, so the gradient comes back in the map's own layout; reshaping an NHWC map to (N, C, HW) would copy it and
    make the following backward ops run across layouts.
    """

    @staticmethod
    def forward(ctx, flat: Tensor, norm: float, channels_first: bool) -> Tensor:
        ctx.save_for_backward(flat)
        ctx.norm, ctx.channels_first = norm, channels_first
        if flat.dtype == torch.bfloat16 and not channels_first and flat.shape[1] >= _GRAM_ROWS * _GRAM_PARTS:
            return _bf16_gram(flat).div_(norm)
        wide = flat.float()
        pair = (wide, wide.transpose(1, 2)) if channels_first else (wide.transpose(1, 2), wide)
        return torch.baddbmm(wide.new_empty(()), *pair, beta=0.0, alpha=1.0 / norm)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        (flat,) = ctx.saved_tensors
        factor = (grad + grad.transpose(1, 2)) / ctx.norm  # symmetric, so F @ factor is the NHWC form of factor @ F
        if flat.dtype == torch.float16:  # the factor (~1e-6) would be subnormal in fp16; bf16 has fp32's range
            feats = flat.float()
        else:
            factor, feats = factor.to(flat.dtype), flat
        out = torch.bmm(factor, feats) if ctx.channels_first else torch.bmm(feats, factor)
        return out.to(flat.dtype), None, None


class _ContentLoss(torch.autograd.Function):
    """mean((F - target)²) in fp32, with a gradient in F's own dtype and layout.

    ``F.mse_loss(feat.float(), target)`` would send an fp32 gradient back, which autograd then adds to the Gram's
    bf16 one at the same layer and narrows again.
    """

    @staticmethod
    def forward(ctx, feat: Tensor, target: Tensor) -> Tensor:
        diff = feat.float() - target
        ctx.save_for_backward(diff)
        ctx.dtype = feat.dtype
        return torch.linalg.vector_norm(diff).square() / diff.numel()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (diff,) = ctx.saved_tensors
        return (diff * (2.0 * grad / diff.numel())).to(ctx.dtype), None


def content_loss(feat: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference of a feature map from the (fp32) target, as ``F.mse_loss`` gives it."""
    return _ContentLoss.apply(feat, target)


def gram_matrix(feat: Tensor) -> Tensor:
    """Channel correlations (N, C, C) of a feature map, normalised by C*H*W so the scale is size-independent.

    Always fp32 (bf16 features are widened inside, or summed in fp32 from partial products): the style loss is a
    small difference of Gram entries.
    """
    n, c, h, w = feat.shape
    norm = float(c * h * w)
    if c > 1 and not feat.is_contiguous() and feat.is_contiguous(memory_format=torch.channels_last):
        return _Gram.apply(feat.permute(0, 2, 3, 1).reshape(n, h * w, c), norm, False)
    return _Gram.apply(feat.reshape(n, c, h * w), norm, True)


def total_variation(img: Tensor) -> Tensor:
    """Mean squared neighbour difference, scaled by 1e4 (about 75 on a 256 px photo, a few hundred on a stylised one).

    A mean, not a sum, so ``tv_weight`` means the same at every scale of the schedule. The default 1e-4 changes
    nothing visible; 1e-2 smooths slightly, 1e-1 clearly.
    """
    dy = (img[..., 1:, :] - img[..., :-1, :]).pow(2).mean()
    dx = (img[..., :, 1:] - img[..., :, :-1]).pow(2).mean()
    return (dx + dy) * 1e4


def luminance(rgb: Tensor) -> Tensor:
    r, g, b = rgb.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def recombine_luminance(y: Tensor, content_rgb: Tensor) -> Tensor:
    """Put new luminance ``y`` (N,1,H,W) under the content's chroma: RGB + (y - Y(content)) keeps Cb/Cr exactly."""
    return (content_rgb + (y - luminance(content_rgb))).clamp(0.0, 1.0)


def match_luminance(style_y: Tensor, content_y: Tensor) -> Tensor:
    """Affine map of the style's luminance onto the content's mean and standard deviation."""
    s_mean, s_std = style_y.mean(), style_y.std().clamp_min(1e-5)
    c_mean, c_std = content_y.mean(), content_y.std()
    return ((style_y - s_mean) / s_std * c_std + c_mean).clamp(0.0, 1.0)


def choose_layers(vgg: VGG19, content_layers: Sequence[str], style_layers: Sequence[str]
                  ) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """The requested layers where the loaded VGG has them; otherwise the subset's deepest ones, with a note."""
    available = set(vgg.available_layers)
    notes: list[str] = []
    content = tuple(layer for layer in content_layers if layer in available)
    style = tuple(layer for layer in style_layers if layer in available)
    if len(content) < len(content_layers):
        content = tuple(layer for layer in SUBSET_CONTENT_LAYERS if layer in available) or (vgg.available_layers[-1],)
    if len(style) < len(style_layers):
        style = tuple(layer for layer in SUBSET_STYLE_LAYERS if layer in available) or tuple(vgg.available_layers)
    if (content, style) != (tuple(content_layers), tuple(style_layers)):
        notes.append(
            f"VGG-19 weights provide only {', '.join(vgg.available_layers)}: using content {', '.join(content)} "
            f"and style {', '.join(style)} instead of content {', '.join(content_layers)} and style "
            f"{', '.join(style_layers)} (download the full VGG-19 for deeper, larger-scale style)")
    return content, style, notes


def _resize(img: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(img.shape[-2:]) == size:
        return img
    return F.interpolate(img, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0.0, 1.0)


def _resize_signed(delta: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(delta, size=size, mode="bicubic", align_corners=False)


def _scale_size(height: int, width: int, fraction: float) -> tuple[int, int]:
    return max(1, round(height * fraction)), max(1, round(width * fraction))


class Objective:
    """The Gatys loss at one scale, its targets computed once from the content and the (weighted) styles.

    ``objective(image)`` gives (total loss, {"content", "style", "tv"}) for an image of the content's size, with a
    gradient; the VGG forward runs under ``dtype`` autocast, the targets and losses stay fp32. Benchmarks score and
    step with it exactly as ``stylize`` does.
    """

    def __init__(self, vgg: VGG19, device: torch.device, dtype: torch.dtype, content: Tensor,
                 styles: Sequence[Tensor], style_weights: Sequence[float], config: GatysConfig,
                 content_layers: tuple[str, ...], style_layers: tuple[str, ...]) -> None:
        self.vgg, self.device, self.dtype, self.config = vgg, device, dtype, config
        self.content_layers, self.style_layers = content_layers, style_layers
        with torch.no_grad():
            feats = self._features(content)
            self.content_targets = {k: feats[k].float() for k in content_layers}
            total = float(sum(style_weights))
            self.gram_targets = {k: torch.zeros(1, feats[k].shape[1], feats[k].shape[1], device=device)
                                 for k in style_layers}
            for style, weight in zip(styles, style_weights, strict=True):
                style_feats = self._features(style)
                for k in style_layers:
                    self.gram_targets[k] += weight / total * gram_matrix(style_feats[k])

    def _features(self, img: Tensor) -> dict[str, Tensor]:
        if img.shape[1] == 1:  # luminance-only optimisation: VGG sees a grey RGB image
            img = img.expand(-1, 3, -1, -1)
        with autocast(self.device, self.dtype):
            return self.vgg(img, list(dict.fromkeys(self.content_layers + self.style_layers)))

    def __call__(self, img: Tensor) -> tuple[Tensor, dict[str, float]]:
        feats = self._features(img)
        cfg = self.config
        content = sum(content_loss(feats[k], self.content_targets[k]) for k in self.content_layers)
        style = sum(F.mse_loss(gram_matrix(feats[k]), self.gram_targets[k])
                    for k in self.style_layers) / len(self.style_layers)
        tv = total_variation(img)
        loss = cfg.content_weight * content + cfg.style_weight * style + cfg.tv_weight * tv
        parts = {"content": float(content.detach()), "style": float(style.detach()), "tv": float(tv.detach())}
        return loss, parts


def stylize(vgg: VGG19, content: Tensor, styles: Sequence[Tensor], style_weights: Sequence[float] | None = None,
            config: GatysConfig | None = None, device: torch.device | None = None,
            dtype: torch.dtype = torch.float32, progress: ProgressFn | None = None,
            cancelled: CancelledFn | None = None) -> GatysResult:
    """Optimise an image that has ``content``'s structure and the (weighted) Gram statistics of ``styles``.

    ``content`` (1,3,H,W) and each style (1,3,h,w) are RGB in [0, 1]; the result has the content's size.
    ``progress(done, total)`` follows every optimiser step over all scales; ``cancelled()`` is polled before each.
    """
    config = config or GatysConfig()
    device = device or next(vgg.parameters()).device
    if not styles:
        raise BadRequest(message="Gatys needs at least one style image")
    weights = list(style_weights) if style_weights else [1.0] * len(styles)
    if len(weights) != len(styles) or sum(weights) <= 0 or min(weights) < 0:
        raise BadRequest(message="style weights must be non-negative, as many as the styles, with a positive sum")
    if config.optimizer not in ("lbfgs", "adam"):
        raise BadRequest(message=f"unknown optimiser {config.optimizer!r}; use lbfgs or adam")
    content_layers, style_layers, notes = choose_layers(vgg, config.content_layers, config.style_layers)

    content = content.to(device=device, dtype=torch.float32)
    styles = [s.to(device=device, dtype=torch.float32) for s in styles]
    height, width = content.shape[-2:]
    plan = schedule(config, height, width)
    total = sum(n for _, n in plan)

    if config.preserve_colors:
        content_y = luminance(content)
        targets_content = content_y
        targets_styles = [match_luminance(luminance(s), content_y) for s in styles]
    else:
        targets_content, targets_styles = content, styles

    image: Tensor | None = None
    previous_content: Tensor | None = None
    losses: list[float] = []
    done = 0
    objective: Objective | None = None
    for fraction, n_steps in plan:
        size = _scale_size(height, width, fraction)
        scaled_content = _resize(targets_content, size)
        scaled_styles = [fit_style(s, size) for s in targets_styles]
        objective = Objective(vgg, device, dtype, scaled_content, scaled_styles, weights, config,
                              content_layers, style_layers)
        if image is None or previous_content is None:
            start = scaled_content
        else:
            # Carry over what the previous scale *changed*, not its blurry pixels: the upsampled difference added
            # to this scale's sharp content keeps the fine detail that plain upsampling would wash out.
            start = (scaled_content + _resize_signed(image - previous_content, size)).clamp(0.0, 1.0)
        previous_content = scaled_content
        image = start.detach().clone().requires_grad_(True)
        step = make_stepper(config, image, objective)
        for _ in range(n_steps):
            if cancelled is not None and cancelled():
                raise Cancelled(message="Gatys optimisation cancelled", done=done, total=total)
            losses.append(step())
            done += 1
            if progress is not None:
                progress(done, total)
        image = image.detach().clamp_(0.0, 1.0)

    assert image is not None and objective is not None
    with torch.no_grad():
        final_loss = float(objective(image)[0])
    result = recombine_luminance(image, content) if config.preserve_colors else image
    return GatysResult(result.float().cpu(), final_loss, losses, notes, content_layers, style_layers, total)


def schedule(config: GatysConfig, height: int, width: int) -> list[tuple[float, int]]:
    """(fraction of the full size, steps) per scale for a ``height`` x ``width`` picture.

    Scales whose long side would be under ``MIN_SCALE_SIDE`` are skipped and their steps go to the next scale, so
    the step count is kept; the last scale must be the full size.
    """
    if len(config.scales) != len(config.steps) or not config.scales:
        raise BadRequest(message="Gatys schedule needs one step count per scale")
    if config.scales[-1] != 1.0:
        raise BadRequest(message="the last Gatys scale must be 1.0 (the full size)")
    side = max(height, width)
    plan: list[tuple[float, int]] = []
    carry = 0
    for fraction, n_steps in zip(config.scales, config.steps, strict=True):
        if fraction < 1.0 and side * fraction < MIN_SCALE_SIDE:
            carry += n_steps
            continue
        if n_steps + carry > 0:
            plan.append((fraction, n_steps + carry))
        carry = 0
    return plan or [(1.0, 1)]


def fit_style(style: Tensor, content_size: tuple[int, int]) -> Tensor:
    """The style scaled so its longer side equals the content's: Gram statistics are scale-dependent, so the brush
    strokes keep their size relative to the picture at every scale."""
    h, w = style.shape[-2:]
    factor = max(content_size) / max(h, w)
    return _resize(style, (max(1, round(h * factor)), max(1, round(w * factor))))


def make_stepper(config: GatysConfig, image: Tensor, objective: Objective) -> Callable[[], float]:
    """A function that runs one optimiser iteration on ``image`` (a leaf tensor with ``requires_grad``) and returns
    the loss: one forward and backward, for L-BFGS (no line search) and Adam alike."""
    if config.optimizer == "adam":
        adam = torch.optim.Adam([image], lr=config.adam_lr)

        def adam_step() -> float:
            adam.zero_grad(set_to_none=True)
            loss, _ = objective(image)
            loss.backward()
            adam.step()
            with torch.no_grad():
                image.clamp_(0.0, 1.0)
            return float(loss.detach())

        return adam_step

    # L-BFGS keeps its curvature history in optimizer state across step() calls, so max_iter=1 per call is the same
    # optimisation as one long call, with a cancellation/progress point after every iteration.
    lbfgs = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=config.lbfgs_history,
                              tolerance_grad=0.0, tolerance_change=0.0)

    def closure() -> Tensor:
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        lbfgs.zero_grad(set_to_none=True)
        loss, _ = objective(image)
        loss.backward()
        if image.grad is not None and not image.grad.is_contiguous():  # channels_last convs; LBFGS needs .view(-1)
            image.grad = image.grad.contiguous()
        return loss

    def lbfgs_step() -> float:
        return float(lbfgs.step(closure).detach())

    return lbfgs_step


def style_weight_for(base: float, strength: float) -> float:
    """Strength to style weight. The result changes with the *order of magnitude* of the weight, so a linear map
    would make the lower half of the slider look the same; the square spreads it (0.5 -> a quarter of the weight)."""
    return float(base) * float(strength) ** 2


class GatysFamily(families.StyleFamily):
    """Optimises the picture through VGG-19; strength scales the style weight of the loss, colour preservation
    happens inside the optimisation (luminance only)."""

    def load(self, paths: Sequence[Path]) -> VGG19:
        return VGG19.load(paths[0])

    def precision(self, device: torch.device, setting: str = "auto") -> torch.dtype:
        """The device's precision, except fp16: its gradients underflow in the Gram backward, and bf16 (where the GPU
        has it) keeps fp32's range."""
        dtype = dev.precision_for(device, setting)
        if dtype == torch.float16:
            return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        return dtype

    def prepare(self, job: families.Job) -> families.Stylise:
        options = job.options
        style_weight = style_weight_for(options.get("style_weight", 1e6), job.strength)
        config = GatysConfig.from_quality(
            options.get("quality", "standard"), int(options.get("steps", 0) or 0),
            content_weight=float(options.get("content_weight", 1.0)), style_weight=style_weight,
            tv_weight=float(options.get("tv_weight", 1e-4)), optimizer=options.get("optimizer", "lbfgs"),
            preserve_colors=bool(options.get("preserve_colors", False)))

        def stylise(rgb: np.ndarray) -> np.ndarray:
            if style_weight <= 0:
                job.notes.append("strength 0: the content photo is returned unchanged")
                if job.progress is not None:
                    job.progress(1, 1)
                return rgb.copy()
            # Styles at the content's side: Gram statistics depend on scale, so strokes keep their size.
            styles = [families.to_tensor(images.fit(s, max(rgb.shape[:2]))) for s in job.styles]
            result = stylize(job.net, families.to_tensor(rgb), styles, job.style_weights, config, job.device,
                             job.dtype, job.progress, job.cancelled)
            job.notes.extend(result.notes)
            job.notes.append(f"gatys: {result.steps} {config.optimizer} steps over scales "
                             f"{', '.join(f'{s:g}' for s in config.scales)}, final loss {result.final_loss:.4g}")
            return families.to_uint8(families.to_array(result.image))

        return stylise


FAMILY = GatysFamily()
