"""The process environment, read in one place: an :class:`Env` with typed getters that name the variable on error.

The bot (``config.load_settings``), the job layer (``JobSettings.from_env``) and the engine
(``EngineSettings.from_env``) build their settings from one ``Env``, so a variable means the same and is checked the
same way in the bot, a Celery worker and the CLI. ``.env`` fills only the variables the real environment lacks
(Heroku config vars win over a stray file in the slug). Plain Python, so the engine may import it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit


class EnvError(ValueError):
    """A malformed variable: ``variable`` names it, ``problem`` says what is wrong, in one line."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable} {problem}")


class Env(Mapping[str, str]):
    """A read-only snapshot of variables with typed getters. Empty and unset variables both mean "the default"."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = {k: v for k, v in (values or {}).items() if isinstance(v, str)}

    @classmethod
    def load(cls, values: Mapping[str, str] | None = None, dotenv_path: str | Path | None = None) -> Env:
        """``values`` (default: ``os.environ``); ``dotenv_path``, when it exists, fills the variables they lack or leave
        empty (empty means "the default" everywhere, so an empty variable never hides a value in the file)."""
        merged: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            from dotenv import dotenv_values  # only where a file is read: workers and the CLI may run without it

            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        source = os.environ if values is None else values
        merged.update({name: value for name, value in source.items() if value or name not in merged})
        return cls(merged)

    @classmethod
    def of(cls, env: Env | Mapping[str, str] | None) -> Env:
        """An ``Env`` as given, a mapping wrapped, or the process environment for None."""
        if isinstance(env, Env):
            return env
        return cls.load(env)

    def updated(self, **values: str) -> Env:
        """A copy with some variables replaced (the sandbox points the bot at its emulator this way)."""
        return Env({**self._values, **values})

    # Mapping: an Env can be passed wherever a plain dict of variables is expected (a subprocess environment)
    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    # ------------------------------------------------------------------------------------------------ getters

    def raw(self, name: str) -> str:
        """The value stripped of surrounding blanks; "" when unset."""
        return (self._values.get(name) or "").strip()

    def text(self, name: str, default: str = "") -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise EnvError(name, f"must be a whole number, got {raw!r}") from None
        _check_range(name, value, lo, hi)
        return value

    def number(self, name: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise EnvError(name, f"must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise EnvError(name, f"must be a finite number, got {raw!r}")
        _check_range(name, value, lo, hi)
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...], lower: bool = True) -> str:
        raw = self.raw(name)
        value = (raw.lower() if lower else raw) or default
        if value not in choices:
            raise EnvError(name, f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    def url(self, name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
        raw = self.raw(name)
        if not raw:
            return None
        parts = urlsplit(raw)
        wanted = f"must be a {' or '.join(schemes)} URL"
        if parts.scheme not in schemes or not parts.netloc:
            raise EnvError(name, f"{wanted}, got {redact_url(raw)!r}")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
        except ValueError:
            raise EnvError(name, f"{wanted} with a numeric port, got {redact_url(raw)!r}") from None
        return raw

    def path(self, name: str, default: Path) -> Path:
        return Path(self.raw(name) or default).expanduser()

    def words(self, name: str) -> tuple[str, ...]:
        """A list separated by commas, semicolons or blanks: ``"a, b c"`` -> ``("a", "b", "c")``."""
        return tuple(word for word in self.raw(name).replace(";", ",").replace(",", " ").split() if word)


def redact_url(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***`` (for logs, errors and reprs).

    Works on malformed URLs too: everything between ``://`` (or the start) and the last ``@`` is taken for user
    information (a password may hold ``/``, ``?`` or ``#``), and after its first ``:`` comes the password.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, after = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    hidden = f"{user}:***" if colon else "***"  # redis://secret@host: Redis reads a lone user part as the password
    return f"{scheme}{sep}{hidden}@{after}"


def _check_range(name: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and value < lo:
        raise EnvError(name, f"must be at least {lo}, got {value}")
    if hi is not None and value > hi:
        raise EnvError(name, f"must be at most {hi}, got {value}")
