"""``python -m benchmarks``: run every measurement, each in its own subprocess, then print Markdown and write JSON.

This process only orchestrates (it never imports torch): it builds a temporary weights folder, runs the cases of
``benchmarks.case`` one after another (never in parallel: they would compete for the same cores), collects their
JSON, applies the targets of ``benchmarks.targets`` and renders ``benchmarks.report``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import report
from benchmarks.common import DEFAULT_JSON, DEFAULT_PHOTO, REPO, cpu_description, loadavg
from benchmarks.report import _num, _verdict, table
from benchmarks.targets import TARGETS
from ml_models import allocator

FAMILIES = ("microast", "adain", "gatys", "johnson", "cyclegan", "rrdb", "srvgg")
CONV_HEAVY = {"adain", "cyclegan", "rrdb", "gatys"}
RANDOM_FAMILIES = {"adain", "cyclegan", "rrdb", "gatys"}  # need random weight files written with torch
SECTIONS = ("models", "gatys", "sr", "worker", "firstjob")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", default="512,1024,2048", help="long sides in px (SR: input side)")
    p.add_argument("--models", default=",".join(FAMILIES), help=f"comma list of {', '.join(FAMILIES)}")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after a warm-up (median reported)")
    p.add_argument("--quick", action="store_true",
                   help="short run: 20 s budget per case, 1 RRDB tile, Gatys convergence at 256 px with 100 "
                        "reference steps, no whole Gatys runs, worker loads only --models")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timed runs per case and path; fewer runs (at least 1) when one run is longer "
                        "(default 120, 20 with --quick)")
    p.add_argument("--rrdb-tiles", type=int, default=None,
                   help="RRDB: time only this many 256-px tiles per run and extrapolate (0 = whole image; "
                        "default 2, 1 with --quick)")
    p.add_argument("--tile", type=int, default=256, help="SR tile size in input px (the engine's default)")
    p.add_argument("--photo", default=DEFAULT_PHOTO, help="content photo in ../shared/images/content")
    p.add_argument("--gatys-size", type=int, default=None, help="Gatys convergence size (default 512, 256 quick)")
    p.add_argument("--gatys-steps", type=int, default=None,
                   help="reference L-BFGS steps for the convergence test (default 300, 100 quick)")
    p.add_argument("--gatys-whole-max", type=int, default=512,
                   help="whole Gatys jobs only up to this size (1024 takes ~4x as long as 512; 2048 is over the "
                        "engine's CPU pixel budget)")
    p.add_argument("--timeout", type=float, default=2400.0, help="seconds before a case subprocess is killed")
    p.add_argument("--weights-dir", type=Path, default=None,
                   help="reuse a weights folder built earlier (default: a fresh temporary one)")
    p.add_argument("--no-markdown", action="store_true", help="do not print the tables (JSON only)")
    p.add_argument("--allocator", choices=("reuse", "system"), default=None,
                   help="malloc setting of every case process, fast and reference alike (default: ALLOCATOR or "
                        "reuse, what the workers use; see ml_models/allocator.py)")
    p.add_argument("--no-plain-ref", action="store_true",
                   help="with --allocator reuse, skip timing the reference a second time under glibc's default")
    p.add_argument("--no-interleaved", action="store_true",
                   help="skip timing both paths alternately in one process (the speed-up the 2x verdict uses)")
    return p


class Runner:
    """Runs one case per subprocess, sequentially, and returns its JSON (or an ``error`` entry)."""

    def __init__(self, tmp: Path, timeout: float, allocator_mode: str = "reuse") -> None:
        self.tmp, self.timeout, self.count = tmp, timeout, 0
        self.allocator = allocator_mode

    def __call__(self, kind: str, args: dict, label: str, allocator_mode: str | None = None) -> dict:
        self.count += 1
        out = self.tmp / f"case-{self.count}.json"
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "benchmarks.case", kind, json.dumps(args), str(out)]
        try:
            env = allocator.environment(os.environ, allocator_mode or self.allocator)
            proc = subprocess.run(cmd, cwd=REPO, timeout=self.timeout, capture_output=True, text=True, env=env)
            stderr = proc.stderr
        except subprocess.TimeoutExpired:
            result = {"error": f"timed out after {self.timeout:.0f} s"}
        else:
            if out.is_file():
                result = json.loads(out.read_text())
            else:
                result = {"error": f"exit {proc.returncode} without a result: {stderr[-1500:]}"}
        wall = time.perf_counter() - started
        status = f"ERROR {result['error'][:200]}" if result.get("error") else _short(result)
        print(f"[{self.count:3d} {wall:7.1f} s] {label}: {status}", file=sys.stderr, flush=True)
        return result


def _short(r: dict) -> str:
    if "median_s" in r:
        return (f"{r['median_s']:.3f} s x{r.get('runs')} ({r.get('gflops', 0):.0f} GFLOP/s, "
                f"peak {r['peak_rss_mb']:.0f} MiB)")
    if "first_s" in r:
        return f"first {r['first_s']:.2f} s, warm {r.get('warm_s')}"
    return ", ".join(f"{k}={v}" for k, v in list(r.items())[:3])[:160]


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# --------------------------------------------------------------------------------------------------- sections


def run_models(run: Runner, a: argparse.Namespace, weights_dir: Path, sizes: list[int], families: list[str],
               skips: list[str]) -> list[dict]:
    rows = []
    for family in families:
        for size in sizes:
            rows.append(_model_row(run, a, weights_dir, family, size, skips))
    return rows


def _model_row(run: Runner, a, weights_dir: Path, family: str, size: int, skips: list[str]) -> dict:
    npy = Path(a.tmp) / f"{family}-{size}.npy"
    base = {"size": size, "photo": a.photo, "weights_dir": str(weights_dir), "repeat": a.repeat,
            "budget_s": a.budget, "quick": a.quick}
    kind = "gatys_steps" if family == "gatys" else "model"
    opts = {"tile": a.tile}
    if family == "rrdb" and a.rrdb_tiles:
        opts["max_tiles"] = a.rrdb_tiles
    results = {}
    for path in ("fast", "ref"):
        args = dict(base, family=family, path=path, opts=opts, save=str(npy), compare=str(npy))
        results[path] = run(kind, args, f"{family} {size} {path}")
    npy.unlink(missing_ok=True)
    plain = None
    # The reference once more as a plain process runs it, with glibc's default allocator
    if getattr(run, "allocator", "system") == "reuse" and not getattr(a, "no_plain_ref", False):
        plain = run(kind, dict(base, family=family, path="ref", opts=opts), f"{family} {size} ref (glibc default)",
                    allocator_mode="system")
    # Both paths again, alternately in one process: a ratio that a change in the host's load does not bias
    pair = None
    if not getattr(a, "no_interleaved", False):
        pair = run("gatys_pair" if family == "gatys" else "model_pair", dict(base, family=family, opts=opts),
                   f"{family} {size} fast/ref interleaved")
    fast, ref = results["fast"], results["ref"]
    row: dict = {"family": family, "size": size}
    if fast.get("error") or ref.get("error"):
        row["error"] = fast.get("error") or ref.get("error")
        row["fast"], row["ref"] = fast, ref
        return row
    tiles = fast.get("tiles") or {}
    if tiles.get("timed", 0) < tiles.get("total", 0):
        skips.append(f"rrdb {size}: timed {tiles['timed']} of {tiles['total']} tiles per run (all tiles have the "
                     "same shape) and extrapolated linearly; a whole RRDB job on 2 cores takes "
                     f"~{fast['job_s']:.0f} s on the fast path")
    row.update(weights=fast["weights"], weights_short=("genuine" if fast.get("genuine") else "random"),
               genuine=fast.get("genuine"), gflop_job=fast["gflop_job"], fast=_trim(fast), ref=_trim(ref),
               psnr_db=ref.get("psnr_db"), psnr_basis=ref.get("psnr_basis"),
               speedup=ref["job_s"] / fast["job_s"] if fast["job_s"] else None)
    if plain and not plain.get("error") and fast["job_s"]:
        row["ref_plain"] = _trim(plain)
        row["speedup_plain"] = plain["job_s"] / fast["job_s"]
    if pair and not pair.get("error"):
        row["interleaved"] = _trim(pair)
        row["speedup_interleaved"] = pair["speedup"]
    fast_peak = _peak_for(fast)
    ref_peak = (ref.get("matmul_peak") or {}).get("fp32")
    row["fast_peak_pct"] = 100.0 * fast["gflops"] / fast_peak if fast_peak else None
    row["ref_peak_pct"] = 100.0 * ref["gflops"] / ref_peak if ref_peak else None
    row["pass_peak"] = (row["fast_peak_pct"] >= 100 * TARGETS["conv_peak_fraction"]
                        if family in CONV_HEAVY and row["fast_peak_pct"] is not None else None)
    psnr = row["psnr_db"]
    row["speedup_verdict"] = row.get("speedup_interleaved") or row["speedup"]
    row["pass_fast"] = (bool(row["speedup_verdict"] and row["speedup_verdict"] >= TARGETS["fast_speedup"]
                             and psnr is not None and psnr >= TARGETS["fast_psnr_db"])
                        if family in CONV_HEAVY else None)  # the issue sets both targets for conv-heavy models
    return row


def _peak_for(result: dict) -> float | None:
    peak = result.get("matmul_peak") or {}
    return peak.get("bf16") if result.get("precision") == "bfloat16" else peak.get("fp32")


def _trim(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("traceback",)}


def run_gatys(run: Runner, a, weights_dir: Path, sizes: list[int], skips: list[str]) -> tuple[dict, dict]:
    args = {"size": a.gatys_size, "photo": a.photo, "weights_dir": str(weights_dir), "ref_steps": a.gatys_steps}
    conv = run("gatys_converge", args, f"gatys convergence {a.gatys_size}")
    convergence = {"data": conv, "markdown": _gatys_markdown(conv)}
    whole_rows, data = [], []
    if a.quick:
        skips.append("whole Gatys jobs: skipped with --quick")
    for size in sizes:
        if a.quick:
            break
        if size > a.gatys_whole_max:
            why = ("over the engine's CPU pixel budget for gatys (1.1 MP)" if size * size > 1_100_000
                   else f"above --gatys-whole-max {a.gatys_whole_max} (about 4x the 512 px time per doubling)")
            skips.append(f"whole Gatys job at {size}: {why}")
            continue
        r = run("engine_job", {"family": "gatys", "size": size, "photo": a.photo, "weights_dir": str(weights_dir),
                               "repeat": 0, "preload": True, "options": {"max_side": size}},
                f"gatys whole job {size}")
        data.append(r)
        if r.get("error") or r.get("skipped"):
            whole_rows.append([size, r.get("error") or r.get("skipped"), "–", "–", "–"])
            continue
        info = r["result"]["info"]
        whole_rows.append([size, _num(r["first_s"], 1), r.get("progress_total"), _num(r["peak_rss_mb"], 0),
                           info.get("weights", "") + "; " + info.get("note", "")[:160]])
    whole = {"data": data, "markdown": table(["size", "job s", "steps", "peak RSS MiB", "weights; engine notes"],
                                             whole_rows) if whole_rows else "(none)"}
    return convergence, whole


def _gatys_markdown(c: dict) -> str:
    if c.get("error"):
        return f"ERROR: {c['error']}"
    ref, fast = c["reference"], c["fast"]
    reached = fast.get("reached")
    default = fast.get("engine_default_schedule") or {}
    rows = [
        ["reference: fp32, NCHW, single scale", ref["steps"], _num(ref["seconds"], 1), f"{ref['final_loss']:.5g}",
         "the bar"],
        [f"fast ({fast['precision']}, {fast.get('layout', '?')}) reaches the bar",
         reached["step"] if reached else "not reached",
         _num(reached["seconds"], 1) if reached else "–", f"{reached['loss']:.5g}" if reached else "–",
         _num(c.get("ratio"), 3) + " of the reference time" if reached else "–"],
        ["fast, the engine's unmodified standard schedule (same iterates, stopped at its end)",
         default.get("steps", "–"),
         _num(default.get("seconds"), 1), f"{default['loss']:.5g}" if default else "–",
         f"{default['loss'] / ref['final_loss']:.3f} x the bar" if default else "–"],
    ]
    last = fast.get("last_scored")
    if not reached and last:
        rows.append(["fast, last iterate scored", last["step"], _num(last["seconds"], 1), f"{last['loss']:.5g}",
                     "stopped: over the reference's time"])
    ratio = c.get("ratio")
    verdict = _verdict(ratio is not None and ratio <= TARGETS["gatys_time_ratio"])
    return (f"{c['size'][0]}x{c['size'][1]} px, VGG {c['vgg']}, content {', '.join(c['layers']['content'])}, style "
            f"{', '.join(c['layers']['style'])}. Fast schedule: scales {fast['schedule']['scales']}, steps "
            f"{fast['schedule']['steps']} (the engine's standard preset, its last scale run until the bar). Every "
            "full-size iterate of a fast run is re-scored with an exact fp32 copy of the objective, outside the "
            f"timed part ({_num(fast['scoring_excluded_s'], 1)} s excluded). Reference loss re-scored: "
            f"{ref['rescored_fp32']:.5g} (check of the scorer).\n\n"
            + table(["run", "steps", "seconds", "total loss", "note"], rows)
            + f"\n\nTarget ≤ {TARGETS['gatys_time_ratio']:.0%} of the reference time (coarse-to-fine fast path): "
            f"**{verdict}**"
            + _fidelity_markdown(c.get("gradient_fidelity"), fast["precision"]))


def _fidelity_markdown(fidelity: dict | None, precision: str) -> str:
    if not fidelity:
        return ""
    rows = [[name, _num(f["psnr_db"], 1), f"{f['rel_l2']:.4f}", f"{f['cosine']:.5f}"] for name, f in fidelity.items()]
    return (f"\n\nOne step's work compared: the loss gradient of the fast path ({precision}) against fp32 at the same "
            "image, same genuine VGG (PSNR against the fp32 gradient's peak):\n\n"
            + table(["image", "PSNR dB", "relative L2 error", "cosine"], rows))


def run_superres(run: Runner, a, weights_dir: Path, sizes: list[int], model_rows: list[dict]) -> dict:
    data, rows = [], []
    for size in sizes:
        r = run("engine_job", {"family": "srvgg", "size": size, "photo": a.photo, "weights_dir": str(weights_dir),
                               "repeat": a.repeat, "preload": True, "options": {"max_side": size},
                               "budget_s": a.budget}, f"upscale job {size}")
        data.append(r)
    base = None
    for r in data:
        if r.get("error") or r.get("skipped"):
            rows.append([r.get("input", "?"), r.get("error") or r.get("skipped")] + ["–"] * 6)
            continue
        seconds = r["warm_s"] or r["first_s"]
        mp = r["input"] ** 2 / 1e6
        per_mp = seconds / mp
        base = base or per_mp
        res = r["result"]
        rows.append([f"{r['input']}x{r['input']}", f"{res['width']}x{res['height']}", _num(seconds, 2),
                     _num(per_mp, 2), _num(per_mp / base, 2), _num(r["peak_rss_mb"], 0), res["mime"],
                     res["info"].get("precision", "")])
    model_lin = []
    for row in model_rows:
        if row.get("family") == "srvgg" and row.get("fast"):
            model_lin.append((row["size"], row["fast"]["job_s"] / (row["size"] ** 2 / 1e6)))
    markdown = table(["input", "output", "job s (median)", "s / input MP", "vs smallest", "peak RSS MiB", "mime",
                      "precision"], rows)
    if model_lin:
        markdown += ("\n\nNetwork only (model table, fast path): s / input MP = "
                     + ", ".join(f"{s}: {v:.2f}" for s, v in model_lin))
    return {"data": data, "markdown": markdown, "network_s_per_mp": model_lin}


def run_memory(run: Runner, a, weights_dir: Path, families: list[str]) -> dict:
    """A worker's memory with every model loaded (the bot's own memory is in ``benchmarks.load_test``'s report)."""
    fams = families if a.quick else list(FAMILIES)
    w = run("worker", {"weights_dir": str(weights_dir), "families": fams}, "worker with all models")
    if w.get("error"):
        rows = [["worker with all models", "ERROR", w["error"][:300]]]
    else:
        rows = [["worker: torch + engine imported", _num(w["rss_after_import_mb"], 0), ""],
                [f"worker: {w['how']}", _num(w["rss_loaded_mb"], 0),
                 f"peak {_num(w['peak_rss_mb'], 0)} MiB, loaded in {_num(w['load_s'], 1)} s"]]
    return {"worker": w, "markdown": table(["process", "RSS MiB", "note"], rows)}


