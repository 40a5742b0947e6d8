"""Small helpers shared by tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from underdog.store.db import Database

DAY = datetime(2024, 3, 5, tzinfo=UTC)  # a Tuesday: the market is open all day


def bar_frame(n: int = 10, *, symbol: str = "EURUSD", start: datetime = DAY,
              close: float = 1.1) -> pd.DataFrame:
    """n consecutive valid M1 bars."""
    times = pd.date_range(start, periods=n, freq="min", tz="UTC")
    return pd.DataFrame({
        "symbol": symbol, "time": times, "open": close, "high": close + 0.001,
        "low": close - 0.001, "close": close, "volume": 10, "spread": 0.00012,
        "source": "test",
    })


def table_checksum(db: Database, table: str) -> tuple[int, str]:
    """(rows, md5 of every row in key order): equal iff the contents are equal."""
    with db.connection() as conn:
        return conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            f" FROM underdog.{table} t"
        ).fetchone()


def dead_letters(db: Database) -> list[tuple[str, str, dict]]:
    with db.connection() as conn:
        return conn.execute(
            "SELECT target_table, reason, payload FROM underdog.dead_letters ORDER BY id"
        ).fetchall()
