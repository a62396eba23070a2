"""One measurement in a fresh process: ``python -m benchmarks.case KIND ARGS_JSON OUT_JSON``.

A new process per case makes the peak RSS (``ru_maxrss``) belong to that case alone and makes "the first job" really
the first in its process. The orchestrator (``benchmarks.cli``) never imports torch; everything that does lives here
and in the modules this one imports. The result is written as JSON to OUT_JSON; a failure is written there too,
with the traceback, so one broken case never stops the run.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_STYLE, load_photo, load_style, loadavg, peak_rss_mb, psnr, rss_mb
from ml_models import allocator


def _budgeted(first_s: float, repeat: int, budget_s: float) -> int:
    """Timed runs after the warm-up: ``repeat``, fewer (at least 1) when they would exceed ``budget_s``."""
    if first_s * repeat <= budget_s:
        return repeat
    return max(1, int(budget_s // max(first_s, 1e-9)))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_share(cpu_s: float, wall_s: float, threads: int) -> float | None:
    """CPU time over (wall time x threads): about 1 when the case had its cores, lower when others took them."""
    return cpu_s / (wall_s * threads) if wall_s > 0 and threads > 0 else None


def _same_process_peak(quick: bool) -> dict:
    from benchmarks import peak

    return peak.measure(n=1024 if quick else 2048, repeats=3 if quick else 7)


def _to_unit(out, genuine: bool) -> np.ndarray:
    arr = out.detach().float().cpu().numpy()
    return np.clip(arr, 0.0, 1.0) if genuine else arr


def model(a: dict) -> dict:
    """Fast or reference path of one feed-forward family at one size (see ``benchmarks.cases``)."""
    import torch

    from benchmarks import cases, flops

    rgb, photo = load_photo(a["photo"], a["size"])
    style_rgb, style_src = load_style(DEFAULT_STYLE)
    content, style = cases.to_tensor(rgb), cases.to_tensor(style_rgb)
    started = time.perf_counter()
    prepared = cases.build(a["family"], Path(a["weights_dir"]), content, style, a["path"], a.get("opts"))
    load_s = time.perf_counter() - started
    rss_loaded = rss_mb()
    with flops.counting(*prepared.modules) as count:
        started = time.perf_counter()
        out = prepared.forward()
        first_s = time.perf_counter() - started
    tiles = dict(prepared.tiles)
    n = _budgeted(first_s, a["repeat"], a["budget_s"])
    times = []
    cpu_before = _cpu_seconds()
    for _ in range(n):
        out = None  # at most one output alive: the peak is that of one job
        started = time.perf_counter()
        out = prepared.forward()
        times.append(time.perf_counter() - started)
    cpu_share = _cpu_share(_cpu_seconds() - cpu_before, sum(times), torch.get_num_threads())
    peak_rss = peak_rss_mb()
    median = statistics.median(times)
    scale = tiles["total"] / tiles["timed"] if tiles.get("timed") and tiles["timed"] < tiles["total"] else 1.0
    result = {
        "family": a["family"], "size": a["size"], "path": a["path"], "input_hw": list(prepared.input_hw),
        "photo": photo, "style": style_src, "weights": prepared.weights, "genuine": prepared.genuine,
        "precision": str(prepared.dtype).removeprefix("torch."), "threads": torch.get_num_threads(),
        "load_s": load_s, "first_s": first_s, "times": times, "runs": n, "median_s": median,
        "tiles": tiles or None, "job_s": median * scale, "gflop_timed": count.gflop, "gflop_job": count.gflop * scale,
        "gflops": count.gflop / median, "flop_kinds": {k: v / 1e9 for k, v in count.by_kind.items()},
        "rss_loaded_mb": rss_loaded, "peak_rss_mb": peak_rss, "notes": prepared.notes, "cpu_share": cpu_share,
    }
    unit = _to_unit(out, prepared.genuine)
    del out
    if a["path"] == "fast" and a.get("save"):
        np.save(a["save"], unit.astype(np.float16))
    elif a["path"] == "ref" and a.get("compare") and Path(a["compare"]).is_file():
        fast = np.load(a["compare"]).astype(np.float32)
        data_range = 1.0 if prepared.genuine else float(unit.max() - unit.min()) or 1.0
        result["psnr_db"] = psnr(unit, fast, data_range)
        result["psnr_basis"] = ("outputs clamped to [0, 1], peak 1" if prepared.genuine
                                else f"unclamped outputs, peak = reference range {data_range:.3g}")
        Path(a["compare"]).unlink()
    result["matmul_peak"] = _same_process_peak(a.get("quick", False))
    return result


def _alternate(first: Callable[[], object], second: Callable[[], object], n: int) -> tuple[list[float], list[float]]:
    """``n`` timed calls of each, alternating and swapping the order every round, so that a change in the host's load
    falls on both paths alike (separate processes minutes apart see different loads)."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(n):
        order = ((0, first), (1, second)) if i % 2 == 0 else ((1, second), (0, first))
        for index, fn in order:
            started = time.perf_counter()
            fn()
            times[index].append(time.perf_counter() - started)
    return times


