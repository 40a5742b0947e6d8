"""Retention: each fact table keeps the window of `underdog.retention_policies`, on both
backends, and Redis forgets what it held for the rows that went.

TimescaleDB drops whole chunks past the window: its retention policy jobs (0002), which its
scheduler runs daily, and `apply` runs now. Plain PostgreSQL deletes the rows
(`underdog.apply_retention()`). Then Redis: the bar packs of days before the day of ohlcv's
cutoff are deleted (`bar_packs.delete_days_before`), and every cached latest value of a table
that lost rows is reloaded from it (`LatestCache.refresh_cached`: the newest row left, or no
key for a symbol that stopped trading), never left empty in between. Packs of a day dropped by
the scheduler alone are never served (a read only uses packs of days the table still has) and
expire with their TTL, as do latest values the scheduler's drops made wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from underdog.store.db import Database
from underdog.store.offline.validation import write_moment
from underdog.store.online.bar_packs import delete_days_before
from underdog.store.online.cache import LatestCache

log = logging.getLogger(__name__)

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
    packs_deleted: int = 0


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


def apply(db: Database, cache: LatestCache | None = None, *,
          now: datetime | None = None) -> RetentionRun:
    """Enforce every table's window now, then make Redis (under the cache's prefix) hold
    nothing the tables no longer hold.

    TimescaleDB's policy jobs measure their window from the server's clock: `now` moves only
    plain PostgreSQL's cutoff (and the bar packs').
    """
    run = RetentionRun(cutoffs(db, write_moment(now)))
    if db.is_timescale:
        run.dropped, run.unit = _run_policies(db), "chunks"
    else:
        run.dropped = _delete_rows(db, write_moment(now))
    if cache is not None:
        run.packs_deleted = delete_days_before(cache.client, cache.prefix,
                                               run.cutoffs["ohlcv"].date())
        cache.refresh_cached([table for table, n in run.dropped.items() if n])
    return run
