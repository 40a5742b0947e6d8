"""Retention: each fact table keeps the window of `underdog.retention_policies`, on both
backends, and Redis forgets what it held for the rows that went.

TimescaleDB drops whole chunks past the window: its retention policy jobs (0002), which its
scheduler runs daily, and `apply` runs now. Plain PostgreSQL deletes the rows
(`underdog.apply_retention()`). Then the Redis keys of those rows are deleted: the bar packs
of days before the day of ohlcv's cutoff, and latest-value hashes whose event is older than
their table's cutoff (a symbol that stopped trading). Packs of a day dropped by the scheduler
alone are never served (a read only uses packs of days the table still has) and expire with
their TTL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import redis

from underdog.store.bar_packs import KIND as PACKS
from underdog.store.cache import EVENT_FIELD
from underdog.store.db import Database

log = logging.getLogger(__name__)

# Latest-value kinds (`<prefix>:v1:<kind>:...`) and the table each one mirrors.
KIND_TABLES = {"bar": "ohlcv", "quote": "quotes", "state": "state_vectors",
               "sentiment": "sentiment_scores", "macro": "macro_indicators",
               "regime": "regime_predictions"}
POLICY_JOBS = ("SELECT job_id, hypertable_name FROM timescaledb_information.jobs"
               " WHERE proc_name = 'policy_retention' AND hypertable_schema = 'underdog'"
               " ORDER BY hypertable_name")
CHUNKS = ("SELECT hypertable_name, count(*) FROM timescaledb_information.chunks"
          " WHERE hypertable_schema = 'underdog' GROUP BY 1")


@dataclass
class RetentionRun:
    cutoffs: dict[str, datetime]  # table -> rows before this are past the window
    dropped: dict[str, int] = field(default_factory=dict)  # chunks (TimescaleDB) or rows
    unit: str = "rows"
    redis_keys: int = 0


def cutoffs(db: Database, now: datetime) -> dict[str, datetime]:
    with db.connection() as conn:
        return dict(conn.execute(
            "SELECT table_name, %s::timestamptz - keep FROM underdog.retention_policies",
            (now,)).fetchall())


def _run_policies(db: Database) -> dict[str, int]:
    """Run every retention policy job now; chunks dropped per table."""
    with db.connection() as conn:
        conn.autocommit = True  # run_job commits as it goes: no transaction around it
        try:
            before = dict(conn.execute(CHUNKS).fetchall())
            for job_id, _table in conn.execute(POLICY_JOBS).fetchall():
                conn.execute("CALL run_job(%s)", (job_id,))
            after = dict(conn.execute(CHUNKS).fetchall())
        finally:
            conn.autocommit = False
    return {t: n - after.get(t, 0) for t, n in before.items()}


def _delete_rows(db: Database, now: datetime) -> dict[str, int]:
    with db.connection() as conn, conn.transaction():
        return dict(conn.execute("SELECT * FROM underdog.apply_retention(%s)", (now,)).fetchall())


def apply(db: Database, client: redis.Redis | None = None, *, prefix: str = "underdog",
          now: datetime | None = None) -> RetentionRun:
    """Enforce every table's window now, then purge Redis under `prefix`.

    TimescaleDB's policy jobs measure their window from the server's clock: `now` moves only
    plain PostgreSQL's cutoff (and the Redis purge's).
    """
    now = now or datetime.now(UTC)
    run = RetentionRun(cutoffs(db, now))
    if db.is_timescale:
        run.dropped, run.unit = _run_policies(db), "chunks"
    else:
        run.dropped = _delete_rows(db, now)
    if client is not None:
        run.redis_keys = purge_redis(client, prefix, run.cutoffs)
    return run


def purge_redis(client: redis.Redis, prefix: str, cutoffs: dict[str, datetime]) -> int:
    """Delete the keys whose rows are past their table's window; how many. Redis down: 0,
    logged (the keys expire with their TTL)."""
    try:
        stale = _stale_packs(client, prefix, cutoffs["ohlcv"].date())
        for kind, table in KIND_TABLES.items():
            if table in cutoffs:
                stale += _stale_latest(client, f"{prefix}:v1:{kind}:*", cutoffs[table])
        return client.delete(*stale) if stale else 0
    except redis.RedisError as exc:
        log.warning("retention could not purge Redis (%s): keys expire with their TTL", exc)
        return 0


def _stale_packs(client: redis.Redis, prefix: str, first_kept: date) -> list[bytes]:
    """Packs (`<prefix>:v1:bars1m:<origin>:<symbol>:<day>`) of days before `first_kept`."""
    stale = []
    for key in client.scan_iter(match=f"{prefix}:v1:{PACKS}:*", count=1000):
        name = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        day = name.rsplit(":", 1)[-1]
        try:
            if date.fromisoformat(day) < first_kept:
                stale.append(key)
        except ValueError:
            continue  # not a pack key
    return stale


def _stale_latest(client: redis.Redis, pattern: str, cutoff: datetime) -> list[bytes]:
    keys = list(client.scan_iter(match=pattern, count=1000))
    if not keys:
        return []
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, EVENT_FIELD)
        events = pipe.execute()
    limit = int(cutoff.timestamp() * 1_000_000)
    return [k for k, e in zip(keys, events, strict=True) if e is not None and int(e) < limit]
