"""config.load_settings: defaults, validation errors that name the variable, webhook vs polling, .env handling."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, Settings, derive_webhook_secret, load_settings
from jobs import JobSettings

REPO = Path(__file__).resolve().parents[1]
TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"


def load(**env: str) -> Settings:
    return load_settings({"BOT_TOKEN": TOKEN, **env}, dotenv_path=None)


def test_defaults() -> None:
    s = load()
    assert s.bot_token == TOKEN and s.bot_id == 123456
    assert s.telegram_api_url is None
    assert not s.webhook_mode and s.webhook_path == "/"
    assert s.telegram_retry_s == 60.0 and s.webhook_check_interval == 300.0
    assert (s.host, s.port) == ("0.0.0.0", 8080)
    assert s.redis_url is None and s.admin_ids == frozenset()
    assert s.default_language == "en" and s.log_level == "INFO"
    assert s.data_dir == Path("data") and s.status_edit_interval == 2.0
    js = s.jobs
    assert (js.executor, js.workers, js.queue_limit, js.user_running_limit, js.user_queued_limit) == (
        "local", 0, 100, 1, 1)
    assert js.preload == () and js.runner == "ml_models.engine:run" and js.timeout_scale == 1.0
    assert s.engine.max_input_pixels == 40_000_000 and s.engine.device == "auto"


def test_settings_are_frozen() -> None:
    settings = load()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        settings.jobs.queue_limit = 1  # type: ignore[misc]  # the job layer's part too


@pytest.mark.parametrize(("env", "variable"), [
    ({"BOT_TOKEN": ""}, "BOT_TOKEN"),
    ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
    ({"PORT": "eighty"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"WEBHOOK_URL": "ftp://example.com/hook"}, "WEBHOOK_URL"),
    ({"WEBHOOK_PATH": "hook"}, "WEBHOOK_PATH"),
    ({"WEBHOOK_SECRET": "has spaces!"}, "WEBHOOK_SECRET"),
    ({"TELEGRAM_API_URL": "localhost:8081"}, "TELEGRAM_API_URL"),
    ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
    ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
    ({"DEFAULT_LANGUAGE": "de"}, "DEFAULT_LANGUAGE"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"STATUS_EDIT_INTERVAL": "fast"}, "STATUS_EDIT_INTERVAL"),
    ({"STATUS_EDIT_INTERVAL": "nan"}, "STATUS_EDIT_INTERVAL"),
    ({"EXECUTOR": "threads"}, "EXECUTOR"),
    ({"EXECUTOR": "celery"}, "REDIS_URL"),
    ({"WORKERS": "-1"}, "WORKERS"),
    ({"QUEUE_LIMIT": "0"}, "QUEUE_LIMIT"),
    ({"PRELOAD": "microast,nosuchmodel"}, "PRELOAD"),
    ({"JOB_RUNNER": "not a path"}, "JOB_RUNNER"),
    ({"JOB_TIMEOUT_SCALE": "0"}, "JOB_TIMEOUT_SCALE"),
    ({"DEVICE": "tpu"}, "DEVICE"),
    ({"PRECISION": "fp8"}, "PRECISION"),
    ({"MAX_INPUT_PIXELS": "many"}, "MAX_INPUT_PIXELS"),
    ({"SR_TILE": "1.5"}, "SR_TILE"),
    ({"ALLOCATOR": "tcmalloc"}, "ALLOCATOR"),
    ({"CANCEL_GRACE_S": "soon"}, "CANCEL_GRACE_S"),
    ({"REDIS_SSL_CERT_REQS": "maybe"}, "REDIS_SSL_CERT_REQS"),
])
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**env)
    assert info.value.variable == variable
    line = str(info.value)
    assert line.startswith(f"config error: {variable} ") and "\n" not in line
    assert isinstance(info.value, SystemExit)


def test_webhook_mode_and_derived_secret() -> None:
    s = load(WEBHOOK_URL="https://bot.example.com/tg/hook", PORT="5000")
    assert s.webhook_mode and s.port == 5000
    assert s.webhook_path == "/tg/hook"  # taken from the URL when WEBHOOK_PATH is not set
    assert s.webhook_secret == derive_webhook_secret(TOKEN) == load(WEBHOOK_URL="https://x.org/").webhook_secret
    assert s.webhook_secret != derive_webhook_secret(TOKEN.replace("A", "B"))
    assert len(s.webhook_secret) == 64
    explicit = load(WEBHOOK_URL="https://bot.example.com/hook", WEBHOOK_PATH="/hook", WEBHOOK_SECRET="s3cr3t_-")
    assert explicit.webhook_path == "/hook" and explicit.webhook_secret == "s3cr3t_-"
    assert not load(WEBHOOK_URL="").webhook_mode


@pytest.mark.parametrize(("url", "path"), [("https://bot.example.com", "/"), ("https://bot.example.com/", "/"),
                                           ("https://bot.example.com/tg/hook?x=1", "/tg/hook")])
def test_the_served_path_is_the_registered_path(url: str, path: str) -> None:
    """A URL without a path is served on "/": Telegram posts to the URL, so "/webhook" there would 404 every update."""
    assert load(WEBHOOK_URL=url).webhook_path == path
    assert load(WEBHOOK_URL=url, WEBHOOK_PATH=path).webhook_path == path  # repeating it is fine


def test_a_webhook_path_that_differs_from_the_url_refuses_the_start_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        load(WEBHOOK_URL="https://bot.example.com", WEBHOOK_PATH="/webhook")
    line = str(info.value)
    assert info.value.variable == "WEBHOOK_PATH" and "\n" not in line
    assert "'/webhook'" in line and "'/'" in line  # both values named


def test_settings_repr_hides_the_token_the_secret_and_the_redis_password() -> None:
    s = load(WEBHOOK_URL="https://x.org/h", WEBHOOK_SECRET="hush_hush", REDIS_URL="rediss://user:p4ss@redis.host:6380/0")
    for shown in (repr(s), str(s), f"{s}"):
        assert TOKEN.split(":")[1] not in shown and "hush_hush" not in shown and "p4ss" not in shown
        assert "123456:***" in shown and "rediss://user:***@redis.host:6380/0" in shown and "port=8080" in shown
    assert s.redis_url == "rediss://user:p4ss@redis.host:6380/0"  # only the repr is masked


@pytest.mark.parametrize("url", ["http://:s3cret@host:6379/0", "redis://:s3cret@host:port/0",
                                 "redis://:s3c/ret@host/0", "rediss://s3cret@host:99999"])
def test_a_malformed_redis_url_is_reported_without_its_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(REDIS_URL=url)
    assert info.value.variable == "REDIS_URL" and "s3c" not in str(info.value) and "***" in str(info.value)


def test_parsed_values() -> None:
    s = load(ADMIN_IDS=" 1, 22 ,333,", PRELOAD="microast johnson", REDIS_URL="redis://localhost:6379/0",
             EXECUTOR="CELERY", DEVICE="CUDA:1", WEIGHTS_DIR="/w", STYLES_DIR="/s", MAX_INPUT_PIXELS="1000000",
             JOB_RUNNER="tests.fake_runner:run", LOG_LEVEL="debug", DEFAULT_LANGUAGE="RU")
    assert s.admin_ids == frozenset({1, 22, 333})
    assert s.jobs.preload == ("microast", "johnson")
    assert s.jobs.executor == "celery" and s.redis_url == s.jobs.redis_url == "redis://localhost:6379/0"
    assert s.engine.device == "cuda:1" and s.engine.weights_dir == Path("/w") and s.engine.styles_dir == Path("/s")
    assert s.engine.max_input_pixels == 1_000_000
    assert s.log_level == "DEBUG" and s.default_language == "ru"
    assert s.jobs.runner == "tests.fake_runner:run"


def test_the_bot_and_a_worker_read_the_same_job_settings() -> None:
    """The bot's ``Settings.jobs`` is what a Celery worker builds from the same variables, not a copy of some."""
    env = {"BOT_TOKEN": TOKEN, "WORKERS": "2", "QUEUE_LIMIT": "7", "USER_QUEUED_LIMIT": "3", "JOB_TIMEOUT_SCALE": "2.5",
           "CELERY_QUEUE": "q", "JOB_RUNNER": "tests.fake_runner:run", "DATA_DIR": "/tmp/d", "CANCEL_GRACE_S": "5",
           "REDIS_SSL_CERT_REQS": "none", "DEVICE": "cpu"}
    js = load_settings(env, dotenv_path=None).jobs
    assert js == JobSettings.from_env(env)
    assert (js.workers, js.queue_limit, js.user_queued_limit, js.timeout_scale) == (2, 7, 3, 2.5)
    assert js.celery_queue == "q" and js.runner == "tests.fake_runner:run" and js.data_dir == Path("/tmp/d")
    assert (js.cancel_grace_s, js.redis_ssl_cert_reqs, js.engine.device) == (5.0, "none", "cpu")