def _pair_result(family: str, size: int, fast_times: list[float], ref_times: list[float]) -> dict:
    ratios = [r / f for f, r in zip(fast_times, ref_times, strict=True)]
    return {"family": family, "size": size, "pairs": len(ratios), "fast_times": fast_times, "ref_times": ref_times,
            "fast_s": statistics.median(fast_times), "ref_s": statistics.median(ref_times),
            "speedup": statistics.median(ratios)}


def model_pair(a: dict) -> dict:
    """Both paths of one family in one process, timed alternately: the speed-up as one run's ratio."""
    from benchmarks import cases

    rgb, _ = load_photo(a["photo"], a["size"])
    content, style = cases.to_tensor(rgb), cases.to_tensor(load_style(DEFAULT_STYLE)[0])
    weights_dir = Path(a["weights_dir"])
    fast = cases.build(a["family"], weights_dir, content, style, "fast", a.get("opts"))
    ref = cases.build(a["family"], weights_dir, content, style, "ref", a.get("opts"))
    started = time.perf_counter()
    fast.forward()
    ref.forward()
    n = _budgeted(time.perf_counter() - started, a["repeat"], 2 * a["budget_s"])
    return _pair_result(a["family"], a["size"], *_alternate(fast.forward, ref.forward, n))


def gatys_pair(a: dict) -> dict:
    """Single-scale L-BFGS steps of the fast and the reference path in one process, alternately."""
    from benchmarks import cases, gatys_bench

    rgb, _ = load_photo(a["photo"], a["size"])
    content, style = cases.to_tensor(rgb), cases.to_tensor(load_style(DEFAULT_STYLE, side=a["size"])[0])
    fast, ref = (gatys_bench.stepper(Path(a["weights_dir"]), content, style, path) for path in ("fast", "ref"))
    started = time.perf_counter()
    for step in (fast, ref, fast, ref):  # the first step of each is set-up
        step()
    n = _budgeted((time.perf_counter() - started) / 2, a["repeat"], 2 * a["budget_s"])
    return _pair_result("gatys", a["size"], *_alternate(fast, ref, n))


