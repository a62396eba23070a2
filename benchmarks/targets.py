"""The numbers the engine is held to (printed as PASS/FAIL). Memory is in MiB."""

CONV_HEAVY = frozenset({"adain", "cyclegan", "rrdb", "gatys"})  # the peak and speed-up targets apply to these
TARGETS = {
    "conv_peak_fraction": 0.50,  # conv-heavy models vs the matmul peak in the fast path's precision
    "fast_speedup": 2.0,  # fast path over the fp32 NCHW reference ...
    "fast_psnr_db": 38.0,  # ... with outputs this close
    "gatys_time_ratio": 0.25,  # fast path reaches the reference's final loss within this share of its time
    "sr_2048_peak_rss_mb": 2048.0,  # x4 upscale of a 2048 x 2048 photo, whole job (2 GiB)
    "worker_rss_mb": 1024.0,  # a worker with every model family loaded (1 GiB)
    "sr_linear_tolerance": 1.3,  # seconds per megapixel at the largest size within this factor of the smallest
}


def verdicts(row: dict) -> dict:
    """``row`` (a model case's result) with ``pass_peak`` and ``pass_fast``: None for the families without targets."""
    heavy = row["family"] in CONV_HEAVY and "error" not in row
    psnr = row.get("psnr_db")
    row["pass_peak"] = row["fast_peak_pct"] >= 100 * TARGETS["conv_peak_fraction"] if heavy else None
    row["pass_fast"] = (row["speedup"] >= TARGETS["fast_speedup"] and psnr is not None
                        and psnr >= TARGETS["fast_psnr_db"]) if heavy else None
    return row


def collect(results: dict) -> list[dict]:
    """Every target the run measured: {name, measured, threshold, pass}."""
    t, out = TARGETS, []

    def add(name: str, measured: str, threshold: str, ok: bool) -> None:
        out.append({"name": name, "measured": measured, "threshold": threshold, "pass": bool(ok)})

    for row in results.get("models", []):
        name = f"{row['family']} {row['size']}"
        if row.get("pass_peak") is not None:
            add(f"{name}: fast path ≥ {t['conv_peak_fraction']:.0%} of the {row['precision']} matmul peak",
                f"{row['fast_peak_pct']:.0f} %", f"{100 * t['conv_peak_fraction']:.0f} %", row["pass_peak"])
        if row.get("pass_fast") is not None:
            add(f"{name}: fast ≥ {t['fast_speedup']:g}x ref with PSNR ≥ {t['fast_psnr_db']:g} dB",
                f"{row['speedup']:.2f}x, {row['psnr_db']:.1f} dB", f"{t['fast_speedup']:g}x, {t['fast_psnr_db']:g} dB",
                row["pass_fast"])
    race = results.get("gatys_convergence") or {}
    if race and "error" not in race:
        ratio = race["ratio"]
        add("gatys: fast reaches the reference loss", "not reached" if ratio is None else f"{ratio:.1%} of its time",
            f"≤ {t['gatys_time_ratio']:.0%}", ratio is not None and ratio <= t["gatys_time_ratio"])
    jobs = [r for r in results.get("upscale", []) if "error" not in r]
    for r in jobs:
        if r["input"] == 2048:
            add("upscale 2048x2048 -> 8192x8192: whole-job peak RSS", f"{r['peak_rss_mb']:.0f} MiB",
                f"≤ {t['sr_2048_peak_rss_mb']:.0f} MiB", r["peak_rss_mb"] <= t["sr_2048_peak_rss_mb"])
    if len(jobs) >= 2:
        factor = (jobs[-1]["warm_s"] / jobs[-1]["input"] ** 2) / (jobs[0]["warm_s"] / jobs[0]["input"] ** 2)
        add(f"upscale time linear in pixels ({jobs[0]['input']} -> {jobs[-1]['input']})", f"s/MP x{factor:.2f}",
            f"≤ x{t['sr_linear_tolerance']:g}", factor <= t["sr_linear_tolerance"])
    worker = results.get("worker") or {}
    if worker and "error" not in worker:
        add("worker with every model loaded", f"{worker['rss_loaded_mb']:.0f} MiB", f"≤ {t['worker_rss_mb']:.0f} MiB",
            worker["rss_loaded_mb"] <= t["worker_rss_mb"])
    return out
