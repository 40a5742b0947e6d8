"""The Redis hot cache of latest values, read-through with a database fallback.

Keys: `<prefix>:v1:<kind>:<symbol>[:<source>]`, one hash each, read in one round trip,
expiring after `ttl_s` (1 hour). On Redis Cluster `<prefix>:v1:<kind>` is the hash tag
(`{<prefix>:v1:<kind>}:<symbol>`): `refresh` replaces several symbols' keys of one kind in
one MULTI, which a cluster runs only on keys of one slot.

Writes keep the newer event: a Lua script compares the stored event time and skips an older or
equal one (an equal one too with `rewrite=True`: the same fact written again), atomically, so
several writers cannot put an old value back. A row stamped after now (beyond the clock
tolerance) is never put: it would stay in front of every correct value, and a stored one
stamped after Redis' clock is overwritten by any put.

A rewrite of a table (backfill, rebuild, retention, replay) makes the cached values of its
keys wrong whatever their event time, so every rewrite path calls `refresh`: under WATCH,
each key's latest row is loaded from the table, then one MULTI replaces every key's hash (or
deletes it when the table holds none); a concurrent put retries the whole. A reader sees the
old value or the new one, never an empty key in between.

Redis down (or slow past its timeout): `get` reads the database instead and counts a
`fallback`; `put` counts an `error` and returns False. Nothing raises to the caller, and the
database stays the source of truth.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

import redis
from prometheus_client import Counter as PromCounter

from underdog.store.offline.validation import clock_tolerance, latest_allowed
from underdog.store.online.client import Client, connect, is_cluster, tag

log = logging.getLogger(__name__)

CACHE_REQUESTS = PromCounter(
    "underdog_cache_requests", "Latest-value cache lookups by result", ["kind", "result"]
)

EVENT_FIELD = "_event_us"
# A stored event stamped past Redis' clock (+ tolerance) was put by a writer that should
# not have (older code, a wrong clock): it never holds a correct value back.
_PUT = """
local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local clock = redis.call('TIME')
local limit = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) + {tolerance_us}
if stored and stored <= limit and stored {skip} tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

Loader = Callable[[str, str, str | None], dict | None]
Name = str | tuple[str, str | None]  # a symbol (or series), or (symbol, source)

# The cached kinds each table's rows are served as. A state vector is computed from the
# bars under it, so rewriting bars makes the cached one wrong too.
KINDS_OF_TABLE: dict[str, tuple[str, ...]] = {
    "ohlcv": ("bar", "state"),
    "sentiment_scores": ("sentiment",),
    "macro_indicators": ("macro",),
    "regime_predictions": ("regime",),
    "state_vectors": ("state",),
}


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


def latest_key(prefix: str, kind: str, symbol: str, source: str | None = None, *,
               cluster: bool = False) -> str:
    """The key of a latest value; `<prefix>:v1:<kind>` is its hash tag on a cluster."""
    tail = f":{source}" if source else ""
    return f"{_head(prefix, kind, cluster)}{symbol}{tail}"


def _head(prefix: str, kind: str, cluster: bool) -> str:
    return f"{tag(f'{prefix}:v1:{kind}', cluster)}:"


def event_micros(row: dict) -> int:
    """The row's event time (its `time`) as Unix microseconds: what 'newer' compares."""
    moment = row["time"]
    return int(moment.timestamp() * 1_000_000)


