"""Per-user limits, queue places and /cancel shared by every bot replica through Redis (EXECUTOR=celery).

Each replica keeps its own FIFO of the jobs it follows, but admission asks Redis: one sorted set per user holds the
user's jobs in flight on any replica, one sorted set holds every waiting job in arrival order (a job's place is its
rank there). Members carry an expiry, so a replica that died without cleaning up frees its users after ``hold_s``.
Admission is one Lua script, so two replicas never both accept a user's last allowed job. ``/cancel`` on any replica
finds the user's jobs here and sets the cancellation mark the workers and the owning replica both read.
"""

from __future__ import annotations

import time
from typing import Any

from .job import QueueBusy

PREFIX = "artbot:shared"

# KEYS: user set, user expiries, queue, queue expiries. ARGV: now, job id, user limit, queue limit, expire at, enforce
_ADMIT = """
for _, pair in ipairs({{KEYS[1], KEYS[2]}, {KEYS[3], KEYS[4]}}) do
  local stale = redis.call('ZRANGEBYSCORE', pair[2], '-inf', ARGV[1])
  for _, member in ipairs(stale) do
    redis.call('ZREM', pair[1], member)
    redis.call('ZREM', pair[2], member)
  end
end
local waiting = redis.call('ZCARD', KEYS[3])
if ARGV[6] == '1' then
  if waiting >= tonumber(ARGV[4]) then return {-1, waiting + 1} end
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return {-2, waiting + 1} end
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2])
return {0, redis.call('ZRANK', KEYS[3], ARGV[2]) + 1}
"""


def _k(*parts: object) -> str:
    return ":".join((PREFIX, *map(str, parts)))


class SharedLimits:
    """Blocking Redis calls: the executor runs them in a thread (``asyncio.to_thread``)."""

    def __init__(self, client: Any, user_limit: int, queue_limit: int, hold_s: float) -> None:
        self._r = client
        self.user_limit = user_limit
        self.queue_limit = queue_limit
        self.hold_s = hold_s
        self._admit = client.register_script(_ADMIT)

    def admit(self, job_id: str, user_id: int, enforce: bool = True) -> int:
        """Take a place for the job; returns its 1-based place among all waiting jobs, or raises ``QueueBusy``."""
        now = time.time()
        code, position = self._admit(keys=[_k("user", user_id), _k("user-exp", user_id), _k("queue"),
                                           _k("queue-exp")],
                                     args=[now, job_id, self.user_limit, self.queue_limit, now + self.hold_s,
                                           "1" if enforce else "0"])
        if code == -1:
            raise QueueBusy(int(position), "queue_full")
        if code == -2:
            raise QueueBusy(int(position), "user_limit")
        return int(position)

    def started(self, job_id: str) -> None:
        """No longer waiting (it still counts for its user until it ends)."""
        pipe = self._r.pipeline()
        pipe.zrem(_k("queue"), job_id)
        pipe.zrem(_k("queue-exp"), job_id)
        pipe.execute()

    def finished(self, job_id: str, user_id: int) -> None:
        pipe = self._r.pipeline()
        for name in (_k("queue"), _k("queue-exp"), _k("user", user_id), _k("user-exp", user_id),
                     _k("active", user_id)):
            pipe.zrem(name, job_id)
        pipe.execute()

    def dispatched(self, job_id: str, user_id: int) -> None:
        """Handed to the workers: counts for the user's running limit on every replica."""
        self._r.zadd(_k("active", user_id), {job_id: time.time() + self.hold_s})

    def active(self, user_ids: list[int]) -> dict[int, set[str]]:
        """Each user's dispatched or running jobs on any replica (expired claims left out)."""
        now = time.time()
        pipe = self._r.pipeline()
        for user_id in user_ids:
            pipe.zrangebyscore(_k("active", user_id), now, "+inf")
        return {user_id: {raw.decode() for raw in members}
                for user_id, members in zip(user_ids, pipe.execute(), strict=True)}

    def refresh(self, claims: list[tuple[str, int, bool]]) -> None:
        """Push back the expiry of this replica's (job id, user id, still waiting) claims."""
        expire_at = time.time() + self.hold_s
        pipe = self._r.pipeline()
        for job_id, user_id, waiting in claims:
            pipe.zadd(_k("user-exp", user_id), {job_id: expire_at}, xx=True)
            pipe.zadd(_k("active", user_id), {job_id: expire_at}, xx=True)
            if waiting:
                pipe.zadd(_k("queue-exp"), {job_id: expire_at}, xx=True)
        pipe.execute()

    def positions(self, job_ids: list[str]) -> dict[str, int]:
        """1-based places among all waiting jobs of every replica (absent: not waiting any more)."""
        pipe = self._r.pipeline()
        for job_id in job_ids:
            pipe.zrank(_k("queue"), job_id)
        return {job_id: rank + 1 for job_id, rank in zip(job_ids, pipe.execute(), strict=True) if rank is not None}

    def jobs_of(self, user_id: int) -> list[str]:
        now = time.time()
        return [raw.decode() for raw in self._r.zrangebyscore(_k("user-exp", user_id), now, "+inf")]

    def waiting(self) -> int:
        return int(self._r.zcard(_k("queue")))