def test_dotenv_fills_only_missing_variables(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"BOT_TOKEN={TOKEN}\nPORT=9000\nLOG_LEVEL=WARNING\n# comment\nADMIN_IDS=5\n")
    s = load_settings({"PORT": "9100"}, dotenv_path=env_file)
    assert s.bot_token == TOKEN  # from the file
    assert s.port == 9100  # the real environment wins
    assert s.log_level == "WARNING" and s.admin_ids == frozenset({5})
    assert load_settings({"BOT_TOKEN": TOKEN}, dotenv_path=tmp_path / "absent.env").port == 8080


def test_env_example_documents_every_variable() -> None:
    example = (REPO / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    job_extras = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", (REPO / "jobs" / "README.md").read_text(), re.M))
    source = "".join((REPO / name).read_text() for name in ("config.py", "jobs/settings.py", "ml_models/settings.py",
                                                                  "services/resources.py", "ml_models/weights.py",
                                                                  "ml_models/video/api.py"))
    not_ours = {"INFO", "DEBUG", "WARNING", "ERROR", "CRITICAL", "PNG", "JPEG", "CUDA_VISIBLE_DEVICES"}
    used = set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', source)) - not_ours
    assert {"JOB_TIMEOUT_SCALE", "CANCEL_GRACE_S", "DEVICE"} <= used
    missing = used - names - job_extras
    assert not missing, f"variables missing from .env.example (or, for job-layer extras, jobs/README.md): {missing}"
    lines = example.splitlines()
    for index, line in enumerate(lines):  # every variable has a comment right above it
        if line and not line.startswith("#"):
            assert lines[index - 1].startswith("#"), f"no comment above {line!r}"


def test_bad_config_exits_with_one_line(tmp_path: Path) -> None:
    """What a person sees: ``python main.py`` with a bad PORT prints one line naming it and exits with 1."""
    env = {"BOT_TOKEN": TOKEN, "PORT": "abc", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(REPO / "main.py")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "config error: PORT must be a whole number, got 'abc'"
