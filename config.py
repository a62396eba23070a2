"""The bot's configuration: environment variables (and an optional ``.env``) read once into one frozen object.

Everything the process needs is validated up front, so a typo in a variable stops the start with one line that names
the variable instead of a traceback minutes later in the middle of a dialogue. The variables are read through
``environment.Env``; the job layer's and the engine's part is built by ``JobSettings.from_env`` from the same ``Env``,
exactly as a Celery worker builds it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from environment import Env, EnvError
from jobs.settings import JobSettings
from ml_models.settings import EngineSettings
from services.resources import ResourceLimits

LANGUAGES = ("en", "ru")
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


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
    admin_ids: frozenset[int] = frozenset()
    default_language: str = "en"
    log_level: str = "INFO"
    status_edit_interval: float = 2.0
    drain_seconds: float = 20.0
    jobs: JobSettings = field(default_factory=JobSettings)  # the job layer's and the engine's settings
    resources: ResourceLimits = field(default_factory=ResourceLimits)  # downloads, throttling, disk

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)

    @property
    def bot_id(self) -> int:
        return int(self.bot_token.split(":", 1)[0])

    @property
    def redis_url(self) -> str | None:
        """FSM in Redis when set, in memory otherwise (the Celery executor uses the same Redis)."""
        return self.jobs.redis_url

    @property
    def data_dir(self) -> Path:
        """The journal, thumbnails, results kept for the after-result buttons, compiled catalogs."""
        return self.jobs.data_dir

    @property
    def engine(self) -> EngineSettings:
        return self.jobs.engine


def derive_webhook_secret(token: str) -> str:
    """A stable secret for the webhook header when WEBHOOK_SECRET is empty.

    It is a hash of the token, so it survives restarts and dyno changes without being stored anywhere, and anyone who
    can forge it already holds the token itself. Set WEBHOOK_SECRET to rotate it independently of the token.
    """
    return hashlib.sha256(b"artbot-webhook:" + token.encode()).hexdigest()


def load_settings(env: Env | Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> Settings:
    """Read and validate the configuration; raise :class:`ConfigError` naming the first bad variable.

    ``env`` defaults to ``os.environ``; values from ``dotenv_path`` fill only the variables ``env`` lacks (an ``Env``
    is taken as it is).
    """
    if not isinstance(env, Env):
        env = Env.load(env, dotenv_path)
    try:
        return _Reader(env).settings()
    except EnvError as exc:
        raise ConfigError(exc.variable, exc.problem) from None


class _Reader:
    """The bot's own variables; the job layer and the engine read theirs from the same ``Env``."""

    def __init__(self, env: Env) -> None:
        self.env = env

    # ------------------------------------------------------------------------------------------------ the whole

    def settings(self) -> Settings:
        env = self.env
        token = env.raw("BOT_TOKEN")
        if not token:
            raise ConfigError("BOT_TOKEN", "is not set (get a token from @BotFather and put it in .env)")
        if not _TOKEN_RE.match(token):
            raise ConfigError("BOT_TOKEN", "does not look like a bot token (digits:letters, from @BotFather)")

        webhook_url = env.url("WEBHOOK_URL")
        webhook_path = env.raw("WEBHOOK_PATH") or (urlsplit(webhook_url).path if webhook_url else "") or "/webhook"
        if not webhook_path.startswith("/"):
            raise ConfigError("WEBHOOK_PATH", f"must start with '/', got {webhook_path!r}")
        secret = env.raw("WEBHOOK_SECRET")
        if secret and not _SECRET_RE.match(secret):
            raise ConfigError("WEBHOOK_SECRET", "may hold only 1-256 characters A-Z, a-z, 0-9, _ and -")

        log_level = env.text("LOG_LEVEL", "INFO").upper()
        if not isinstance(logging.getLevelName(log_level), int):
            raise ConfigError("LOG_LEVEL", f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {log_level!r}")

        jobs = JobSettings.from_env(env)
        if jobs.executor == "celery" and not jobs.redis_url:
            raise ConfigError("REDIS_URL", "is required when EXECUTOR=celery")

        return Settings(
            bot_token=token,
            telegram_api_url=env.url("TELEGRAM_API_URL"),
            webhook_url=webhook_url,
            webhook_path=webhook_path,
            webhook_secret=secret or derive_webhook_secret(token),
            host=env.text("HOST", "0.0.0.0"),
            port=env.integer("PORT", 8080, 1, 65535),
            admin_ids=self._admin_ids(),
            default_language=env.choice("DEFAULT_LANGUAGE", "en", LANGUAGES),
            log_level=log_level,
            status_edit_interval=env.number("STATUS_EDIT_INTERVAL", 2.0, 0.0, 60.0),
            drain_seconds=env.number("DRAIN_SECONDS", 20.0, 0.0, 3600.0),
            jobs=jobs,
            resources=ResourceLimits.from_env(env),
        )

    def _admin_ids(self) -> frozenset[int]:
        ids = set()
        for part in self.env.raw("ADMIN_IDS").replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.lstrip("-").isdigit():
                raise ConfigError("ADMIN_IDS", f"must be comma-separated numeric user ids, got {part!r}")
            ids.add(int(part))
        return frozenset(ids)
