"""Refresh the summaries (continuous aggregates on TimescaleDB, tables on PostgreSQL).

Windows are widened to whole buckets first: TimescaleDB refreshes only buckets that lie
fully inside the window, the plain refresh rewrites exactly the window, so both then hold
the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg import sql

from underdog.store.db import Database

BUCKETS: dict[str, timedelta] = {
    "ohlcv_1h": timedelta(hours=1),
    "ohlcv_1d": timedelta(days=1),
    "hourly_sentiment_summary": timedelta(hours=1),
    "daily_trading_summary": timedelta(days=1),
}
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # time_bucket's default origin


def align(start: datetime, end: datetime, bucket: timedelta) -> tuple[datetime, datetime]:
    """[start, end) widened outward to bucket boundaries."""
    lo = _ORIGIN + ((start - _ORIGIN) // bucket) * bucket
    hi = _ORIGIN + -((_ORIGIN - end) // bucket) * bucket
    return lo, hi


def refresh(db: Database, name: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Recompute the summary `name` over [start, end) (bucket-aligned); return the window."""
    lo, hi = align(start, end, BUCKETS[name])
    if db.is_timescale:
        # refresh_continuous_aggregate cannot run inside a transaction block.
        with db.connection() as conn:
            conn.autocommit = True
            try:
                conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)",
                             (f"underdog.{name}", lo, hi))
            finally:
                conn.autocommit = False
    else:
        function = sql.Identifier("underdog", f"refresh_{name}")
        with db.connection() as conn, conn.transaction():
            conn.execute(sql.SQL("SELECT {}(%s, %s)").format(function), (lo, hi))
    return lo, hi


def rows_in_window(db: Database, name: str, start: datetime, end: datetime) -> int:
    """Rows of the summary `name` with start <= time < end (the assets' metadata)."""
    if name not in BUCKETS:
        raise ValueError(f"summary must be one of {sorted(BUCKETS)}, got {name!r}")
    query = sql.SQL("SELECT count(*) FROM {} WHERE time >= %s AND time < %s").format(
        sql.Identifier("underdog", name))
    with db.reader() as conn:
        count = conn.execute(query, (start, end)).fetchone()[0]
        conn.rollback()
    return int(count)