class LatestCache:
    def __init__(self, client: Client, *, prefix: str = "underdog", ttl_s: int = 3600,
                 loader: Loader | None = None, clock: Callable[[], datetime] | None = None,
                 tolerance: timedelta | None = None):
        self.client = client
        self.cluster = is_cluster(client)
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.loader = loader
        self.clock = clock  # None: the wall clock (tests pass a fixed "now")
        self.tolerance = tolerance  # None: UNDERDOG_CLOCK_TOLERANCE_S
        self.stats: Counter[str] = Counter()
        slack = clock_tolerance(tolerance) // timedelta(microseconds=1)
        # An equal event time is a repeat (skipped), or with `rewrite` the same fact
        # written again (replaces).
        self._put = client.register_script(_PUT.format(skip=">=", tolerance_us=slack))
        self._rewrite = client.register_script(_PUT.format(skip=">", tolerance_us=slack))

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, cluster: bool | None = None,
                 **kwargs: Any) -> LatestCache:
        """On `url`; a Redis Cluster when `cluster` (default: UNDERDOG_REDIS_CLUSTER)."""
        return cls(connect(url, cluster=cluster, timeout_s=timeout_s), **kwargs)

    def key(self, kind: str, symbol: str, source: str | None = None) -> str:
        return latest_key(self.prefix, kind, symbol, source, cluster=self.cluster)

    def _count(self, kind: str, result: str) -> None:
        self.stats[result] += 1
        CACHE_REQUESTS.labels(kind, result).inc()

    def put(self, kind: str, symbol: str, row: dict, source: str | None = None, *,
            rewrite: bool = False) -> bool:
        """Store `row` if its `time` is newer than the cached one (or equal, with `rewrite`:
        the row replaced one of the same time in its table). False if skipped or failed;
        a row stamped in the future is skipped and counted."""
        if self._future(row):
            self._count(kind, "future")
            log.warning("cache put of %s %s skipped: stamped after now (%s)", kind, symbol,
                        row.get("time"))
            return False
        fields = [x for k, v in row.items() for x in (k, _encode(v))]
        script = self._rewrite if rewrite else self._put
        try:
            written = script(
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

    def _future(self, row: dict) -> bool:
        now = self.clock() if self.clock else None
        limit = latest_allowed(now, self.tolerance)
        stamps = (row.get(k) for k in ("time", "available_at"))
        return any(isinstance(v, datetime) and v.tzinfo is not None and v > limit
                   for v in stamps)

    def refresh(self, kind: str, names: Iterable[Name], *, load: Loader | None = None) -> bool:
        """Make each key hold what its table holds now: the latest row, or nothing.

        Call it after rewriting (or deleting) rows of the kind. Rows come from `load`
        (default: the cache's loader); with neither, or when loading fails, the keys are
        deleted, also in one MULTI. False if Redis is unreachable (the stale value then
        lives at most `ttl_s`).
        """
        load = load or self.loader
        targets = {self.key(kind, *_pair(n)): _pair(n) for n in names}
        if not targets:
            return True

        def replace(pipe: redis.client.Pipeline) -> None:
            rows = self._latest_rows(kind, targets, load)
            pipe.multi()
            for key, row in rows.items():
                pipe.delete(key)
                if row is not None:
                    pipe.hset(key, mapping={EVENT_FIELD: event_micros(row),
                                            **{k: _encode(v) for k, v in row.items()}})
                    pipe.expire(key, self.ttl_s)

        try:
            self.client.transaction(replace, *targets)
        except redis.RedisError as exc:
            self._count(kind, "error")
            log.warning("cache refresh of %s %s failed: %s", kind, list(targets), exc)
            return False
        self.stats["refreshed"] += len(targets)
        return True

    def _latest_rows(self, kind: str, targets: dict[str, tuple[str, str | None]],
                     load: Loader | None) -> dict[str, dict | None]:
        if load is None:
            return dict.fromkeys(targets)
        try:
            return {key: load(kind, symbol, source) for key, (symbol, source) in targets.items()}
        except Exception as exc:  # the table unreadable: no value is safer than a stale one
            log.warning("cache refresh of %s could not read the table (%s); deleting", kind,
                        exc)
            return dict.fromkeys(targets)

    def refresh_tables(self, tables: Iterable[str], names: Iterable[Name], *,
                       load: Loader | None = None) -> bool:
        """`refresh` every kind the rows of `tables` are cached as, for `names`."""
        names = list(names)
        kinds = dict.fromkeys(k for t in tables for k in KINDS_OF_TABLE.get(t, ()))
        return all([self.refresh(kind, names, load=load) for kind in kinds])

    def cached_names(self, kind: str) -> list[Name]:
        """The symbols (or (symbol, source) pairs) that have a cached value of `kind`."""
        head = _head(self.prefix, kind, self.cluster)
        names: list[Name] = []
        for key in self.client.scan_iter(match=f"{head}*", count=1000):
            symbol, _, source = key[len(head):].partition(":")
            names.append((symbol, source) if source else symbol)
        return names

    def refresh_cached(self, tables: Iterable[str], *, load: Loader | None = None) -> bool:
        """`refresh` every cached key of the kinds `tables` serve (after retention, which
        deletes by age across all symbols). False if Redis is unreachable."""
        kinds = dict.fromkeys(k for t in tables for k in KINDS_OF_TABLE.get(t, ()))
        try:
            found = {kind: self.cached_names(kind) for kind in kinds}
        except redis.RedisError as exc:
            log.warning("cache refresh after retention failed: %s", exc)
            return False
        return all([self.refresh(kind, names, load=load) for kind, names in found.items()])

    def invalidate(self, kind: str, symbols: list[str]) -> bool:
        """Drop cached values (one DEL); the next read loads from the database. A rewrite
        path calls `refresh` instead, which replaces them without an empty moment."""
        try:
            self.client.delete(*(self.key(kind, s) for s in symbols))
        except redis.RedisError as exc:
            self._count(kind, "error")
            log.warning("cache invalidation of %s %s failed: %s", kind, symbols, exc)
            return False
        return True

    def clear(self) -> int:
        """Delete every key under this cache's prefix, bar packs too (tests, resets)."""
        # On a cluster latest values begin with their tag, `{<prefix>:v1:...`.
        patterns = [f"{self.prefix}:v1:*"] + ([f"{{{self.prefix}:v1:*"] if self.cluster else [])
        keys = [k for p in patterns for k in self.client.scan_iter(match=p, count=1000)]
        return self.client.delete(*keys) if keys else 0


def _pair(name: Name) -> tuple[str, str | None]:
    return name if isinstance(name, tuple) else (name, None)
