"""Reads of stored state vectors for their consumers outside the feature pipeline: a
symbol's window joined with its bars' spreads (the agent's market data, `underdog.agent.data`)
and one bar's row (the demo report). Feature names and version come from the caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg import sql

from underdog.store.db import Database


def _columns(names: Sequence[str], table: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(*([table] if table else []), n) for n in names)


def vectors_with_spread(db: Database, symbol: str, names: Sequence[str], version: int,
                        start: datetime | None, end: datetime | None) -> list[tuple]:
    """(time, *names, spread) per state vector of `symbol` and `version` in [start, end)
    (None: unbounded), joined with its bar's spread, by time."""
    query = sql.SQL(
        "SELECT s.time, {}, o.spread FROM underdog.state_vectors s"
        " JOIN underdog.ohlcv o ON o.symbol = s.symbol AND o.time = s.time"
        " WHERE s.symbol = %s AND s.feature_version = %s"
        " AND s.time >= coalesce(%s::timestamptz, '-infinity')"
        " AND s.time < coalesce(%s::timestamptz, 'infinity')"
        " ORDER BY s.time").format(_columns(names, "s"))
    with db.reader() as conn:
        return conn.execute(query, (symbol, version, start, end)).fetchall()


def stored_vector(db: Database, symbol: str, time: datetime, names: Sequence[str],
                  version: int) -> tuple | None:
    """The `names` of the stored state vector of `symbol` at bar `time`, or None."""
    query = sql.SQL("SELECT {} FROM underdog.state_vectors"
                    " WHERE symbol = %s AND time = %s AND feature_version = %s"
                    ).format(_columns(names))
    with db.reader() as conn:
        return conn.execute(query, (symbol, time, version)).fetchone()
