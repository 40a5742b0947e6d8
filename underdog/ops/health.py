"""What `underdog health` shows and the exporter serves: one report, read at the moment.

Everything comes from PostgreSQL and Redis when asked (nothing is kept in a process), so a
report is right whichever processes are alive: feeds (freshness.py), dead letters of the last
24 h, storage and compression, Redis memory and hit ratio, the streamer's heartbeat, the online
state vectors' age, and the read replica's lag (UNDERDOG_READER_DATABASE_URL; see
underdog/store/replica.py). Dagster's side (last materialization and failed runs per
asset) is filled in by the caller when it can reach the Dagster instance (the core never
imports Dagster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import redis

from underdog.config import ConfigError, Settings
from underdog.ops.freshness import FeedStatus, evaluate_all
from underdog.redaction import redact
from underdog.store import replica
from underdog.store.db import READER_VARIABLE, connect, is_timescale
from underdog.store.offline.health import (
    TableStorage,
    dead_letter_counts,
    open_read_only,
    storage,
)
from underdog.store.online.cache import LatestCache
from underdog.store.online.client import Client, info

DAY = timedelta(hours=24)
# A heartbeat is written every second; a running streamer silent this long is hung or dead.
HEARTBEAT_MAX_AGE_S = 60.0
# A standby replays within milliseconds; on an idle primary a record not replayed yet would
# read as the age of the last commit (hours): give it this long to catch up before measuring.
REPLICA_SETTLE_S = 0.5


@dataclass
class ReplicaStatus:
    """The read replica against the primary (`configured` False: reads go to the primary)."""

    configured: bool
    up: bool = False
    error: str = ""
    lag: replica.ReplicaLag | None = None
    max_lag_s: float = 0.0

    @property
    def too_far_behind(self) -> bool:
        """Fresh reads refuse it now: behind with replay paused (it will not catch up), or
        behind since longer than the allowed lag."""
        lag = self.lag
        return lag is not None and lag.behind and (lag.paused or lag.seconds > self.max_lag_s)


@dataclass
class RedisStatus:
    up: bool
    error: str = ""
    used_memory: int = 0
    maxmemory: int = 0
    policy: str = ""
    hits: int = 0  # keyspace hits/misses since the server started (INFO stats)
    misses: int = 0
    evicted: int = 0

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


@dataclass
class StreamStatus:
    """The streamer's last heartbeat (Redis), if one is still there (1 h TTL)."""

    seen: bool
    time: datetime | None = None
    age_s: float | None = None
    running: bool = False
    lag_s: float | None = None
    msgs_per_s: float | None = None
    protocol: str = ""

    @property
    def stale(self) -> bool:
        """It said it was running, and has been silent too long since."""
        return self.seen and self.running and (self.age_s or 0.0) > HEARTBEAT_MAX_AGE_S


@dataclass
class AssetRuns:
    """Dagster's view of one asset: last materialization, failed runs in the last 24 h."""

    asset: str
    last_materialized: datetime | None = None
    failures_24h: int = 0
    last_error: str = ""


@dataclass
class HealthReport:
    now: datetime
    backend: str  # "TimescaleDB" | "PostgreSQL"
    feeds: list[FeedStatus]
    dead_letters: dict[tuple[str, str], int]  # (source, target table) -> rows in 24 h
    storage: list[TableStorage]
    redis: RedisStatus
    stream: StreamStatus
    online: dict[str, datetime | None]  # symbol -> available_at of the Redis state vector
    replica: ReplicaStatus = field(default_factory=lambda: ReplicaStatus(False))
    runs: dict[str, AssetRuns] = field(default_factory=dict)
    runs_error: str = ""  # why Dagster's side is missing, if it is

    def dead_letters_for(self, table: str) -> int:
        return sum(n for (_, t), n in self.dead_letters.items() if t == table)

    def problems(self) -> list[str]:
        """Everything that makes `underdog health` exit non-zero."""
        out = [f"{f.table}: stale ({f.detail})" for f in self.feeds if f.stale]
        if not self.redis.up:
            out.append(f"redis: unreachable ({self.redis.error})")
        if self.stream.stale:
            out.append(f"streamer: no heartbeat for {self.stream.age_s:.0f} s")
        r = self.replica
        if r.configured and not r.up:
            out.append(f"replica: unreachable ({r.error})")
        elif r.too_far_behind:
            out.append(f"replica: {r.lag.describe()} (allowed {r.max_lag_s:g} s)")
        return out


def redis_status(client: Client) -> RedisStatus:
    """Memory and keyspace counters, summed over the masters of a cluster."""
    try:
        memory, stats = info(client, "memory"), info(client, "stats")
    except redis.RedisError as exc:
        return RedisStatus(False, redact(str(exc)))

    def total(sections: list[dict], field: str) -> int:
        return sum(int(s.get(field, 0)) for s in sections)

    limits = [int(m.get("maxmemory", 0)) for m in memory]
    return RedisStatus(  # maxmemory 0: unlimited, on any master the whole is
        True, used_memory=total(memory, "used_memory"),
        maxmemory=sum(limits) if all(limits) else 0,
        policy=str(memory[0].get("maxmemory_policy", "")),
        hits=total(stats, "keyspace_hits"), misses=total(stats, "keyspace_misses"),
        evicted=total(stats, "evicted_keys"))


