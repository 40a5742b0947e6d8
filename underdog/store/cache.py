"""The Redis hot cache of latest values, read-through with a database fallback.

Keys: `<prefix>:v1:<kind>:<symbol>[:<source>]`, one hash each, read in one round trip,
expiring after `ttl_s` (1 hour). Writes keep the newer event: a Lua script compares the
stored event time and skips an older or equal one, atomically, so several writers cannot
put an old value back.

Redis down (or slow past its timeout): `get` reads the database instead and counts a
`fallback`; `put` counts an `error` and returns False. Nothing raises to the caller, and the
database stays the source of truth.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import redis
from prometheus_client import Counter as PromCounter

log = logging.getLogger(__name__)

CACHE_REQUESTS = PromCounter(
    "underdog_cache_requests", "Latest-value cache lookups by result", ["kind", "result"]
)

EVENT_FIELD = "_event_us"
_PUT_NEWER = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored and tonumber(stored) >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

Loader = Callable[[str, str, str | None], dict | None]


def _encode(value: Any) -> str:
    if isinstance(value, datetime | date):
        return json.dumps({"$dt": value.isoformat()})
    return json.dumps(value, default=str)


def _decode(raw: str) -> Any:
    value = json.loads(raw)
    if isinstance(value, dict) and set(value) == {"$dt"}:
        text = value["$dt"]
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    return value


def event_micros(row: dict) -> int:
    """The row's event time (its `time`) as Unix microseconds: what 'newer' compares."""
    moment = row["time"]
    return int(moment.timestamp() * 1_000_000)


class LatestCache:
    def __init__(self, client: redis.Redis, *, prefix: str = "underdog", ttl_s: int = 3600,
                 loader: Loader | None = None):
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.loader = loader
        self.stats: Counter[str] = Counter()
        self._put = client.register_script(_PUT_NEWER)

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, **kwargs: Any) -> LatestCache:
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s, health_check_interval=30,
        )
        return cls(client, **kwargs)

    def key(self, kind: str, symbol: str, source: str | None = None) -> str:
        tail = f":{source}" if source else ""
        return f"{self.prefix}:v1:{kind}:{symbol}{tail}"

    def _count(self, kind: str, result: str) -> None:
        self.stats[result] += 1
        CACHE_REQUESTS.labels(kind, result).inc()

    def put(self, kind: str, symbol: str, row: dict, source: str | None = None) -> bool:
        """Store `row` if its `time` is newer than the cached one. False if skipped or failed."""
        fields = [x for k, v in row.items() for x in (k, _encode(v))]
        try:
            written = self._put(
                keys=[self.key(kind, symbol, source)],
                args=[EVENT_FIELD, event_micros(row), self.ttl_s, *fields],
            )
        except redis.RedisError as exc:
            self._count(kind, "error")
            log.warning("cache put failed for %s %s: %s", kind, symbol, exc)
            return False
        return bool(written)

    def get(self, kind: str, symbol: str, source: str | None = None) -> dict | None:
        """The latest row: from Redis, else from the loader (and cached), else None."""
        try:
            raw = self.client.hgetall(self.key(kind, symbol, source))
        except redis.RedisError as exc:
            self._count(kind, "fallback")
            log.warning("cache unavailable (%s); reading %s %s from the database", exc, kind,
                        symbol)
            return self._load(kind, symbol, source)
        if raw:
            self._count(kind, "hit")
            return {k: _decode(v) for k, v in raw.items() if k != EVENT_FIELD}
        self._count(kind, "miss")
        row = self._load(kind, symbol, source)
        if row is not None:
            self.put(kind, symbol, row, source)
        return row

    def _load(self, kind: str, symbol: str, source: str | None) -> dict | None:
        return self.loader(kind, symbol, source) if self.loader else None

    def invalidate(self, kind: str, symbols: list[str]) -> bool:
        """Drop cached values after their rows were rewritten (a backfill of a window).

        Newer-wins writes cannot correct a value whose event time did not change, so a
        rewrite deletes instead; the next read loads from the database. False if Redis is
        unreachable (the stale value then lives at most `ttl_s`).
        """
        try:
            self.client.delete(*(self.key(kind, s) for s in symbols))
        except redis.RedisError as exc:
            self._count(kind, "error")
            log.warning("cache invalidation of %s %s failed: %s", kind, symbols, exc)
            return False
        return True

    def clear(self) -> int:
        """Delete every key under this cache's prefix (tests, resets)."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}:v1:*", count=1000))
        return self.client.delete(*keys) if keys else 0