def run_first_job(run: Runner, a, weights_dir: Path, sizes: list[int], families: list[str],
                  skips: list[str]) -> dict:
    size = 512 if 512 in sizes else min(sizes)
    data, rows = [], []
    for family in families:
        if family == "gatys":
            skips.append("first-job test: gatys skipped (an optimisation of 160 steps: start-up costs vanish in it)")
            continue
        fam_size = min(size, 128) if family == "rrdb" else size
        if fam_size != size:
            skips.append(f"first-job test: rrdb at {fam_size} px (one tile) instead of {size}: a 512 px RRDB job "
                         "takes about a minute per run on 2 cores")
        r = run("engine_job", {"family": family, "size": fam_size, "photo": a.photo, "weights_dir": str(weights_dir),
                               "repeat": a.repeat, "preload": True, "options": {"max_side": fam_size},
                               "budget_s": a.budget}, f"first job {family} {fam_size}")
        data.append(r)
        if r.get("error") or r.get("skipped"):
            rows.append([family, fam_size, r.get("error") or r.get("skipped"), "–", "–", "–", "–"])
            continue
        ratio = r.get("first_over_warm")
        r["pass"] = ratio is not None and ratio <= TARGETS["first_over_warm"]
        rows.append([family, fam_size, _num(r["preload_s"], 2), _num(r["first_s"], 3), _num(r["warm_s"], 3),
                     _num(ratio, 2), _verdict(r["pass"] if ratio is not None else None)])
    return {"data": data, "markdown": table(["model", "size", "preload s", "first job s", "warm job s (median)",
                                             "first / warm", "≤ 2x"], rows) if rows else "(none)"}


