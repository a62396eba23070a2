"""Which Gatys schedule gets to the single-scale fp32 reference's loss soonest? A table of measured runs.

``python -m benchmarks.gatys_schedules [--size 256] [--ref-steps 300]`` (about 13 minutes at 256 px on 2 cores).

The reference is ``ref_steps`` single-scale fp32 L-BFGS iterations from the photo; its final loss is the bar and its
time the budget. Each schedule is a list of phases (scale, steps, precision); a phase at full size with precision
"fp32" after one in the fast precision is an fp32 finish. Phases hand their image on as the engine does (this scale's
photo plus the upsampled change), and L-BFGS starts afresh at every phase. Every full-size iterate is re-scored with an
exact fp32 copy of the objective, outside the timed part; a run stops at the bar or at the budget. Genuine VGG
conv1_1..conv3_1 where ``../shared`` has it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from benchmarks import cases
from benchmarks.common import DEFAULT_PHOTO, DEFAULT_STYLE, SHARED_WEIGHTS, load_photo, load_style
from benchmarks.gatys_bench import Fp32Objective, _place, load_vgg
from benchmarks.report import table
from ml_models import gatys

UNTIL_DONE = 1_000_000  # the last phase runs until the bar or the budget
SCHEDULES: dict[str, list[tuple[float, int, str]]] = {
    "fast single scale": [(1.0, UNTIL_DONE, "fast")],
    "fp32 coarse-to-fine 60/60": [(0.25, 60, "fp32"), (0.5, 60, "fp32"), (1.0, UNTIL_DONE, "fp32")],
    "fast coarse-to-fine 60/60": [(0.25, 60, "fast"), (0.5, 60, "fast"), (1.0, UNTIL_DONE, "fast")],
    "fast 60/60 + 40 full-size + fp32 finish": [(0.25, 60, "fast"), (0.5, 60, "fast"), (1.0, 40, "fast"),
                                               (1.0, UNTIL_DONE, "fp32")],
    "fast 60/60 + 100 full-size + fp32 finish": [(0.25, 60, "fast"), (0.5, 60, "fast"), (1.0, 100, "fast"),
                                                (1.0, UNTIL_DONE, "fp32")],
    "fast 150/150 + 40 full-size + fp32 finish": [(0.25, 150, "fast"), (0.5, 150, "fast"), (1.0, 40, "fast"),
                                                 (1.0, UNTIL_DONE, "fp32")],
    "fp32 coarse-to-fine 150/150": [(0.25, 150, "fp32"), (0.5, 150, "fp32"), (1.0, UNTIL_DONE, "fp32")],
}


class _Race:
    """The reference run and the scorer, shared by every schedule."""

    def __init__(self, weights_dir: Path, content: Tensor, style: Tensor, ref_steps: int) -> None:
        self.content, self.style = content, style
        self.config = gatys.GatysConfig(scales=(1.0,), steps=(ref_steps,))
        reference_vgg, self.source = load_vgg(weights_dir, "subset")
        self.vgg = {"fp32": _place(reference_vgg, "ref"), "fast": _place(load_vgg(weights_dir, "subset")[0], "fast")}
        vgg32 = self.vgg["fp32"][0]
        self.layers = gatys.choose_layers(vgg32, self.config.content_layers, self.config.style_layers)[:2]
        started = time.perf_counter()
        ref = gatys.stylize(vgg32, content, [style], config=self.config, device=cases.CPU, dtype=torch.float32)
        self.budget_s = time.perf_counter() - started
        self.bar = ref.final_loss
        self.ref_losses = ref.losses
        self.scorer = Fp32Objective(vgg32, content, style, self.config)

    def run(self, phases: list[tuple[float, int, str]]) -> dict:
        height, width = self.content.shape[-2:]
        image = previous = None
        steps, scoring, loss = 0, 0.0, float("nan")
        started = time.perf_counter()
        for fraction, count, precision in phases:
            if fraction < 1.0 and max(height, width) * fraction < gatys.MIN_SCALE_SIDE:
                continue  # too small for VGG: the engine skips such scales too
            vgg, dtype = self.vgg[precision]
            size = gatys._scale_size(height, width, fraction)
            photo = gatys._resize(self.content, size)
            style = gatys._resize(self.style, gatys._style_size(self.style, size))
            objective = gatys._Objective(vgg, cases.CPU, dtype, photo, [style], [1.0], self.config, *self.layers)
            if image is None or previous is None:
                start = photo
            elif image.shape[-2:] == photo.shape[-2:]:
                start = image
            else:
                start = (photo + gatys._resize_signed(image - previous, size)).clamp(0.0, 1.0)
            previous, image = photo, start.detach().clone().requires_grad_(True)
            step = gatys._make_stepper(self.config, image, objective)
            for _ in range(count):
                step()
                steps += 1
                if fraction != 1.0:
                    continue
                scored = time.perf_counter()
                loss = self.scorer(image)
                scoring += time.perf_counter() - scored
                elapsed = time.perf_counter() - started - scoring
                if loss <= self.bar or elapsed > self.budget_s:
                    return {"steps": steps, "seconds": elapsed, "loss": loss, "reached": loss <= self.bar}
            image = image.detach().clamp(0.0, 1.0)
        return {"steps": steps, "seconds": time.perf_counter() - started - scoring, "loss": loss, "reached": False}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="long side in px")
    p.add_argument("--ref-steps", type=int, default=300)
    p.add_argument("--schedules", default=",".join(SCHEDULES), help="comma list of: " + ", ".join(SCHEDULES))
    p.add_argument("--weights-dir", type=Path, default=SHARED_WEIGHTS)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    names = [n.strip() for n in a.schedules.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCHEDULES]
    if unknown:
        p.error(f"unknown schedule(s): {', '.join(unknown)}")
    rgb, photo = load_photo(DEFAULT_PHOTO, a.size)
    content = cases.to_tensor(rgb)
    style = cases.to_tensor(load_style(DEFAULT_STYLE, side=a.size)[0])
    race = _Race(a.weights_dir, content, style, a.ref_steps)
    results = {name: race.run(SCHEDULES[name]) for name in names}
    fast_dtype = str(race.vgg["fast"][1]).removeprefix("torch.")
    marks = [s for s in (50, 100, 150, 200, 250) if s <= len(race.ref_losses)]
    print(f"Gatys schedules at {a.size} px ({photo}, VGG {race.source}); fast = {fast_dtype}. Reference: "
          f"{a.ref_steps} single-scale fp32 steps in {race.budget_s:.1f} s, bar {race.bar:.5g}"
          + (f"; its loss after {'/'.join(map(str, marks))} steps: "
             + " / ".join(f"{race.ref_losses[s - 1]:.4g}" for s in marks) if marks else "") + ".\n")
    rows = [[name, r["steps"], f"{r['seconds']:.1f}", f"{r['loss']:.5g}", f"{r['loss'] / race.bar:.4f}",
             f"{r['seconds'] / race.budget_s:.3f}" if r["reached"] else "not reached"]
            for name, r in results.items()]
    print(table(["schedule", "steps", "seconds", "fp32 loss", "x the bar", "share of the reference time"], rows))
    if a.json:
        a.json.write_text(json.dumps({"size": a.size, "ref_steps": a.ref_steps, "budget_s": race.budget_s,
                                      "bar": race.bar, "fast": fast_dtype, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
