"""The collected results as Markdown tables (pure Python, no torch); how each column is measured:
docs/performance.md."""

from __future__ import annotations

import math
from collections.abc import Iterable


def num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return "∞" if math.isinf(value) else f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"
    return str(value)


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else "PASS" if ok else "FAIL"


def table(headers: list[str], rows: Iterable[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def models_table(rows: list[dict]) -> str:
    headers = ["model", "size", "weights", "fast path", "fast s", "ref s", "speed-up (pairs)", "PSNR dB", "GFLOP/job",
               "% peak fast / ref", "peak RSS MiB", "≥50 % peak", "≥2x & ≥38 dB"]
    out = []
    for r in rows:
        if "error" in r:
            out.append([r["family"], r["size"], f"ERROR: {r['error']}"[:160]] + ["–"] * (len(headers) - 3))
            continue
        tiles = r.get("tiles") or {}
        partial = f" ({tiles['timed']}/{tiles['total']} tiles)" if tiles.get("timed", 0) < tiles.get("total", 0) else ""
        out.append([r["family"], f"{r['size']}{partial}", "genuine" if r["genuine"] else "random", r["precision"],
                    num(r["fast_s"], 3), num(r["ref_s"], 3), f"{num(r['speedup'])}x ({r['pairs']})",
                    num(r["psnr_db"], 1), num(r["gflop"]["ref"], 1),
                    f"{num(r['fast_peak_pct'], 0)} / {num(r['ref_peak_pct'], 0)} %", num(r["peak_rss_mb"], 0),
                    verdict(r["pass_peak"]), verdict(r["pass_fast"])])
    return table(headers, out)


def gatys_race(c: dict) -> str:
    ref, reached, last = c["reference"], c["reached"], c["last_scored"]
    rows = [["reference: fp32, NCHW, single scale", ref["steps"], num(ref["seconds"], 1), f"{ref['final_loss']:.5g}"]]
    if reached:
        rows.append([f"fast ({c['precision']}, NHWC, coarse-to-fine) reaches it", reached["step"],
                     num(reached["seconds"], 1), f"{reached['loss']:.5g}"])
    elif last:
        rows.append(["fast, last iterate (over the reference's time)", last["step"], num(last["seconds"], 1),
                     f"{last['loss']:.5g}"])
    fidelity = [[name, num(f["psnr_db"], 1), f"{f['rel_l2']:.4f}", f"{f['cosine']:.5f}"]
                for name, f in c["gradient_fidelity"].items()]
    return (f"{c['size'][0]}x{c['size'][1]} px, VGG {c['vgg']}, fast schedule {c['schedule']}; "
            f"{num(c['scoring_excluded_s'], 1)} s of fp32 re-scoring excluded. Ratio: **{num(c['ratio'], 3)}**\n\n"
            + table(["run", "steps", "seconds", "total loss"], rows) + "\n\nLoss gradient, fast against fp32:\n\n"
            + table(["image", "PSNR dB", "relative L2 error", "cosine"], fidelity))


def upscale_table(jobs: list[dict]) -> str:
    rows = [[r["input"], f"ERROR: {r['error']}"[:160], "–", "–", "–", "–"] if "error" in r else
            [f"{r['input']}²", f"{r['width']}x{r['height']} {r['mime']}", num(r["first_s"]), num(r["warm_s"]),
             num(r["warm_s"] / (r["input"] ** 2 / 1e6)), num(r["peak_rss_mb"], 0)] for r in jobs]
    return table(["input", "output", "first job s", "warm job s", "s / input MP", "peak RSS MiB"], rows)


def render(results: dict) -> str:
    """The whole report as Markdown."""
    meta, cpu = results["meta"], results["meta"]["cpu"]
    parts = [f"# Benchmark {meta['started']}",
             f"CPU: **{cpu['model']}** ({cpu['logical_cpus']} logical CPUs; {', '.join(cpu['flags'])}), torch "
             f"{meta.get('torch', '?')}, {meta.get('threads', '?')} threads, allocator {meta['allocator']} in every "
             "case process."]
    if results.get("models"):
        parts.append("## Models: the engine's fast path against fp32 NCHW `torch.no_grad()`, timed alternately\n\n"
                     + models_table(results["models"]))
    race = results.get("gatys_convergence")
    if race:
        parts.append("## Gatys: time to the fp32 reference's loss\n\n"
                     + (f"ERROR: {race['error']}" if "error" in race else gatys_race(race)))
    if results.get("upscale"):
        parts.append("## Upscale jobs (realesr-animevideov3, through the engine)\n\n"
                     + upscale_table(results["upscale"]))
    worker = results.get("worker")
    if worker:
        parts.append("## Worker memory\n\n" + (f"ERROR: {worker['error']}" if "error" in worker else
                     f"{num(worker['rss_after_import_mb'], 0)} MiB with torch and the engine imported, "
                     f"{num(worker['rss_loaded_mb'], 0)} MiB after `engine.preload({worker['models']})` "
                     f"({num(worker['load_s'], 1)} s)."))
    parts.append("## Targets\n\n" + table(["target", "measured", "threshold", "verdict"],
                                          [[t["name"], t["measured"], t["threshold"], verdict(t["pass"])]
                                           for t in results["targets"]]))
    return "\n\n".join(parts) + "\n"
