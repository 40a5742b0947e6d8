"""The latest quote per symbol to Redis, straight from the receive loop.

After each receive burst, each symbol's newest tick is put as kind "quote" (newer wins, 1 h
TTL, `LatestCache`'s script): one write per symbol per burst, however many ticks the burst
held, all symbols' writes in one pipelined round trip.
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
import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from underdog.store.online.cache import EVENT_FIELD, LatestCache, _encode, event_micros
from underdog_streaming.batcher import TickRow
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.stats import StreamStats

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BACKOFF_S = (0.1, 5.0)


def utc(time_us: int) -> datetime:
    """UTC microseconds as an aware datetime, exactly (no float rounding)."""
    return EPOCH + timedelta(microseconds=time_us)


def _resp(args: tuple) -> bytes:
    """One command in the Redis protocol (RESP): redis-py's packer costs ~150 us a call."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class PipelinedCache(LatestCache):
    """`LatestCache` with `put_many`: several newer-wins puts in one round trip.

    It sends `LatestCache`'s own script by its SHA (EVALSHA), the commands packed together
    and written at once on one pooled connection: a redis-py pipeline with a registered
    script first asks SCRIPT EXISTS (a second round trip) and packs in pure Python. After a
    Redis restart (NOSCRIPT) the script is loaded again and the batch retried once.
    """

    def put_many(self, kind: str, rows: dict[str, dict[str, Any]]) -> list[bool] | None:
        """Like `put` for each (symbol, row); whether each was written, None if Redis failed."""
        commands = []
        for symbol, row in rows.items():
            fields = [x for k, v in row.items() for x in (k, _encode(v))]
            commands.append(("EVALSHA", self._put.sha, 1, self.key(kind, symbol), EVENT_FIELD,
                             event_micros(row), self.ttl_s, *fields))
        try:
            try:
                return self._send(commands)
            except NoScriptError:
                self.client.script_load(self._put.script)
                return self._send(commands)
        except redis.RedisError as exc:
            self._count(kind, "error")
            log.debug("cache put_many failed for %s: %s", kind, exc)
            return None

    def _send(self, commands: list[tuple]) -> list[bool]:
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([b"".join(map(_resp, commands))], check_health=False)
            replies, error = [], None
            for _ in commands:  # read every reply, even after an error, to stay in step
                try:
                    replies.append(bool(conn.read_response(disconnect_on_error=False)))
                except redis.ResponseError as exc:
                    error = error or exc
            if error is not None:
                raise error
            return replies
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            raise
        finally:
            pool.release(conn)


def fast_fail_cache(url: str, *, prefix: str, ttl_s: int, timeout_s: float) -> PipelinedCache:
    """A `LatestCache` whose client neither retries nor waits long (redis-py retries 10 times
    by default, seconds in all, which would stall whoever calls it)."""
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                  socket_connect_timeout=timeout_s,
                                  retry=Retry(NoBackoff(), 0))
    return PipelinedCache(client, prefix=prefix, ttl_s=ttl_s)


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
