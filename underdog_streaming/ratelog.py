"""Warnings about a stream of events, as one line per period with their count.

A hostile or broken peer can send thousands of bad frames a second; a line (or a traceback)
for each would flood the log and cost the receive loop more than the frames themselves. The
first event is logged at once, the ones after it as one line per `every_s` with how many
came and the latest reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class CountingLog:
    def __init__(self, log: logging.Logger, what: str, *, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.what = what  # e.g. "malformed frames"
        self.every_s = every_s
        self.clock = clock
        self.total = 0
        self._pending = 0
        self._latest = ""
        self._next_at = float("-inf")

    def note(self, reason: str, n: int = 1) -> None:
        self.total += n
        self._pending += n
        self._latest = reason
        self.flush_if_due()

    def flush_if_due(self) -> None:
        """Log the count if the period is over (call it when idle too: the last ones)."""
        if self._pending and self.clock() >= self._next_at:
            self.flush()

    def flush(self) -> None:
        """Log what was noted since the last line, if anything."""
        if self._pending:
            self.log.warning("%d %s (%d in all; latest: %s)", self._pending, self.what,
                             self.total, self._latest)
            self._pending = 0
        self._next_at = self.clock() + self.every_s
