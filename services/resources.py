"""The bot process's resource limits: concurrent downloads, update rate per user, results kept on disk.

Read from the same ``Env`` as the rest of the configuration (``config.load_settings`` builds it), so a bad value
stops the start with one line naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from environment import Env


@dataclass(frozen=True)
class ResourceLimits:
    download_concurrency: int = 4  # Telegram downloads in flight at once, all users together
    throttle_rate: float = 3.0  # updates per second one user may send on average
    throttle_burst: int = 20  # updates at once before the rate applies (an album is up to 10)
    disk_min_free_mb: int = 500  # below this much free space in DATA_DIR, the oldest kept results go first
    cleanup_interval_s: float = 3600.0  # how often kept results and thumbnails are checked

    @classmethod
    def from_env(cls, env: Env | Mapping[str, str] | None = None) -> ResourceLimits:
        env = Env.of(env)
        return cls(
            download_concurrency=env.integer("DOWNLOAD_CONCURRENCY", 4, 1, 256),
            throttle_rate=env.number("THROTTLE_RATE", 3.0, 0.0, 1000.0),
            throttle_burst=env.integer("THROTTLE_BURST", 20, 1, 10_000),
            disk_min_free_mb=env.integer("DISK_MIN_FREE_MB", 500, 0, 10_000_000),
            cleanup_interval_s=env.number("CLEANUP_INTERVAL", 3600.0, 1.0, 7 * 24 * 3600.0),
        )
