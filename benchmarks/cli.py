"""``python -m benchmarks``: the engine's fast path against a plain fp32 reference, per model family and size.

Every case runs in its own subprocess (``benchmarks.case``), one after another: in parallel they would compete for
the same cores. This process never imports torch; it prints Markdown (``benchmarks.report``) and writes JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import report, targets
from benchmarks.common import DEFAULT_JSON, FAMILIES, REPO, cpu_description
from ml_models import allocator
from ml_models.settings import EngineSettings

SECTIONS = ("models", "gatys", "sr", "worker")
TIMEOUT_S = 2400.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="512,1024,2048", help="long sides in px (upscale: the input's side)")
    p.add_argument("--models", default=",".join(FAMILIES), help="comma list of " + ", ".join(FAMILIES))
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma list of " + ", ".join(SECTIONS))
    p.add_argument("--repeat", type=int, default=3, help="timed rounds after a warm-up (medians reported)")
    p.add_argument("--budget", type=float, help="seconds of timed runs per case and path (default 120, 20 quick)")
    p.add_argument("--rrdb-tiles", type=int, help="RRDB: time this many tiles per run and scale to the whole job "
                                                  "(0: every tile; default 2, 1 quick)")
    p.add_argument("--quick", action="store_true", help="20 s per case, 1 RRDB tile, the Gatys race at 256 px "
                                                        "against 100 reference steps, the worker loads only --models")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the results go (default: %(default)s)")
    p.add_argument("--no-markdown", action="store_true", help="write the JSON only")
    return p


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def run_case(tmp: Path, kind: str, args: dict, label: str) -> dict:
    """One ``benchmarks.case`` subprocess under the workers' allocator setting; its JSON or an ``error`` entry."""
    out = tmp / f"{len(list(tmp.glob('*.json')))}-{kind}.json"
    env = allocator.environment(os.environ, EngineSettings.from_env().allocator)
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.case", kind, json.dumps(args), str(out)], cwd=REPO,
                              env=env, timeout=TIMEOUT_S, capture_output=True, text=True)
        result = json.loads(out.read_text()) if out.is_file() else {"error": f"exit {proc.returncode}: "
                                                                             f"{proc.stderr[-1500:]}"}
    except subprocess.TimeoutExpired:
        result = {"error": f"timed out after {TIMEOUT_S:.0f} s"}
    status = f"ERROR {result['error'][:200]}" if "error" in result else "done"
    print(f"[{time.perf_counter() - started:7.1f} s] {label}: {status}", file=sys.stderr, flush=True)
    return result


def _clean(value):
    """JSON without NaN/Infinity (strict parsers refuse them): such numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    sizes, families, sections = sorted({int(s) for s in _csv(a.sizes)}), _csv(a.models), _csv(a.sections)
    if set(families) - set(FAMILIES) or set(sections) - set(SECTIONS) or not sizes or min(sizes) < 16 or a.repeat < 1:
        print("unknown --models or --sections, or a size under 16 px, or --repeat under 1", file=sys.stderr)
        return 2
    budget = a.budget if a.budget is not None else 20.0 if a.quick else 120.0
    rrdb_tiles = a.rrdb_tiles if a.rrdb_tiles is not None else 1 if a.quick else 2
    tmp = Path(tempfile.mkdtemp(prefix="artbot-bench-"))
    weights_dir = str(tmp / "weights")
    common = {"weights_dir": weights_dir, "repeat": a.repeat, "budget_s": budget, "quick": a.quick}
    started = time.perf_counter()
    results: dict = {"meta": {"started": datetime.now(UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:],
                              "sizes": sizes, "models": families, "sections": sections, "quick": a.quick,
                              "repeat": a.repeat, "budget_s": budget, "rrdb_tiles": rrdb_tiles,
                              "allocator": EngineSettings.from_env().allocator, "cpu": cpu_description(),
                              "targets": targets.TARGETS}}
    try:
        every = families if a.quick else list(FAMILIES)
        made = run_case(tmp, "weights", {"dir": weights_dir, "families": every}, "weights (genuine links, random rest)")
        results["meta"].update(weights=made.get("files"), torch=made.get("torch"), threads=made.get("threads"))
        if "models" in sections:
            results["models"] = []
            for family, size in itertools.product(families, sizes):
                args = {**common, "family": family, "size": size, "max_tiles": rrdb_tiles if family == "rrdb" else 0}
                result = run_case(tmp, "pair", args, f"{family} {size}")
                results["models"].append(targets.verdicts({"family": family, "size": size, **result}))
        if "gatys" in sections and "gatys" in families:
            results["gatys_convergence"] = run_case(
                tmp, "converge", {"weights_dir": weights_dir, "size": 256 if a.quick else 512,
                                  "ref_steps": 100 if a.quick else 300}, "gatys: time to the reference loss")
        if "sr" in sections and "srvgg" in families:
            results["upscale"] = [{"input": size, **run_case(tmp, "upscale", {**common, "size": size},
                                                             f"upscale job {size}")} for size in sizes]
        if "worker" in sections:
            results["worker"] = run_case(tmp, "worker", {"weights_dir": weights_dir, "families": every},
                                         "worker with every model")
    finally:
        results["meta"]["duration_s"] = time.perf_counter() - started
        results["targets"] = targets.collect(results)
        passed = [t["pass"] for t in results["targets"]]
        results["summary"] = {"pass": sum(passed), "fail": len(passed) - sum(passed)}
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(_clean(results), indent=1, default=str))
        shutil.rmtree(tmp, ignore_errors=True)
    if not a.no_markdown:
        print(report.render(results))
    print(f"JSON: {a.json}  ({results['meta']['duration_s'] / 60:.1f} min)", file=sys.stderr)
    return 0