# --------------------------------------------------------------------------------------------------- targets


def collect_targets(results: dict) -> list[dict]:
    t = TARGETS
    out = []
    for row in results.get("models", []):
        if row.get("error") or row.get("skipped"):
            continue
        name = f"{row['family']} {row['size']}"
        if row.get("pass_peak") is not None:
            precision = "bf16" if (row.get("fast") or {}).get("precision") == "bfloat16" else "fp32"
            out.append({"name": f"{name}: fast path ≥ {t['conv_peak_fraction']:.0%} of {precision} matmul peak",
                        "measured": f"{row['fast_peak_pct']:.0f} %",
                        "threshold": f"{100 * t['conv_peak_fraction']:.0f} %",
                        "pass": row["pass_peak"]})
        if row.get("pass_fast") is not None:
            out.append({"name": f"{name}: fast ≥ {t['fast_speedup']:g}x ref with PSNR ≥ {t['fast_psnr_db']:g} dB",
                        "measured": f"{_num(row['speedup_verdict'], 2)}x"
                                    + (" interleaved" if row.get("speedup_interleaved") else "")
                                    + f", {_num(row['psnr_db'], 1)} dB",
                        "threshold": f"{t['fast_speedup']:g}x, {t['fast_psnr_db']:g} dB", "pass": row["pass_fast"]})
    conv = (results.get("gatys_convergence") or {}).get("data") or {}
    if conv and not conv.get("error"):
        ratio = conv.get("ratio")
        out.append({"name": "gatys: fast reaches the reference loss", "threshold": f"≤ {t['gatys_time_ratio']:.0%}",
                    "measured": f"{ratio:.1%} of the reference time" if ratio is not None else "not reached",
                    "pass": ratio is not None and ratio <= t["gatys_time_ratio"]})
    sr = (results.get("superres") or {}).get("data") or []
    for r in sr:
        if r.get("input") == 2048 and not r.get("error") and not r.get("skipped"):
            out.append({"name": "upscale 2048x2048 -> 8192x8192: whole-job peak RSS",
                        "measured": f"{r['peak_rss_mb']:.0f} MiB ({(r['warm_s'] or r['first_s']):.1f} s)",
                        "threshold": f"≤ {t['sr_2048_peak_rss_mb']:.0f} MiB",
                        "pass": r["peak_rss_mb"] <= t["sr_2048_peak_rss_mb"]})
    good = [r for r in sr if not r.get("error") and not r.get("skipped")]
    if len(good) >= 2:
        per = [((r["warm_s"] or r["first_s"]) / (r["input"] ** 2 / 1e6), r["input"]) for r in good]
        factor = per[-1][0] / per[0][0]
        out.append({"name": f"upscale time linear in pixels ({per[0][1]} -> {per[-1][1]})",
                    "measured": f"s/MP x{factor:.2f}", "threshold": f"≤ x{t['sr_linear_tolerance']:g}",
                    "pass": factor <= t["sr_linear_tolerance"]})
    worker = (results.get("memory") or {}).get("worker") or {}
    if worker and not worker.get("error"):
        out.append({"name": "worker with every model loaded", "measured": f"{worker['rss_loaded_mb']:.0f} MiB",
                    "threshold": f"≤ {t['worker_rss_mb']:.0f} MiB",
                    "pass": worker["rss_loaded_mb"] <= t["worker_rss_mb"]})
    for r in (results.get("first_job") or {}).get("data", []):
        if r.get("first_over_warm") is not None:
            out.append({"name": f"first preloaded {r['family']} job vs warm",
                        "measured": f"{r['first_over_warm']:.2f}x", "threshold": f"≤ {t['first_over_warm']:g}x",
                        "pass": r["first_over_warm"] <= t["first_over_warm"]})
    return out