def gatys_steps(a: dict) -> dict:
    from benchmarks import cases, gatys_bench

    rgb, photo = load_photo(a["photo"], a["size"])
    content, style = cases.to_tensor(rgb), cases.to_tensor(load_style(DEFAULT_STYLE, side=a["size"])[0])
    import torch

    cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
    r = gatys_bench.step_case(Path(a["weights_dir"]), content, style, a["path"], a["repeat"] + 1, a["budget_s"])
    cpu_share = _cpu_share(_cpu_seconds() - cpu_before, time.perf_counter() - wall_before, torch.get_num_threads())
    image = r.pop("image")
    times = r["times"]
    median = statistics.median(times) if times else r["first_s"]
    result = {"family": "gatys", "size": a["size"], "path": a["path"], "input_hw": list(content.shape[-2:]),
              "photo": photo, "genuine": False, "precision": r["dtype"], "weights": r["weights"],
              "first_s": r["first_s"], "times": times, "runs": len(times), "median_s": median, "job_s": median,
              "gflop_timed": r["gflop_per_step"], "gflop_job": r["gflop_per_step"],
              "gflops": r["gflop_per_step"] / median, "peak_rss_mb": peak_rss_mb(), "layers": r["layers"],
              "cpu_share": cpu_share,
              "notes": ["one L-BFGS step (VGG forward + input-gradient backward + loss) at full size; "
                        "FLOPs = 2 x counted VGG forward"]}
    if image is not None:
        unit = image.numpy()
        if a["path"] == "fast" and a.get("save"):
            np.save(a["save"], unit.astype(np.float16))
        elif a["path"] == "ref" and a.get("compare") and Path(a["compare"]).is_file():
            result["psnr_images_db"] = psnr(unit, np.load(a["compare"]).astype(np.float32), 1.0)
            result["notes"].append(f"images after the same {len(times) + 1} single-scale steps from the same start: "
                                   f"{result['psnr_images_db']:.1f} dB (L-BFGS amplifies any difference: two fp32 "
                                   "layouts are 43 dB apart after 10 steps at 256 px)")
            Path(a["compare"]).unlink()
    if a["path"] == "ref":
        step = gatys_bench.step_fidelity(Path(a["weights_dir"]), content, style)
        result["psnr_db"] = step["psnr_db"]
        result["psnr_basis"] = step["basis"]
        result["step_fidelity"] = step
    result["matmul_peak"] = _same_process_peak(a.get("quick", False))
    return result


def gatys_converge(a: dict) -> dict:
    from benchmarks import cases, gatys_bench

    rgb, photo = load_photo(a["photo"], a["size"])
    content, style = cases.to_tensor(rgb), cases.to_tensor(load_style(DEFAULT_STYLE, side=a["size"])[0])
    result = gatys_bench.convergence(Path(a["weights_dir"]), content, style, a["ref_steps"])
    result["photo"] = photo
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def engine_job(a: dict) -> dict:
    from benchmarks import engine_bench

    result = engine_bench.timed_jobs(Path(a["weights_dir"]), a["family"], a["photo"], a["size"], a["repeat"],
                                     a.get("preload", True), a.get("options"), a.get("budget_s", 1e9))
    result["family"] = a["family"]
    return result


def worker(a: dict) -> dict:
    from benchmarks import engine_bench

    return engine_bench.worker_with_all_models(Path(a["weights_dir"]), a["families"])


def peak(a: dict) -> dict:
    import torch

    from benchmarks import cases

    result = _same_process_peak(a.get("quick", False))
    result.update(threads=torch.get_num_threads(), torch=torch.__version__,
                  fast_precision=str(cases.fast_dtype()).removeprefix("torch."),
                  capability=str(torch.backends.cpu.get_cpu_capability()))
    return result


def weights(a: dict) -> dict:
    from benchmarks import fixtures

    return {"dir": a["dir"], "files": fixtures.build_weights_dir(Path(a["dir"]), families=a.get("families"))}


KINDS = {"model": model, "model_pair": model_pair, "gatys_steps": gatys_steps, "gatys_pair": gatys_pair,
         "gatys_converge": gatys_converge, "engine_job": engine_job,
         "worker": worker, "peak": peak, "weights": weights}


def main(argv: list[str]) -> int:
    kind, args_json, out = argv
    args = json.loads(args_json)
    started = time.perf_counter()
    load_before = loadavg()
    try:
        result = KINDS[kind](args)
        status = 0
    except Exception as exc:  # reported in the JSON, the orchestrator goes on with the next case
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
        status = 1
    result.setdefault("wall_s", time.perf_counter() - started)
    result["loadavg"] = {"before": load_before, "after": loadavg()}
    result["pid"] = os.getpid()
    result["allocator"] = "reuse" if allocator.started_tuned() else "system"
    Path(out).write_text(json.dumps(result, default=_jsonable))
    return status


def _jsonable(value):
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if isinstance(value, tuple | list):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
