"""The latest quote per symbol to Redis, straight from the receive loop.

After each receive burst, each symbol's newest tick is put as kind "quote" (newer wins, 1 h
TTL, `LatestCache`'s script): one write per symbol per burst, however many ticks the burst
held, all symbols' writes in one pipelined round trip (`underdog.store.online.pipelined`).
The Redis client fails fast (no client-side retries, a short socket timeout), and after a
failure the publisher backs off (0.1 s doubling to 5 s) before trying again, keeping only the
newest quote per symbol meanwhile: Redis down never slows the tick path or the database.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from underdog.store.online.pipelined import PipelinedCache
from underdog_streaming.batcher import TickRow
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.stats import StreamStats

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BACKOFF_S = (0.1, 5.0)


def utc(time_us: int) -> datetime:
    """UTC microseconds as an aware datetime, exactly (no float rounding)."""
    return EPOCH + timedelta(microseconds=time_us)


def quote_row(row: TickRow) -> dict[str, Any]:
    return {"symbol": row.symbol, "time": utc(row.time_us), "bid": row.bid, "ask": row.ask,
            "spread": row.ask - row.bid, "seq": row.seq, "available_at": utc(row.recv_ns // 1000)}


class QuotePublisher:
    def __init__(self, cache: PipelinedCache, metrics: StreamMetrics, stats: StreamStats, *,
                 record: bool = False) -> None:
        self.cache = cache
        self.metrics = metrics
        self.stats = stats
        self.record = record
        self._pending: dict[str, TickRow] = {}
        self._retry_at = 0.0
        self._backoff = 0.0

    def publish(self, latest: dict[str, TickRow]) -> None:
        """Put the newest quote of each symbol (also those held back while Redis was down)."""
        self._pending.update(latest)
        if not self._pending or time.monotonic() < self._retry_at:
            return
        rows = self._pending
        written = self.cache.put_many("quote", {s: quote_row(r) for s, r in rows.items()})
        if written is None:
            self._failed()
            return
        self._pending = {}
        self._measure([row for row, ok in zip(rows.values(), written, strict=True) if ok])
        if self._backoff:
            log.info("Redis is back: latest quotes are published again")
        self._backoff = 0.0
        self.stats.redis_up = True
        self.metrics.redis_up.set(1)

    def _measure(self, rows: list[TickRow]) -> None:
        if not rows:
            return
        now = time.time_ns()
        seconds = [(now - row.recv_ns) / 1e9 for row in rows]
        self.metrics.to_redis.observe_many(np.array(seconds))
        self.stats.redis_quotes += len(rows)
        if self.record:
            self.stats.latencies.redis_ms.extend(x * 1e3 for x in seconds)

    def _failed(self) -> None:
        low, high = BACKOFF_S
        self._backoff = min(high, self._backoff * 2 or low)
        self._retry_at = time.monotonic() + self._backoff
        if self.stats.redis_up:
            log.warning("Redis write failed: retrying in %.1fs, the database keeps receiving",
                        self._backoff)
        self.stats.redis_up = False
        self.stats.redis_errors += 1
        self.metrics.redis_errors.inc()
        self.metrics.redis_up.set(0)
