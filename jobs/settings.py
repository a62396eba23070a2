"""Job layer settings, and how many workers on which devices (worked out without importing torch).

The bot process must not load torch just to count GPUs, so GPUs are counted the way the driver exposes them:
``CUDA_VISIBLE_DEVICES`` when set, else ``/proc/driver/nvidia/gpus``, else ``nvidia-smi -L``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from environment import Env, EnvError
from ml_models import registry
from ml_models.settings import EngineSettings

EXECUTORS = ("local", "celery")
DEFAULT_RUNNER = "ml_models.engine:run"
_DOTTED_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*([.:][A-Za-z_]\w*)?$")


@dataclass(frozen=True)
class JobSettings:
    """The job layer's settings; the bot's ``Settings.jobs`` and a Celery worker build them with :meth:`from_env`."""

    executor: str = "local"  # local | celery
    workers: int = 0  # 0: one per GPU when CUDA is used (DEVICE=cuda/auto with GPUs), else 1
    worker_threads: int = 0  # torch threads per worker; 0: cores // workers
    queue_limit: int = 100  # queued jobs in all (running ones not counted): a bound on memory
    queue_max_wait: float = 120.0  # refuse a job whose estimated wait for a worker is longer (0: no limit)
    user_running_limit: int = 1
    user_queued_limit: int = 1
    preload: tuple[str, ...] = ()  # model ids loaded at worker start
    data_dir: Path = Path("data")  # SQLite journal lives here
    redis_url: str | None = None
    redis_ssl_cert_reqs: str = "required"  # for rediss://: none turns certificate checks off (logged as a warning)
    redis_ca_cert: str | None = None  # for rediss://: the provider's CA certificate file
    celery_queue: str = "styles"
    runner: str = DEFAULT_RUNNER  # dotted path, importable in the worker
    timeout_scale: float = 1.0  # multiplies registry ModelSpec.timeout_s
    engine: EngineSettings = field(default_factory=EngineSettings)
    # Beyond the bot's contract, with defaults that suit production:
    cancel_grace_s: float = 20.0  # a running job that ignores cancellation this long has its worker replaced
    visibility_timeout: int = 3600  # Celery/Redis: an unacknowledged task is delivered again after this many seconds
    max_attempts: int = 3  # Celery: deliveries of one task before it fails as worker_died (a poison input)
    poll_interval: float = 0.3  # Celery: seconds between result backend polls on the bot side
    worker_memory_mb: int = -1  # address space (RLIMIT_DATA) per worker; -1: machine memory / workers, 0: no limit
    journal_durable: bool = True  # the SQLite journal outlives a restart of this machine (not on a Heroku dyno)
    result_ttl_s: float = 7 * 24 * 3600.0  # undelivered results, kept results and thumbnails older than this go
    replica_id: str = field(default_factory=socket.gethostname)  # owner of the jobs this bot process journals
    input_memory_bytes: int = 64 * 2**20  # queued jobs' pictures in memory; beyond it they wait on disk

    @classmethod
    def from_env(cls, env: Env | Mapping[str, str] | None = None) -> JobSettings:
        """Read and check the documented variables (jobs/README.md); raise ``EnvError`` naming a bad one."""
        env = Env.of(env)
        settings = cls._read(env)
        if settings.executor == "celery":
            check_visibility_timeout(settings)
        return settings

    @classmethod
    def _read(cls, env: Env) -> JobSettings:
        return cls(
            executor=env.choice("EXECUTOR", "local", EXECUTORS),
            workers=env.integer("WORKERS", 0, 0, 64),
            worker_threads=env.integer("WORKER_THREADS", 0, 0, 256),
            queue_limit=env.integer("QUEUE_LIMIT", 100, 1, 100_000),
            queue_max_wait=env.number("QUEUE_MAX_WAIT", 120.0, 0.0, 86_400.0),
            user_running_limit=env.integer("USER_RUNNING_LIMIT", 1, 1, 100),
            user_queued_limit=env.integer("USER_QUEUED_LIMIT", 1, 0, 100),
            preload=_preload(env),
            data_dir=env.path("DATA_DIR", Path("data")),
            redis_url=env.url("REDIS_URL", ("redis", "rediss", "unix")),
            redis_ssl_cert_reqs=env.choice("REDIS_SSL_CERT_REQS", "required", ("required", "optional", "none")),
            redis_ca_cert=env.text("REDIS_CA_CERT") or None,
            celery_queue=env.text("CELERY_QUEUE", "styles"),
            runner=_runner(env),
            timeout_scale=env.number("JOB_TIMEOUT_SCALE", 1.0, 0.001, 1000.0),
            engine=EngineSettings.from_env(env),
            cancel_grace_s=env.number("CANCEL_GRACE_S", 20.0, 0.0, 3600.0),
            visibility_timeout=env.integer("CELERY_VISIBILITY_TIMEOUT", 3600, 1, 7 * 24 * 3600),
            max_attempts=env.integer("CELERY_MAX_ATTEMPTS", 3, 1, 100),
            poll_interval=env.number("CELERY_POLL_INTERVAL", 0.3, 0.01, 60.0),
            worker_memory_mb=env.integer("WORKER_MEMORY_MB", -1, -1, 1 << 30),
            journal_durable=_journal_durable(env),
            result_ttl_s=env.number("RESULT_TTL", 7 * 24 * 3600.0, 60.0, 365 * 24 * 3600.0),
            replica_id=env.raw("REPLICA_ID") or env.raw("DYNO") or socket.gethostname(),
            input_memory_bytes=env.integer("INPUT_MEMORY_MB", 64, 0, 1_000_000) * 2**20,
        )


VISIBILITY_MARGIN_S = 60.0  # a job's time limit is enforced up to 15 s late, then its result must be stored


def check_visibility_timeout(settings: JobSettings) -> None:
    """Redis redelivers a task not acknowledged within the visibility timeout; a shorter timeout than the longest
    job would run it twice, so the start refuses it with one line."""
    longest = max(spec.timeout_s for spec in registry.MODELS.values()) * settings.timeout_scale
    needed = longest + VISIBILITY_MARGIN_S
    if settings.visibility_timeout < needed:
        raise EnvError("CELERY_VISIBILITY_TIMEOUT", f"is {settings.visibility_timeout} s, shorter than the longest "
                       f"model time limit x JOB_TIMEOUT_SCALE ({longest:.0f} s) + {VISIBILITY_MARGIN_S:.0f} s: set "
                       f"it to at least {needed:.0f}")


def _journal_durable(env: Env) -> bool:
    """JOURNAL_DURABLE=auto (default) trusts the local disk except on Heroku (``DYNO`` set), whose disk is wiped
    at every restart; yes/no override. With REDIS_URL the journal lives in Redis and this says nothing."""
    choice = env.choice("JOURNAL_DURABLE", "auto", ("auto", "yes", "no"))
    if choice == "auto":
        return not env.raw("DYNO")
    return choice == "yes"


def _preload(env: Env) -> tuple[str, ...]:
    names = env.words("PRELOAD")
    for name in names:
        if name not in registry.MODELS:
            raise EnvError("PRELOAD", f"names an unknown model {name!r}; known: {', '.join(registry.MODELS)}")
    return names


def _runner(env: Env) -> str:
    runner = env.raw("JOB_RUNNER")
    if runner and not _DOTTED_RE.match(runner):
        raise EnvError("JOB_RUNNER", f"must be a dotted path like package.module:function, got {runner!r}")
    return runner or DEFAULT_RUNNER


def gpu_count(env: Env | Mapping[str, str] | None = None) -> int:
    """GPUs this process could use, counted without torch (0 when none or unknown)."""
    visible = Env.of(env).get("CUDA_VISIBLE_DEVICES")  # not stripped: "" hides every GPU
    if visible is not None:
        count = 0
        for item in visible.split(","):  # CUDA stops at the first invalid entry; "-1" or "" hides every GPU
            item = item.strip()
            if not item or item.startswith("-"):
                break
            count += 1
        return count
    proc = Path("/proc/driver/nvidia/gpus")
    if proc.is_dir():
        return sum(1 for _ in proc.iterdir())
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return 0
        return sum(1 for line in out.splitlines() if line.startswith("GPU "))
    return 0


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WorkerPlan:
    """One entry per worker process: the engine settings it runs with (device and torch threads filled in)."""

    engines: tuple[EngineSettings, ...]
    threads: int
    memory_mb: int | None = None  # each worker's memory limit (None: none)


MEMORY_RESERVE_MB = 300
"""Left to the bot process and the system when the worker limit is derived from the machine's memory."""