def stream_status(cache: LatestCache, now: datetime) -> StreamStatus:
    try:
        row = cache.get("stream", "heartbeat")
    except redis.RedisError:
        row = None
    if not row or not isinstance(row.get("time"), datetime):
        return StreamStatus(False)
    beat = row["time"]
    return StreamStatus(
        True, time=beat, age_s=max((now - beat).total_seconds(), 0.0),
        running=bool(row.get("running")), lag_s=row.get("lag_s"),
        msgs_per_s=row.get("msgs_per_s"), protocol=str(row.get("protocol") or ""))


def online_state(cache: LatestCache, symbols: list[str]) -> dict[str, datetime | None]:
    """When each symbol's online state vector (Redis) became known; None if there is none."""
    out: dict[str, datetime | None] = {}
    for symbol in symbols:
        row = cache.get("state", symbol) or {}  # no loader: Redis only, never the database
        known = row.get("available_at")
        out[symbol] = known if isinstance(known, datetime) else None
    return out


def replica_status(settings: Settings, primary: psycopg.Connection) -> ReplicaStatus:
    """The lag of UNDERDOG_READER_DATABASE_URL behind `primary`'s current WAL position."""
    if not settings.reader_dsn:
        return ReplicaStatus(False)
    status = ReplicaStatus(True, max_lag_s=settings.replica_max_lag_s)
    password = {"password": settings.reader_secret} if settings.reader_secret else {}
    try:
        target = replica.primary_lsn(primary)
        with connect(settings.reader_dsn, variable=READER_VARIABLE, autocommit=True,
                     **password) as standby:
            status.lag = replica.catch_up(standby, target, REPLICA_SETTLE_S)
    except (ConfigError, psycopg.Error) as exc:
        status.error = redact(str(exc).strip())
        return status
    status.up = True
    return status


def collect(settings: Settings, *, now: datetime | None = None) -> HealthReport:
    """The report at `now`. Raises ConfigError if PostgreSQL is unreachable."""
    now = now or datetime.now(UTC)
    with open_read_only(settings.dsn) as conn:
        timescale = is_timescale(conn)
        feeds = evaluate_all(conn, settings, now=now)
        letters = dead_letter_counts(conn, now - DAY)
        tables = storage(conn, timescale)
        replica_state = replica_status(settings, conn)
    cache = LatestCache.from_url(settings.redis_url.get_secret_value(),
                                 timeout_s=max(settings.redis_timeout_s, 1.0),
                                 prefix=settings.redis_prefix, cluster=settings.redis_cluster)
    try:
        report = HealthReport(
            now=now, backend="TimescaleDB" if timescale else "PostgreSQL", feeds=feeds,
            dead_letters=letters, storage=tables, redis=redis_status(cache.client),
            stream=stream_status(cache, now),
            online=online_state(cache, list(settings.symbols)), replica=replica_state)
    finally:
        cache.client.close()
    return report


def _when(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def as_dict(report: HealthReport) -> dict[str, object]:
    """The report as plain JSON values (`underdog health --json`)."""
    return {
        "time": _when(report.now), "backend": report.backend,
        "problems": report.problems(),
        "feeds": [{
            "table": f.table, "writer": f.feed.writer, "schedule": f.feed.schedule,
            "status": f.status, "detail": f.detail, "last_update": _when(f.newest),
            "lag_s": f.lag_s, "max_lag_s": f.threshold.max_lag.total_seconds()
            if f.threshold.max_lag else None, "rows_today": f.rows_today,
            "dead_letters_24h": report.dead_letters_for(f.table),
            "errors_24h": report.runs[f.table].failures_24h if f.table in report.runs else None,
            "last_materialized": _when(report.runs[f.table].last_materialized)
            if f.table in report.runs else None,
            "keys": {k.key: {"last_update": _when(k.newest), "lag_s": k.lag_s,
                             "rows_today": k.rows_today} for k in f.keys},
        } for f in report.feeds],
        "dead_letters_24h": [{"source": s, "table": t, "rows": n}
                             for (s, t), n in sorted(report.dead_letters.items())],
        "storage": [{"table": s.table, "size_bytes": s.size_bytes, "chunks": s.chunks,
                     "compressed_chunks": s.compressed_chunks,
                     "compression_ratio": s.compression_ratio} for s in report.storage],
        "redis": {"up": report.redis.up, "error": report.redis.error,
                  "used_memory": report.redis.used_memory, "maxmemory": report.redis.maxmemory,
                  "policy": report.redis.policy, "hit_ratio": report.redis.hit_ratio,
                  "hits": report.redis.hits, "misses": report.redis.misses,
                  "evicted": report.redis.evicted},
        "stream": {"seen": report.stream.seen, "time": _when(report.stream.time),
                   "age_s": report.stream.age_s, "running": report.stream.running,
                   "lag_s": report.stream.lag_s, "stale": report.stream.stale},
        "online_state": {s: _when(t) for s, t in report.online.items()},
        "replica": replica_dict(report.replica),
        "dagster": report.runs_error or "ok",
    }


def replica_dict(r: ReplicaStatus) -> dict[str, object]:
    lag = r.lag
    return {"configured": r.configured, "up": r.up, "error": r.error,
            "standby": lag.standby if lag else None,
            "replay_lag_bytes": lag.replay_bytes if lag else None,
            "receive_lag_bytes": lag.receive_bytes if lag else None,
            # JSON has no infinity: a standby behind that never replayed a commit is null
            "lag_s": lag.seconds if lag and lag.seconds != float("inf") else None,
            "replay_paused": lag.paused if lag else None, "max_lag_s": r.max_lag_s,
            "too_far_behind": r.too_far_behind}
