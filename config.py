"""The bot's configuration: environment variables (and an optional ``.env``) read once into one frozen object.

Everything the process needs is validated up front, so a typo in a variable stops the start with one line that names
the variable instead of a traceback minutes later in the middle of a dialogue. ``.env`` never overrides a variable
that is already set in the real environment (Heroku config vars win over a stray file in the slug).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dotenv import dotenv_values

from ml_models.settings import EngineSettings

if TYPE_CHECKING:
    from jobs import JobSettings

LANGUAGES = ("en", "ru")
EXECUTORS = ("local", "celery")
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_DOTTED_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*([.:][A-Za-z_]\w*)?$")


class ConfigError(SystemExit):
    """A missing or malformed variable. Exits the process with one line that names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"config error: {variable} {problem}")

    def __str__(self) -> str:
        return f"config error: {self.variable} {self.problem}"


@dataclass(frozen=True)
class Settings:
    """Everything the bot process reads from its environment. Build it with :func:`load_settings`."""

    bot_token: str
    telegram_api_url: str | None = None  # custom Bot API server (local server, the emulator, the sandbox)
    webhook_url: str | None = None  # set: webhook mode; empty: long polling
    webhook_path: str = "/webhook"
    webhook_secret: str = ""  # given, or derived from the token (see derive_webhook_secret)
    host: str = "0.0.0.0"
    port: int = 8080
    redis_url: str | None = None  # FSM in Redis when set, in memory otherwise
    admin_ids: frozenset[int] = frozenset()
    default_language: str = "en"
    log_level: str = "INFO"
    data_dir: Path = Path("data")
    status_edit_interval: float = 2.0
    drain_seconds: float = 20.0
    # the job layer
    executor: str = "local"
    workers: int = 0  # 0: one per GPU when CUDA is used, else 1 (the job layer decides)
    worker_threads: int = 0
    queue_limit: int = 20
    user_running_limit: int = 1
    user_queued_limit: int = 1
    preload: tuple[str, ...] = ()
    celery_queue: str = "styles"
    job_runner: str | None = None
    job_timeout_scale: float = 1.0
    engine: EngineSettings = field(default_factory=EngineSettings)

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)

    @property
    def bot_id(self) -> int:
        return int(self.bot_token.split(":", 1)[0])

    def job_settings(self) -> JobSettings:
        """The job layer's view of these settings (imported lazily: ``jobs`` is only needed once the bot runs)."""
        from jobs import JobSettings

        runner = {"runner": self.job_runner} if self.job_runner else {}
        return JobSettings(
            executor=self.executor,
            workers=self.workers,
            worker_threads=self.worker_threads,
            queue_limit=self.queue_limit,
            user_running_limit=self.user_running_limit,
            user_queued_limit=self.user_queued_limit,
            preload=self.preload,
            data_dir=self.data_dir,
            redis_url=self.redis_url,
            celery_queue=self.celery_queue,
            timeout_scale=self.job_timeout_scale,
            engine=self.engine,
            **runner,
        )


def derive_webhook_secret(token: str) -> str:
    """A stable secret for the webhook header when WEBHOOK_SECRET is empty.

    It is a hash of the token, so it survives restarts and dyno changes without being stored anywhere, and anyone who
    can forge it already holds the token itself. Set WEBHOOK_SECRET to rotate it independently of the token.
    """
    return hashlib.sha256(b"artbot-webhook:" + token.encode()).hexdigest()


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> Settings:
    """Read and validate the configuration; raise :class:`ConfigError` naming the first bad variable.

    ``env`` defaults to ``os.environ``; values from ``dotenv_path`` fill only the variables ``env`` lacks.
    """
    values: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if env is None else env)
    return _Reader(values).settings()