def machine_memory_mb() -> int | None:
    """The memory this machine (or its cgroup: a container, a Heroku dyno) may use, in MiB."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text) >> 20
    try:  # no cgroup limit: the machine's RAM
        meminfo = Path("/proc/meminfo").read_text().split()
        return int(meminfo[meminfo.index("MemTotal:") + 1]) >> 10  # KiB
    except (OSError, ValueError, IndexError):
        return None


def worker_memory_mb(settings: JobSettings, workers: int, uses_cuda: bool = False,
                     total_mb: int | None = None) -> int | None:
    """WORKER_MEMORY_MB, or by default (CPU workers only: a CUDA runtime reserves address space freely) the
    machine's memory less a reserve for the bot, shared by the workers; None means no limit."""
    if settings.worker_memory_mb >= 0:
        return settings.worker_memory_mb or None
    if uses_cuda:
        return None
    total_mb = machine_memory_mb() if total_mb is None else total_mb
    return max(512, (total_mb - MEMORY_RESERVE_MB) // max(1, workers)) if total_mb else None


def plan_workers(settings: JobSettings, gpus: int | None = None, cores: int | None = None) -> WorkerPlan:
    """Decide the worker count, each worker's device and its torch threads.

    With DEVICE=auto or cuda and N GPUs, worker i gets ``cuda:{i % N}`` so that one worker per GPU (the default)
    never shares a card. Threads default to ``cores // workers`` so CPU workers do not oversubscribe the cores.
    """
    device = settings.engine.device
    gpus = gpu_count() if gpus is None else gpus
    uses_cuda = device == "cuda" or (device == "auto" and gpus > 0)
    workers = settings.workers or (max(gpus, 1) if uses_cuda else 1)
    cores = cpu_count() if cores is None else cores
    threads = settings.worker_threads or settings.engine.torch_threads or max(1, cores // workers)
    engines = []
    for i in range(workers):
        worker_device = f"cuda:{i % gpus}" if uses_cuda and gpus > 0 else device
        engines.append(replace(settings.engine, device=worker_device, torch_threads=threads))
    return WorkerPlan(tuple(engines), threads, worker_memory_mb(settings, workers, uses_cuda))
