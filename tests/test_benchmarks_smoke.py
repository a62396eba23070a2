"""The benchmark runs end to end at a tiny size and writes the JSON the report promises (behaviour, not timing).

Timings on a shared 2-core machine mean nothing at 64 px; what is checked is that every case subprocess ran, that
the numbers are there, positive and finite, and that the JSON is strict (no NaN/Infinity). The FLOP counter is
checked exactly against hand-computed multiply-accumulates, the verdicts against hand-made rows.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ml_models import device

REPO = Path(__file__).resolve().parents[1]


def _run_benchmark(tmp_path: Path, *args: str, timeout: float = 240) -> dict:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--json", str(out), "--no-markdown", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant} in the results")

    return json.loads(out.read_text(), parse_constant=refuse)


def _positive(value: object, what: str) -> None:
    assert isinstance(value, int | float) and math.isfinite(value) and value > 0, f"{what} = {value!r}"


def _assert_pair(row: dict) -> None:
    """Both paths timed alternately in one process, the speed-up the median of the per-pair ratios."""
    assert "error" not in row, row.get("error")
    assert row["pairs"] == len(row["fast_times"]) == len(row["ref_times"]) >= 1
    for key in ("fast_s", "ref_s", "speedup", "fast_peak_pct", "ref_peak_pct", "peak_rss_mb"):
        _positive(row[key], f"{row['family']}.{key}")
    _positive(row["matmul_peak"]["fp32"], "fp32 matmul peak")
    if device.cpu_has_bf16():  # emulated bf16 is not measured (minutes per matmul; the engine never uses it there)
        _positive(row["matmul_peak"]["bf16"], "bf16 matmul peak")
    else:
        assert row["matmul_peak"]["bf16"] is None
    _positive(row["gflop"]["fast"], "GFLOP per job")
    assert row["precision"] in ("bfloat16", "float32")
    if sys.platform.startswith("linux"):
        assert row["allocator"] == "reuse"  # the workers' setting, fast and reference alike


def test_models_upscale_and_worker_fields(tmp_path: Path) -> None:
    results = _run_benchmark(tmp_path, "--sizes", "64", "--repeat", "1", "--models", "johnson,srvgg", "--quick",
                             "--sections", "models,sr,worker")
    meta = results["meta"]
    assert meta["sizes"] == [64] and meta["models"] == ["johnson", "srvgg"] and meta["quick"] is True
    assert meta["allocator"] == "reuse" and meta["cpu"]["model"] and meta["torch"]

    rows = {row["family"]: row for row in results["models"]}
    assert set(rows) == {"johnson", "srvgg"}
    for row in rows.values():
        _assert_pair(row)
        _positive(row["psnr_db"], f"{row['family']}.psnr_db")
        assert row["pass_fast"] is None and row["pass_peak"] is None  # targets for the conv-heavy families only
        # The FLOP count does not depend on the path: the same layers see the same shapes.
        assert row["gflop"]["fast"] == pytest.approx(row["gflop"]["ref"])
    assert rows["srvgg"]["tiles"] == {"timed": 1, "total": 1} and rows["johnson"]["tiles"] is None

    (upscale,) = results["upscale"]
    assert upscale["width"] == 256 and upscale["height"] == 256
    for key in ("first_s", "warm_s", "peak_rss_mb"):
        _positive(upscale[key], f"upscale.{key}")

    worker = results["worker"]
    assert "error" not in worker, worker
    assert worker["models"] == ["johnson", "upscale"]
    assert worker["rss_loaded_mb"] >= worker["rss_after_import_mb"] * 0.9
    assert [t["name"] for t in results["targets"]] == ["worker with every model loaded"]
    assert results["summary"]["pass"] + results["summary"]["fail"] == 1


def test_gatys_step_row_scores_the_gradient_a_step_computes(tmp_path: Path) -> None:
    results = _run_benchmark(tmp_path, "--sizes", "64", "--repeat", "1", "--models", "gatys", "--quick",
                             "--sections", "models")
    (row,) = results["models"]
    _assert_pair(row)
    assert row["psnr_basis"].startswith("the loss gradient of one step at the photo")
    if row["precision"] == "bfloat16":
        _positive(row["psnr_db"], "gatys.psnr_db")
    else:  # an fp32 fast path may compute the very same gradient: infinite PSNR, null in strict JSON
        assert row["psnr_db"] is None or row["psnr_db"] > 0
    # Gatys' VGG is conv-heavy: the 2x / 38 dB target applies, and the verdict is the row's own numbers against it
    meets = row["speedup"] >= 2.0 and (row["psnr_db"] is None or row["psnr_db"] >= 38.0)
    assert row["pass_fast"] is meets, (row["speedup"], row["psnr_db"])
    assert row["pass_peak"] is (row["fast_peak_pct"] >= 50.0)


def test_paths_alternate_after_an_untimed_round() -> None:
    from benchmarks.case import _alternate

    calls: list[str] = []
    fast, ref = _alternate(lambda: calls.append("f"), lambda: calls.append("r"), 3)
    assert calls == ["f", "r", "r", "f", "f", "r", "r", "f"]
    assert len(fast) == len(ref) == 3 and all(t >= 0 for t in fast + ref)


def test_flop_counter_matches_hand_count() -> None:
    import torch
    from torch import nn

    from benchmarks.flops import counting

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=4),
                        nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.Flatten(),
                        nn.Linear(4 * 20 * 20, 5))
    with torch.no_grad(), counting(net, net[0]) as count:  # a layer reached twice is hooked once
        net(torch.zeros(2, 3, 10, 10))
    conv = 2 * 8 * 10 * 10 * 3 * 3 * 3  # outputs x (in/groups) x kh x kw
    grouped = 2 * 8 * 10 * 10 * 2 * 3 * 3
    transposed = 2 * 8 * 10 * 10 * 4 * 3 * 3  # inputs x (out/groups) x kh x kw
    linear = 2 * 5 * 4 * 20 * 20
    assert count.flops == 2 * (conv + grouped + transposed + linear)
    assert count.calls == 4
    assert count.by_kind["ConvTranspose2d"] == 2 * transposed


def test_psnr_definition() -> None:
    import numpy as np

    from benchmarks.common import psnr

    a = np.zeros((4, 4))
    assert psnr(a, a, 1.0) == math.inf
    assert psnr(a, a + 0.1, 1.0) == pytest.approx(20.0)
    assert psnr(a, a + 0.1, 2.0) == pytest.approx(20.0 + 20 * math.log10(2))


def test_speed_and_peak_targets_apply_to_the_conv_heavy_models_only() -> None:
    """The ≥50 % of peak and ≥2x over the reference targets are for AdaIN, CycleGAN, RRDB and Gatys' VGG; the other
    families are measured and shown but get no verdict."""
    from benchmarks import targets

    def row(family: str, speedup: float, psnr_db: float | None) -> dict:
        return targets.verdicts({"family": family, "size": 512, "speedup": speedup, "psnr_db": psnr_db,
                                 "fast_peak_pct": 62.0, "precision": "bfloat16"})

    assert row("adain", 2.5, 45.0)["pass_fast"] is True and row("adain", 2.5, 45.0)["pass_peak"] is True
    assert row("adain", 1.8, 45.0)["pass_fast"] is False and row("adain", 2.5, 30.0)["pass_fast"] is False
    assert row("johnson", 2.5, 45.0)["pass_fast"] is None and row("johnson", 2.5, 45.0)["pass_peak"] is None
    rows = [row("adain", 1.8, 45.0), row("johnson", 2.5, 45.0)]
    names = [t["name"] for t in targets.collect({"models": rows})]
    assert len(names) == 2 and all(n.startswith("adain 512: ") for n in names)
    jobs = [{"input": 1024, "warm_s": 4.0, "peak_rss_mb": 700.0},
            {"input": 2048, "warm_s": 24.0, "peak_rss_mb": 1300.0}]
    verdicts = {t["name"]: t["pass"] for t in targets.collect({"upscale": jobs})}
    assert verdicts == {"upscale 2048x2048 -> 8192x8192: whole-job peak RSS": True,
                        "upscale time linear in pixels (1024 -> 2048)": False}  # 1.5x the seconds per pixel


def test_gatys_gradient_fidelity_compares_one_steps_work() -> None:
    import torch

    from benchmarks.gatys_bench import gradient_fidelity
    from ml_models import gatys
    from ml_models.vgg import LAYER_INDEX, VGG19

    torch.manual_seed(0)
    vgg = VGG19(depth=LAYER_INDEX["relu2_1"]).eval().requires_grad_(False)
    config = gatys.GatysConfig(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    same = gradient_fidelity(vgg, vgg, torch.float32, content, style, config, {"photo": content})["photo"]
    assert same["rel_l2"] == 0.0 and same["cosine"] == pytest.approx(1.0)
    half = gradient_fidelity(vgg, vgg, torch.bfloat16, content, style, config, {"photo": content})["photo"]
    assert 0.0 < half["rel_l2"] < 0.5 and half["cosine"] > 0.85 and 10.0 < half["psnr_db"] < 80.0


def test_gatys_convergence_races_the_engines_schedule_to_the_bar(tmp_path: Path) -> None:
    """The fast run gets the reference's time; the ratio is there exactly when the bar was reached."""
    import torch

    from benchmarks import report
    from benchmarks.gatys_bench import convergence

    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    result = convergence(tmp_path, content, style, ref_steps=3)  # no weight files: a random VGG-19
    bar, budget = result["reference"]["final_loss"], result["reference"]["seconds"]
    assert result["reference"]["rescored_fp32"] == pytest.approx(bar, rel=1e-4)  # the scorer is the same loss
    assert result["last_scored"] is not None
    reached = result["reached"]
    if reached:
        assert reached["loss"] <= bar and result["ratio"] == pytest.approx(reached["seconds"] / budget)
        assert "coarse-to-fine) reaches it" in report.gatys_race(result)
    else:
        assert result["ratio"] is None and result["last_scored"]["seconds"] > budget
        assert "over the reference's time" in report.gatys_race(result)
    assert set(result["gradient_fidelity"]) == {"photo", "reference's result"}


def test_super_resolution_case_times_only_the_first_tiles(tmp_path: Path) -> None:
    """RRDB jobs take minutes: a capped run does the first tiles of the engine's tiling and says how many there are."""
    import torch

    from benchmarks import cases

    content = torch.rand(1, 3, 300, 300)  # 256-px tiles with the engine's overlap: 2 x 2
    capped = cases.build("srvgg", tmp_path, content, content, "ref", max_tiles=1)  # no weight file: a random SRVGG
    out = capped.forward()
    side = math.isqrt(out.numel() // 3)  # one square x4 tile of at most 256 input px
    assert capped.tiles == {"timed": 1, "total": 4} and out.numel() == 3 * side * side and 600 < side <= 1024
    whole = cases.build("srvgg", tmp_path, content, content, "ref")
    assert whole.forward().shape == (1, 3, 1200, 1200) and whole.tiles == {"timed": 4, "total": 4}