class _Reader:
    """Typed getters that name the variable in every error."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def raw(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def text(self, name: str, default: str = "") -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"must be a whole number, got {raw!r}") from None
        self._check_range(name, value, lo, hi)
        return value

    def number(self, name: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"must be a number, got {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(name, f"must be a finite number, got {raw!r}")
        self._check_range(name, value, lo, hi)
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...], lower: bool = True) -> str:
        raw = self.raw(name)
        value = (raw.lower() if lower else raw) or default
        if value not in choices:
            raise ConfigError(name, f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    def url(self, name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
        raw = self.raw(name)
        if not raw:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ConfigError(name, f"must be a {' or '.join(schemes)} URL, got {raw!r}")
        return raw

    @staticmethod
    def _check_range(name: str, value: float, lo: float | None, hi: float | None) -> None:
        if lo is not None and value < lo:
            raise ConfigError(name, f"must be at least {lo}, got {value}")
        if hi is not None and value > hi:
            raise ConfigError(name, f"must be at most {hi}, got {value}")

    # ------------------------------------------------------------------------------------------------ the whole

    def settings(self) -> Settings:
        token = self.raw("BOT_TOKEN")
        if not token:
            raise ConfigError("BOT_TOKEN", "is not set (get a token from @BotFather and put it in .env)")
        if not _TOKEN_RE.match(token):
            raise ConfigError("BOT_TOKEN", "does not look like a bot token (digits:letters, from @BotFather)")

        webhook_url = self.url("WEBHOOK_URL")
        webhook_path = self.raw("WEBHOOK_PATH") or (urlsplit(webhook_url).path if webhook_url else "") or "/webhook"
        if not webhook_path.startswith("/"):
            raise ConfigError("WEBHOOK_PATH", f"must start with '/', got {webhook_path!r}")
        secret = self.raw("WEBHOOK_SECRET")
        if secret and not _SECRET_RE.match(secret):
            raise ConfigError("WEBHOOK_SECRET", "may hold only 1-256 characters A-Z, a-z, 0-9, _ and -")

        log_level = self.text("LOG_LEVEL", "INFO").upper()
        if not isinstance(logging.getLevelName(log_level), int):
            raise ConfigError("LOG_LEVEL", f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {log_level!r}")

        job_runner = self.raw("JOB_RUNNER") or None
        if job_runner and not _DOTTED_RE.match(job_runner):
            raise ConfigError("JOB_RUNNER", f"must be a dotted path like package.module.function, got {job_runner!r}")

        executor = self.choice("EXECUTOR", "local", EXECUTORS)
        redis_url = self.url("REDIS_URL", ("redis", "rediss", "unix"))
        if executor == "celery" and not redis_url:
            raise ConfigError("REDIS_URL", "is required when EXECUTOR=celery")

        return Settings(
            bot_token=token,
            telegram_api_url=self.url("TELEGRAM_API_URL"),
            webhook_url=webhook_url,
            webhook_path=webhook_path,
            webhook_secret=secret or derive_webhook_secret(token),
            host=self.text("HOST", "0.0.0.0"),
            port=self.integer("PORT", 8080, 1, 65535),
            redis_url=redis_url,
            admin_ids=self._admin_ids(),
            default_language=self.choice("DEFAULT_LANGUAGE", "en", LANGUAGES),
            log_level=log_level,
            data_dir=Path(self.text("DATA_DIR", "data")).expanduser(),
            status_edit_interval=self.number("STATUS_EDIT_INTERVAL", 2.0, 0.0, 60.0),
            drain_seconds=self.number("DRAIN_SECONDS", 20.0, 0.0, 3600.0),
            executor=executor,
            workers=self.integer("WORKERS", 0, 0, 64),
            worker_threads=self.integer("WORKER_THREADS", 0, 0, 256),
            queue_limit=self.integer("QUEUE_LIMIT", 20, 1, 100_000),
            user_running_limit=self.integer("USER_RUNNING_LIMIT", 1, 1, 100),
            user_queued_limit=self.integer("USER_QUEUED_LIMIT", 1, 0, 100),
            preload=self._preload(),
            celery_queue=self.text("CELERY_QUEUE", "styles"),
            job_runner=job_runner,
            job_timeout_scale=self.number("JOB_TIMEOUT_SCALE", 1.0, 0.01, 1000.0),
            engine=self._engine(),
        )

    def _admin_ids(self) -> frozenset[int]:
        ids = set()
        for part in self.raw("ADMIN_IDS").replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.lstrip("-").isdigit():
                raise ConfigError("ADMIN_IDS", f"must be comma-separated numeric user ids, got {part!r}")
            ids.add(int(part))
        return frozenset(ids)

    def _preload(self) -> tuple[str, ...]:
        from ml_models import registry

        names = tuple(p for p in re.split(r"[,\s]+", self.raw("PRELOAD")) if p)
        for name in names:
            if name not in registry.MODELS:
                raise ConfigError("PRELOAD", f"names an unknown model {name!r}; known: {', '.join(registry.MODELS)}")
        return names

    def _engine(self) -> EngineSettings:
        # Validate the numbers here so a bad value names its variable; EngineSettings.from_env does the parsing.
        self.choice("DEVICE", "auto", ("auto", "cpu", "cuda", *(f"cuda:{i}" for i in range(16))))
        self.choice("PRECISION", "auto", ("auto", "fp32"))
        self.choice("ALLOCATOR", "reuse", ("reuse", "system"))
        self.integer("TORCH_THREADS", 0, 0, 1024)
        self.integer("MAX_INPUT_PIXELS", 40_000_000, 10_000, 1_000_000_000)
        self.integer("MAX_OUTPUT_SIDE", 8192, 64, 65_536)
        self.integer("SR_TILE", 256, 32, 4096)
        env = {k: v for k, v in self.values.items() if isinstance(v, str)}
        for name in ("DEVICE", "PRECISION", "ALLOCATOR"):
            if env.get(name):
                env[name] = env[name].strip().lower()
        try:
            return EngineSettings.from_env(env)
        except ValueError as exc:  # a variable EngineSettings learned after this file was written
            raise ConfigError("engine settings", str(exc)) from None