def _clean(value):
    """JSON without NaN/Infinity (strict parsers refuse them): such numbers become null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    sizes = sorted({int(s) for s in _csv(a.sizes)})
    families = _csv(a.models)
    unknown = [f for f in families if f not in FAMILIES]
    sections = _csv(a.sections)
    bad_sections = [s for s in sections if s not in SECTIONS]
    if unknown or bad_sections or not sizes or min(sizes) < 16 or a.repeat < 1:
        print(f"unknown models {unknown} / sections {bad_sections}, or bad sizes/repeat", file=sys.stderr)
        return 2
    a.budget = a.budget if a.budget is not None else (20.0 if a.quick else 120.0)
    a.rrdb_tiles = a.rrdb_tiles if a.rrdb_tiles is not None else (1 if a.quick else 2)
    a.gatys_size = a.gatys_size or (256 if a.quick else 512)
    a.gatys_steps = a.gatys_steps or (100 if a.quick else 300)

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="artbot-bench-"))
    a.tmp = str(tmp)
    a.allocator = a.allocator or (os.environ.get("ALLOCATOR") or "reuse").strip().lower()
    run = Runner(tmp, a.timeout, a.allocator)
    skips: list[str] = []
    results: dict = {"meta": {"started": datetime.now(UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:],
                              "sizes": sizes, "models": families, "sections": sections, "repeat": a.repeat,
                              "quick": a.quick, "budget_s": a.budget, "rrdb_tiles": a.rrdb_tiles,
                              "allocator": a.allocator,
                              "cpu": cpu_description(), "loadavg_start": loadavg(),
                              "targets": TARGETS}}
    try:
        weights_dir = a.weights_dir or tmp / "weights"
        if a.weights_dir is None:
            needed = families if a.quick else list(FAMILIES)
            if set(needed) & RANDOM_FAMILIES:
                made = run("weights", {"dir": str(weights_dir), "families": needed},
                           "weights folder (genuine links + random official layouts)")
            else:  # only links to genuine files: no torch needed, no subprocess
                from benchmarks.fixtures import build_weights_dir

                made = {"files": build_weights_dir(weights_dir, families=needed)}
            results["meta"]["weights"] = made.get("files") or made
        start_peak = run("peak", {"quick": a.quick}, "matmul peak (start)")
        results["peak"] = {"start": start_peak}
        results["meta"].update(torch=start_peak.get("torch"), threads=start_peak.get("threads"),
                               fast_precision=start_peak.get("fast_precision"))
        if "models" in sections:
            results["models"] = run_models(run, a, weights_dir, sizes, families, skips)
        if "gatys" in sections and "gatys" in families:
            results["gatys_convergence"], results["gatys_whole"] = run_gatys(run, a, weights_dir, sizes, skips)
        if "sr" in sections and "srvgg" in families:
            results["superres"] = run_superres(run, a, weights_dir, sizes, results.get("models", []))
        if "worker" in sections:
            results["memory"] = run_memory(run, a, weights_dir, families)
        if "firstjob" in sections:
            results["first_job"] = run_first_job(run, a, weights_dir, sizes, families, skips)
        if not a.quick:
            results["peak"]["end"] = run("peak", {"quick": a.quick}, "matmul peak (end)")
    finally:
        results["meta"]["loadavg_end"] = loadavg()
        results["meta"]["duration_s"] = time.perf_counter() - started
        results["skips"] = skips
        results["targets"] = collect_targets(results)
        summary = [t["pass"] for t in results["targets"] if t["pass"] is not None]
        results["summary"] = {"pass": sum(summary), "fail": len(summary) - sum(summary),
                              "median_model_speedup": statistics.median(
                                  [r["speedup"] for r in results.get("models", []) if r.get("speedup")] or [0])}
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(_clean(results), indent=1, default=str))
        shutil.rmtree(tmp, ignore_errors=True)
    if not a.no_markdown:
        print(report.render(results))
    print(f"JSON: {a.json}  ({results['meta']['duration_s'] / 60:.1f} min)", file=sys.stderr)
    return 0
