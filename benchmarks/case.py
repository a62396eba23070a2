"""One measurement in a fresh process: ``python -m benchmarks.case KIND ARGS_JSON OUT_JSON``.

A process per case gives each case its own peak RSS (``ru_maxrss``) and its own first job, and keeps torch out of
the orchestrator (``benchmarks.cli``). The result, or the failure with its traceback, is written as JSON to OUT_JSON,
so one broken case never stops the run.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import encode_png, load_photo, load_style, peak_rss_mb, psnr, rss_mb
from ml_models import allocator


def _budgeted(first_s: float, repeat: int, budget_s: float) -> int:
    """``repeat`` timed runs, fewer (at least 1) where they would take longer than ``budget_s``."""
    return repeat if first_s * repeat <= budget_s else max(1, int(budget_s // max(first_s, 1e-9)))


def matmul_peak(quick: bool) -> dict:
    """Best GFLOP/s of an n x n matmul (the best case for the kernels convolutions use), fp32 and, where the CPU has
    native BF16 (elsewhere oneDNN emulates it, minutes per product), bf16."""
    from ml_models.device import cpu_has_bf16

    n = 1024 if quick else 2048

    def best(dtype: torch.dtype) -> float:
        a, b = (torch.randn(n, n, generator=torch.Generator().manual_seed(i)).to(dtype) for i in (0, 1))
        times = []
        for _ in range(4 if quick else 8):  # the first call picks kernels and starts threads
            started = time.perf_counter()
            torch.matmul(a, b)
            times.append(time.perf_counter() - started)
        return 2.0 * n**3 / min(times[1:]) / 1e9

    return {"fp32": best(torch.float32), "bf16": best(torch.bfloat16) if cpu_has_bf16() else None, "n": n}


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _alternate(first: Callable[[], object], second: Callable[[], object], n: int) -> tuple[list[float], list[float]]:
    """``n`` timed calls of each after one untimed, alternating and swapping the order every round, so that a change
    in the host's load falls on both paths alike (separate processes minutes apart see different loads)."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(n + 1):
        for index, fn in ((0, first), (1, second)) if i % 2 == 0 else ((1, second), (0, first)):
            started = time.perf_counter()
            fn()
            if i:
                times[index].append(time.perf_counter() - started)
    return times


def pair(a: dict) -> dict:
    """The fast and the reference path of one family at one size: one counted run each (FLOPs, outputs for the
    PSNR), then both timed alternately in this process; the matmul peak is taken right after."""
    from benchmarks import cases, flops, gatys_bench

    family, weights_dir = a["family"], Path(a["weights_dir"])
    rgb, photo = load_photo(a["size"])
    content, style = cases.to_tensor(rgb), cases.to_tensor(load_style())
    paths = {p: cases.build(family, weights_dir, content, style, p, a.get("max_tiles", 0)) for p in ("fast", "ref")}
    fast, ref = paths["fast"], paths["ref"]
    gflop, outputs, started = {}, {}, time.perf_counter()
    for name, prepared in paths.items():
        with flops.counting(*prepared.modules) as count:
            outputs[name] = prepared.forward().detach().float().numpy()
        gflop[name] = count.gflop * prepared.flop_factor
    n = _budgeted(time.perf_counter() - started, a["repeat"], 2 * a["budget_s"])
    fast_times, ref_times = _alternate(fast.forward, ref.forward, n)
    tiles = fast.tiles or None
    scale = tiles["total"] / tiles["timed"] if tiles else 1.0  # super-resolution tiles all have the same shape
    gflop = {name: value * scale for name, value in gflop.items()}
    if family == "gatys":
        fidelity = gatys_bench.step_fidelity(weights_dir, content, style)
        psnr_db, basis = fidelity["psnr_db"], fidelity["basis"]
    else:
        f, r = outputs["fast"], outputs["ref"]
        if fast.genuine:
            f, r = np.clip(f, 0.0, 1.0), np.clip(r, 0.0, 1.0)
        data_range = 1.0 if fast.genuine else float(r.max() - r.min()) or 1.0
        psnr_db = psnr(r, f, data_range)
        basis = "outputs clamped to [0, 1]" if fast.genuine else f"unclamped outputs, peak {data_range:.3g}"
    precision = str(cases.fast_dtype(family)).removeprefix("torch.")
    peak = matmul_peak(a.get("quick", False))
    fast_s, ref_s = statistics.median(fast_times) * scale, statistics.median(ref_times) * scale
    return {"photo": photo, "weights": fast.weights, "genuine": fast.genuine, "precision": precision,
            "threads": torch.get_num_threads(), "pairs": n, "fast_times": fast_times, "ref_times": ref_times,
            "tiles": tiles, "fast_s": fast_s, "ref_s": ref_s, "gflop": gflop,
            "speedup": statistics.median(rs / fs for fs, rs in zip(fast_times, ref_times, strict=True)),
            "psnr_db": psnr_db, "psnr_basis": basis, "matmul_peak": peak, "peak_rss_mb": peak_rss_mb(),
            # the job's arithmetic as the reference counts it (Gatys' fast conv1_1 is a split, unhooked convolution)
            "fast_peak_pct": 100 * gflop["ref"] / fast_s / peak["bf16" if precision == "bfloat16" else "fp32"],
            "ref_peak_pct": 100 * gflop["ref"] / ref_s / peak["fp32"]}


