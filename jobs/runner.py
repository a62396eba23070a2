"""How a worker (a pool process or a Celery worker) finds the function that runs a job.

``JobSettings.runner`` is a dotted path ``package.module:function`` with the engine's signature
``run(request, settings=None, progress=None, cancelled=None) -> JobResult``. Production uses
``ml_models.engine:run``; tests point it at ``tests.job_runners:sleepy``. If the runner's module also has
``preload(model_ids, settings)`` it is used for ``PRELOAD``. The repository root is put on ``sys.path`` so that
both resolve from any working directory. Only worker processes import this module's targets (they may load torch).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ml_models.settings import EngineSettings

log = logging.getLogger("jobs.worker")

REPO_ROOT = Path(__file__).resolve().parents[1]
Runner = Callable[..., Any]


def load_runner(dotted: str) -> tuple[Runner, Callable[..., None] | None]:
    """The runner function and its module's ``preload`` (or None)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    module_name, sep, attr = dotted.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"runner must look like 'package.module:function', got {dotted!r}")
    module = importlib.import_module(module_name)
    runner = getattr(module, attr)
    preload = getattr(module, "preload", None)
    return runner, preload if callable(preload) else None


def limit_threads(threads: int) -> None:
    """Cap the math libraries' threads before torch is imported, and torch's own pool after."""
    if threads <= 0:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def preload_models(preload: Callable[..., None] | None, model_ids: Iterable[str], engine: EngineSettings) -> None:
    """Load models at worker start; a failure is logged, not fatal (the job that needs the model reports it)."""
    model_ids = list(model_ids)
    if not model_ids or preload is None:
        return
    started = time.perf_counter()
    try:
        preload(model_ids, engine)
    except Exception:
        log.exception("preloading %s failed; those models load on first use", model_ids)
    else:
        log.info("preloaded %s in %.1f s", model_ids, time.perf_counter() - started)
