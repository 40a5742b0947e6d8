"""Data-quality audits of stored market data (the `ticks` and `ohlcv` asset checks; the gaps
in trading hours are `underdog.market.gaps`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from underdog.store.db import Database


def ohlc_violations(db: Database, start: datetime, end: datetime) -> int:
    with db.reader() as conn:
        count = conn.execute(
            "SELECT count(*) FROM underdog.ohlcv_values WHERE time >= %s AND time < %s"
            " AND NOT (low <= least(open, close) AND greatest(open, close) <= high)",
            (start, end),
        ).fetchone()[0]
    return int(count)


def duplicate_keys(db: Database, start: datetime, end: datetime) -> int:
    """Rows beyond the first per (symbol, time): the key constraint should keep this at 0."""
    with db.reader() as conn:
        count = conn.execute(
            "SELECT count(*) - count(DISTINCT (symbol, time)) FROM underdog.ohlcv"
            " WHERE time >= %s AND time < %s",
            (start, end),
        ).fetchone()[0]
    return int(count)


@dataclass
class TickAudit:
    crossed: int  # ticks with ask < bid
    duplicates: int  # rows beyond the first per (symbol, time, seq)


def tick_audit(db: Database, start: datetime, end: datetime) -> TickAudit:
    """Quote sanity of the stored ticks in [start, end) (the `ticks` asset checks)."""
    # DISTINCT over the columns walks the primary key; count(DISTINCT (row)) is ~10x slower.
    with db.reader() as conn:
        crossed, duplicates = conn.execute(
            "SELECT count(*) FILTER (WHERE ask < bid), count(*) - (SELECT count(*) FROM"
            " (SELECT DISTINCT symbol, time, seq FROM underdog.ticks"
            "  WHERE time >= %(start)s AND time < %(end)s) AS keys)"
            " FROM underdog.tick_values WHERE time >= %(start)s AND time < %(end)s",
            {"start": start, "end": end},
        ).fetchone()
        conn.rollback()
    return TickAudit(int(crossed), int(duplicates))
