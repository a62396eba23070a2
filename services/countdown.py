"""How long a running job still needs, for its status message: the ETA model's estimate, corrected by progress.

Before the first progress report the estimate (the queue's ETA when the job was next in line) counts down; once the
worker reports steps, the pace measured so far decides (elapsed × steps left / steps done), which also fixes an
estimate that was off. Never below one second while the job runs: "less than a second" only after it is done.
"""

from __future__ import annotations

import time

from aiogram.utils.i18n import gettext as _

from texts import progress_bar, rough


class Countdown:
    def __init__(self, estimate_s: float | None, clock=time.monotonic, clip: bool = False) -> None:
        self.estimate_s = estimate_s
        self.clip = clip  # a clip's steps are its frames, and they are named so
        self.clock = clock
        self.started = clock()

    def left(self, done: int = 0, total: int = 0) -> float | None:
        """Seconds left, or None when nothing is known yet."""
        elapsed = self.clock() - self.started
        if total > 0 and 0 < done < total:
            return max(1.0, elapsed * (total - done) / done)
        if self.estimate_s:
            return max(1.0, self.estimate_s - elapsed)
        return None

    def text(self, done: int = 0, total: int = 0) -> str:
        """"🎨 Working on your picture…" (or clip, with its frame count), the bar when steps are known, and the time
        left when it can be told."""
        lines = [_("🎨 Working on your clip…") if self.clip else _("🎨 Working on your picture…")]
        if total > 0:
            lines.append(progress_bar(done, total))
            if self.clip:
                lines.append(_("Frame {done} of {total}").format(done=done, total=total))
        left = self.left(done, total)
        if left is not None:
            lines.append(_("Ready in about {eta}.").format(eta=rough(left)))
        return "\n".join(lines)
