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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from environment import Env, EnvError, redact_url
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
    webhook_path: str = "/"  # always the path of webhook_url: what is served is what Telegram is told
    webhook_secret: str = ""  # given, or derived from the token (see derive_webhook_secret)
    host: str = "0.0.0.0"
    port: int = 8080
    admin_ids: frozenset[int] = frozenset()
    default_language: str = "en"
    log_level: str = "INFO"
    status_edit_interval: float = 2.0
    drain_seconds: float = 20.0
    telegram_retry_s: float = 60.0  # a call answered 429 / 5xx / network error is retried for this long in all
    webhook_check_interval: float = 300.0  # seconds between getWebhookInfo checks that log delivery errors
    jobs: JobSettings = field(default_factory=JobSettings)  # the job layer's and the engine's settings
    resources: ResourceLimits = field(default_factory=ResourceLimits)  # downloads, throttling, disk

    def __repr__(self) -> str:
        """Like the dataclass repr, without the token, the webhook secret or the password in REDIS_URL."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["bot_token"] = self.bot_token.split(":", 1)[0] + ":***"
        shown["webhook_secret"] = "***"
        if self.jobs.redis_url:
            shown["jobs"] = replace(self.jobs, redis_url=redact_url(self.jobs.redis_url))
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    __str__ = __repr__

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
        return _read(env)
    except EnvError as exc:
        raise ConfigError(exc.variable, exc.problem) from None


def _read(env: Env) -> Settings:
    """The bot's own variables; the job layer and the engine read theirs from the same ``Env``."""
    token = env.raw("BOT_TOKEN")
    if not token:
        raise ConfigError("BOT_TOKEN", "is not set (get a token from @BotFather and put it in .env)")
    if not _TOKEN_RE.match(token):
        raise ConfigError("BOT_TOKEN", "does not look like a bot token (digits:letters, from @BotFather)")

    webhook_url = env.url("WEBHOOK_URL")
    webhook_path = _webhook_path(env, webhook_url)
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
        admin_ids=_admin_ids(env),
        default_language=env.choice("DEFAULT_LANGUAGE", "en", LANGUAGES),
        log_level=log_level,
        status_edit_interval=env.number("STATUS_EDIT_INTERVAL", 2.0, 0.0, 60.0),
        drain_seconds=env.number("DRAIN_SECONDS", 20.0, 0.0, 3600.0),
        telegram_retry_s=env.number("TELEGRAM_RETRY_S", 60.0, 0.0, 3600.0),
        webhook_check_interval=env.number("WEBHOOK_CHECK_INTERVAL", 300.0, 0.05, 86400.0),
        jobs=jobs,
        resources=ResourceLimits.from_env(env),
    )


def _webhook_path(env: Env, webhook_url: str | None) -> str:
    """The path the server listens on is the path of WEBHOOK_URL ("/" when it has none), so that Telegram posts where
    the bot listens. WEBHOOK_PATH may only repeat it: a different value would lose every update to a 404."""
    given = env.raw("WEBHOOK_PATH")
    if given and not given.startswith("/"):
        raise ConfigError("WEBHOOK_PATH", f"must start with '/', got {given!r}")
    if not webhook_url:
        return given or "/"
    from_url = urlsplit(webhook_url).path or "/"
    if given and given != from_url:
        raise ConfigError("WEBHOOK_PATH", f"is {given!r} but WEBHOOK_URL's path is {from_url!r}: Telegram would post "
                                          "where the bot does not listen (leave WEBHOOK_PATH empty)")
    return from_url


def _admin_ids(env: Env) -> frozenset[int]:
    ids = set()
    for part in env.raw("ADMIN_IDS").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError("ADMIN_IDS", f"must be comma-separated numeric user ids, got {part!r}")
        ids.add(int(part))
    return frozenset(ids)
