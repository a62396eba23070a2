"""environment.Env: the one reader of the process environment that the bot, the job layer and the engine share."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from environment import Env, EnvError
from jobs import JobSettings
from ml_models.settings import EngineSettings

REPO = Path(__file__).resolve().parents[1]


def test_typed_getters_and_their_defaults() -> None:
    env = Env({"N": " 7 ", "X": "2.5", "C": " CUDA:1 ", "U": "https://h/p", "W": "a, b;c  d", "P": "~/w", "E": ""})
    assert env.integer("N", 0) == 7 and env.integer("E", 3) == 3 and env.integer("absent", 4) == 4
    assert env.number("X", 0.0) == 2.5 and env.choice("C", "auto", ("auto", "cuda:1")) == "cuda:1"
    assert env.url("U") == "https://h/p" and env.url("E") is None
    assert env.words("W") == ("a", "b", "c", "d") and env.words("absent") == ()
    assert env.path("P", Path("x")) == Path("~/w").expanduser() and env.path("E", Path("x")) == Path("x")
    assert env.text("E", "dflt") == "dflt" and dict(env.updated(E="1"))["E"] == "1" and env["E"] == ""


@pytest.mark.parametrize(("call", "problem"), [
    (lambda env: env.integer("V", 0), "must be a whole number, got '1.5'"),
    (lambda env: env.number("V", 0.0, lo=2.0), "must be at least 2.0, got 1.5"),
    (lambda env: env.number("V", 0.0, hi=1.0), "must be at most 1.0, got 1.5"),
    (lambda env: env.choice("V", "a", ("a", "b")), "must be one of a, b, got '1.5'"),
    (lambda env: env.url("V"), "must be a http or https URL, got '1.5'"),
])
def test_errors_name_the_variable(call, problem: str) -> None:
    with pytest.raises(EnvError) as info:
        call(Env({"V": "1.5"}))
    assert (info.value.variable, info.value.problem) == ("V", problem)
    assert isinstance(info.value, ValueError)


def test_nan_is_not_a_number() -> None:
    with pytest.raises(EnvError, match="finite"):
        Env({"V": "nan"}).number("V", 1.0)


def test_dotenv_fills_what_the_environment_lacks_or_leaves_empty(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("A=file\nB=file\nC=file\n")
    env = Env.load({"A": "real", "B": ""}, dotenv)
    assert (env.raw("A"), env.raw("B"), env.raw("C")) == ("real", "file", "file")
    assert Env.load({"A": "real"}, tmp_path / "absent").raw("C") == ""


def test_a_worker_honours_job_timeout_scale() -> None:
    """The bot and a Celery worker read one name: TIMEOUT_SCALE was the worker's, JOB_TIMEOUT_SCALE the bot's."""
    assert JobSettings.from_env({"JOB_TIMEOUT_SCALE": "3"}).timeout_scale == 3.0
    with pytest.raises(EnvError) as info:
        JobSettings.from_env({"WORKERS": "many"})
    assert info.value.variable == "WORKERS"


def test_engine_settings_are_checked_where_they_are_read() -> None:
    assert EngineSettings.from_env(Env({"DEVICE": " CPU ", "SR_TILE": "128"})).device == "cpu"
    with pytest.raises(EnvError) as info:
        EngineSettings.from_env({"SR_TILE": "1.5"})
    assert info.value.variable == "SR_TILE"


def test_env_of_none_reads_the_process_environment() -> None:
    code = "from environment import Env; from jobs import JobSettings; print(JobSettings.from_env().queue_limit)"
    env = {"PATH": "/usr/bin:/bin", "QUEUE_LIMIT": "13"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "13", out.stderr


SETTINGS_READERS = ["config.py", "main.py", "sandbox.py", "bot_runner.py", "bot_init.py", "ml_models/settings.py",
                    *(str(p.relative_to(REPO)) for p in sorted((REPO / "jobs").glob("*.py")))]


def _environ_uses(path: Path) -> list[int]:
    """Lines that read ``os.environ`` or call ``os.getenv``; setting a variable (``jobs/runner.py`` caps the math
    libraries' threads for the worker) is not a read."""
    tree = ast.parse(path.read_text())
    stores = {id(node.value) for node in ast.walk(tree)
              if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)}
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
            and node.attr in ("environ", "getenv") and id(node) not in stores]


def test_only_environment_py_reads_the_environment() -> None:
    offenders = {name: lines for name in SETTINGS_READERS if (lines := _environ_uses(REPO / name))}
    assert offenders == {}, f"read the environment through environment.Env instead: {offenders}"
    assert _environ_uses(REPO / "environment.py"), "the checker no longer sees environment.py's own read"
