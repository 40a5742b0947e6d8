"""The heartbeat: a Redis hash `<prefix>:v1:stream:heartbeat` that Dagster can observe
(`stream:heartbeat:<id>` for a streamer started with `--streamer-id`).

Written every `heartbeat_s` through `LatestCache.put` (kind "stream", key "heartbeat"; values
JSON-encoded like every cached hash, read back with `LatestCache.get("stream", "heartbeat")`):
  time           when this heartbeat was written (UTC)
  lag_s          now minus the event time of the newest tick in PostgreSQL: grows while the
                 database is down or the market is quiet
  msgs_per_s     frames received per second since the previous heartbeat
  last_tick_ts   event time of the newest valid tick received (UTC), or null
  running        false in the last heartbeat of a clean shutdown
plus the counters (ticks_received, ticks_written, ticks_spooled, ticks_rejected,
spool_records) and the links (db_up, redis_up, bridge_connected), protocol, pid and
streamer_id.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from underdog.store.online.cache import LatestCache
from underdog_streaming.publisher import utc
from underdog_streaming.spool import Spool
from underdog_streaming.stats import StreamStats

KEY = ("stream", "heartbeat")


def heartbeat_key(streamer_id: str = "") -> tuple[str, str]:
    """(kind, name) of a streamer's heartbeat: `stream:heartbeat`, or beside others
    `stream:heartbeat:<id>`, so shards and standbys do not overwrite each other's counters."""
    return KEY if not streamer_id else (KEY[0], f"{KEY[1]}:{streamer_id}")


class Heartbeat:
    def __init__(self, cache: LatestCache, stats: StreamStats, spool: Spool, *,
                 protocol: str, interval_s: float = 1.0, streamer_id: str = "") -> None:
        self.cache = cache
        self.stats = stats
        self.spool = spool
        self.protocol = protocol
        self.interval_s = interval_s
        self.streamer_id = streamer_id
        self.key = heartbeat_key(streamer_id)
        self._frames = 0
        self._at = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            self.beat()

    def beat(self, *, running: bool = True) -> dict[str, Any]:
        row = self.row(running=running)
        self.cache.put(*self.key, row)
        return row

    def row(self, *, running: bool = True) -> dict[str, Any]:
        s = self.stats
        now = time.monotonic()
        rate = (s.frames - self._frames) / max(now - self._at, 1e-9)
        self._frames, self._at = s.frames, now
        wall = datetime.now(UTC)
        newest = max((t.time_us for t in list(s.latest.values())), default=None)
        lag = (wall - utc(s.last_written_us)).total_seconds() if s.last_written_us else None
        return {
            "time": wall, "lag_s": lag, "msgs_per_s": round(rate, 1),
            "last_tick_ts": utc(newest) if newest is not None else None,
            "running": running, "ticks_received": s.ticks_received,
            "ticks_written": s.written, "ticks_spooled": s.spooled,
            "ticks_rejected": s.rejected + s.late, "spool_records": self.spool.records,
            "db_up": s.db_up, "redis_up": s.redis_up, "bridge_connected": s.bridge_connected,
            "protocol": self.protocol, "pid": os.getpid(), "streamer_id": self.streamer_id,
        }