def _settings(weights_dir: str):
    from ml_models.settings import EngineSettings

    return EngineSettings(weights_dir=Path(weights_dir), styles_dir=Path(weights_dir) / "styles")


def upscale(a: dict) -> dict:
    """A whole x4 upscale job through the engine (bytes to bytes, realesr-animevideov3) after ``engine.preload``:
    the first job and the median of up to ``repeat`` more, and the process's peak RSS."""
    from ml_models import engine
    from ml_models.api import JobRequest

    settings = _settings(a["weights_dir"])
    request = JobRequest(model="upscale", preset="anime", content=encode_png(load_photo(a["size"])[0]),
                         options={"max_side": a["size"]}, output_format="jpeg")
    engine.preload([request.model], settings)
    first, result = _timed(lambda: engine.run(request, settings))
    warm = [_timed(lambda: engine.run(request, settings))[0]
            for _ in range(_budgeted(first, a["repeat"], a["budget_s"]))]
    return {"input": a["size"], "width": result.width, "height": result.height, "mime": result.mime,
            "first_s": first, "warm_s": statistics.median(warm), "peak_rss_mb": peak_rss_mb()}


def worker(a: dict) -> dict:
    """RSS of a worker-like process before and after ``engine.preload`` of the families' models."""
    from benchmarks.cases import MODEL_IDS
    from ml_models import engine

    before = rss_mb()
    models = list(dict.fromkeys(MODEL_IDS[f] for f in a["families"]))
    load_s, _ = _timed(lambda: engine.preload(models, _settings(a["weights_dir"])))
    return {"models": models, "rss_after_import_mb": before, "rss_loaded_mb": rss_mb(), "load_s": load_s}


def converge(a: dict) -> dict:
    from benchmarks import cases, gatys_bench

    content, style = cases.to_tensor(load_photo(a["size"])[0]), cases.to_tensor(load_style())
    return gatys_bench.convergence(Path(a["weights_dir"]), content, style, a["ref_steps"])


def weights(a: dict) -> dict:
    from benchmarks import fixtures

    files = fixtures.build_weights_dir(Path(a["dir"]), a["families"])
    return {"files": files, "torch": torch.__version__, "threads": torch.get_num_threads()}


KINDS = {"pair": pair, "upscale": upscale, "worker": worker, "converge": converge, "weights": weights}


def main(argv: list[str]) -> int:
    kind, args, out = argv
    try:
        result, status = KINDS[kind](json.loads(args)), 0
    except Exception as exc:  # reported in the JSON; the orchestrator goes on with the next case
        result, status = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}, 1
    result["allocator"] = "reuse" if allocator.started_tuned() else "system"
    Path(out).write_text(json.dumps(result, default=float))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
