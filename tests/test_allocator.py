"""The allocator setting of processes that run jobs: freed tensor memory is reused without page faults and without
growing the heap, and it is given back after a job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml_models import allocator

ROOT = Path(__file__).resolve().parent.parent
GLIBC = sys.platform.startswith("linux") and allocator._glibc() is not None

# Allocates, touches and frees a 64 MiB tensor four times: the page faults of the last round, the RSS with that
# memory free, the RSS after release_freed_memory, and whether the process says it started tuned.
PROBE = """
import json, resource
import torch
from benchmarks.common import rss_mb
from ml_models import allocator
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = rss_mb()
for _ in range(4):
    before = faults()
    x = torch.empty(16 * 2**20, dtype=torch.float32)
    x.fill_(1.0)
    del x
    last = faults() - before
free_rss = rss_mb()
allocator.release_freed_memory()
print(json.dumps({"tuned": allocator.started_tuned(), "faults": last, "held": free_rss - start,
                  "released": rss_mb() - start}))
"""


def probe(mode: str) -> dict:
    env = allocator.environment({k: v for k, v in os.environ.items() if k != allocator.VARIABLE}, mode)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the allocator setting is for glibc (Linux)")
def test_reused_memory_takes_no_page_faults_does_not_grow_and_is_released_after_the_job():
    system, reuse = probe("system"), probe("reuse")
    assert not system["tuned"] and reuse["tuned"]
    pages = 64 * 2**20 // 4096
    assert system["faults"] > pages // 2  # glibc mmaps a 64 MiB block afresh each time: every page faults in again
    assert reuse["faults"] < pages // 50  # the heap keeps it: the same pages again
    assert 48 < reuse["held"] < 100  # one block held while free (not one per round: see the tcache note) ...
    assert reuse["released"] < 16  # ... until released
    assert system["held"] < 16


def test_tunables_merge_with_the_operators_and_only_for_reuse():
    env = allocator.environment({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=7:glibc.malloc.arena_max=2"}, "reuse")
    items = env["GLIBC_TUNABLES"].split(":") if sys.platform.startswith("linux") else []
    if items:
        assert "glibc.malloc.tcache_count=7" in items and "glibc.malloc.tcache_count=0" not in items  # theirs win
        assert "glibc.malloc.arena_max=2" in items and "glibc.malloc.mmap_max=0" in items
    assert allocator.environment({"A": "1"}, "system") == {"A": "1"}


def test_system_takes_only_our_tunables_out_and_the_jobs_readme_names_them():
    ours = ":".join(allocator.TUNABLES)
    assert allocator.environment({"GLIBC_TUNABLES": ours}, "system") == {}
    kept = allocator.environment({"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{ours}"}, "system")
    assert kept == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert ours in (ROOT / "jobs" / "README.md").read_text()  # the Celery worker's environment


def test_engine_settings_default_to_reuse_and_accept_system():
    from ml_models.settings import EngineSettings

    assert EngineSettings.from_env({}).allocator == "reuse"
    assert EngineSettings.from_env({"ALLOCATOR": " System "}).allocator == "system"
