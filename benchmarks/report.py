"""Markdown tables and PASS/FAIL verdicts from the collected results (pure Python, no torch)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from benchmarks.targets import TARGETS


def _num(value, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "∞" if value > 0 else "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}{unit}"
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("PASS" if ok else "FAIL")


def table(headers: list[str], rows: Iterable[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def models_table(rows: list[dict]) -> str:
    headers = ["model", "size", "weights", "GFLOP/job", "fast s (n)", "ref s (n)", "speed-up",
               "interleaved fast / ref s (speed-up, pairs)", "ref s, glibc default (speed-up)", "PSNR dB",
               "fast GFLOP/s", "% peak (fast dtype)", "ref GFLOP/s", "% fp32 peak", "peak RSS fast/ref MiB",
               "CPU share fast/ref", "≥50 % peak", "≥2x & ≥38 dB"]
    out = []
    for r in rows:
        fast, ref, inter = r.get("fast") or {}, r.get("ref") or {}, r.get("interleaved") or {}
        if r.get("skipped") or r.get("error"):
            reason = r.get("skipped") or r.get("error")
            out.append([r["family"], r["size"], f"{'skipped' if r.get('skipped') else 'ERROR'}: {reason}"[:160]]
                       + ["–"] * (len(headers) - 3))
            continue
        tiles = fast.get("tiles") or {}
        size = f"{r['size']}" + (f" ({tiles['timed']}/{tiles['total']} tiles)" if tiles.get("timed", 0)
                                  < tiles.get("total", 0) else "")
        out.append([
            r["family"], size, r.get("weights_short", ""), _num(r.get("gflop_job"), 1),
            f"{_num(fast.get('job_s'), 3)} ({fast.get('runs', '–')})",
            f"{_num(ref.get('job_s'), 3)} ({ref.get('runs', '–')})",
            _num(r.get("speedup"), 2, "x"),
            (f"{_num(inter.get('fast_s'), 3)} / {_num(inter.get('ref_s'), 3)} "
             f"({_num(r.get('speedup_interleaved'), 2, 'x')}, {inter.get('pairs')})" if inter else "–"),
            (f"{_num((r.get('ref_plain') or {}).get('job_s'), 3)} ({_num(r.get('speedup_plain'), 2, 'x')})"
             if r.get("ref_plain") else "–"),
            _num(r.get("psnr_db"), 1),
            _num(fast.get("gflops"), 0), _num(r.get("fast_peak_pct"), 0, " %"),
            _num(ref.get("gflops"), 0), _num(r.get("ref_peak_pct"), 0, " %"),
            f"{_num(fast.get('peak_rss_mb'), 0)} / {_num(ref.get('peak_rss_mb'), 0)}",
            f"{_num(fast.get('cpu_share'), 2)} / {_num(ref.get('cpu_share'), 2)}",
            _verdict(r.get("pass_peak")), _verdict(r.get("pass_fast")),
        ])
    return table(headers, out)


def render(results: dict) -> str:
    """The whole report as Markdown."""
    meta = results["meta"]
    parts = [f"# Benchmark {meta['started']}",
             f"CPU: {meta['cpu']['model']} ({meta['cpu']['logical_cpus']} logical CPUs; flags "
             f"{', '.join(meta['cpu']['flags'])}), torch {meta.get('torch', '?')}, {meta.get('threads', '?')} "
             f"threads, fast path precision **{meta.get('fast_precision', '?')}**, allocator "
             f"{meta.get('allocator', 'system')} in every case process (fast and reference alike; "
             "`ml_models/allocator.py`). Load average at start "
             f"{meta['loadavg_start']}, at end {meta.get('loadavg_end')}. How each column is measured: "
             "docs/performance.md."]
    peaks = results.get("peak") or {}
    if peaks:
        parts.append("## Matmul peak (same run)\n\n" + table(
            ["when", "fp32 GFLOP/s", "bf16 GFLOP/s", "n"],
            [[k, _num(v.get("fp32"), 0), _num(v.get("bf16"), 0), v.get("n", "–")] for k, v in peaks.items()
             if isinstance(v, dict) and "fp32" in v]))
    if results.get("models"):
        parts.append("## Models: fast path vs reference\n\nfast = the engine's path, ref = fp32 NCHW "
                     "`torch.no_grad()`; FLOPs count convolutions and linear layers only; the ≥50 % and ≥2x targets "
                     "apply to AdaIN, CycleGAN, RRDB and Gatys' VGG.\n\n" + models_table(results["models"]))
    for key, title in (("gatys_convergence", "Gatys: the engine's fast path and schedule vs single-scale fp32"),
                       ("gatys_whole", "Gatys whole runs through the engine"),
                       ("superres", "Super-resolution through the engine (realesr-animevideov3, tile 256)"),
                       ("memory", "Memory"), ("first_job", "First job after start vs warm (models preloaded)")):
        section = results.get(key)
        if section:
            parts.append(f"## {title}\n\n" + section["markdown"])
    if results.get("targets"):
        parts.append("## Targets\n\n" + table(
            ["target", "measured", "threshold", "verdict"],
            [[t["name"], t["measured"], t["threshold"], _verdict(t["pass"])] for t in results["targets"]]))
    if results.get("skips"):
        parts.append("## Skipped or capped\n\n" + "\n".join(f"- {s}" for s in results["skips"]))
    return "\n\n".join(parts) + "\n"


__all__ = ["TARGETS", "render", "table", "models_table"]
