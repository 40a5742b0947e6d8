"""Reads of the backtest ledger: `trades`, `daily_trading_summary` and `metrics`.

The agent's ledger check, the `daily_trading_summary` asset and the demo report call these
with plain values (the writes go through `underdog.store.offline.writers`).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from underdog.store.db import Database

PREVIEW_COLUMNS = ["strategy", "day", "trades", "wins", "win_rate", "pnl"]


def trade_totals(db: Database, strategy: str, start: datetime,
                 end: datetime) -> tuple[int, float]:
    """Trades of `strategy` closed in [start, end) and their summed PnL."""
    with db.primary_reader() as conn:  # read-back of what the caller just wrote
        trades, pnl = conn.execute(
            "SELECT count(*), coalesce(sum(pnl), 0) FROM underdog.trades"
            " WHERE strategy = %s AND time >= %s AND time < %s",
            (strategy, start, end)).fetchone()
    return trades, pnl


def summary_totals(db: Database, strategy: str) -> tuple[int, float]:
    """Trades and PnL of `strategy` summed over its `daily_trading_summary` days."""
    with db.primary_reader() as conn:  # read-back of what the caller just wrote
        trades, pnl = conn.execute(
            "SELECT coalesce(sum(trades), 0), coalesce(sum(pnl), 0)"
            " FROM underdog.daily_trading_summary WHERE strategy = %s",
            (strategy,)).fetchone()
    return trades, pnl


def trade_span(db: Database) -> tuple[datetime | None, datetime | None]:
    """The first and last trade time of every strategy (None, None: no trades)."""
    with db.reader() as conn:
        first, last = conn.execute("SELECT min(time), max(time) FROM underdog.trades").fetchone()
    return first, last


def summary_preview(db: Database, limit: int = 20) -> pd.DataFrame:
    """The newest `limit` days x strategies of `daily_trading_summary`, rounded for display."""
    with db.primary_reader() as conn:  # read-back of what the caller just wrote
        rows = conn.execute(
            "SELECT strategy, time::date AS day, trades, wins, round(win_rate::numeric, 3)"
            " AS win_rate, round(pnl::numeric, 2) AS pnl FROM underdog.daily_trading_summary"
            " ORDER BY time DESC, strategy LIMIT %s", (limit,)).fetchall()
    return pd.DataFrame(rows, columns=PREVIEW_COLUMNS)


def run_metrics(db: Database, run_id: str) -> list[tuple[str, str, float | None]]:
    """(strategy, name, value) of the `metrics` rows `run_id` wrote, by strategy."""
    with db.reader() as conn:
        return conn.execute("SELECT strategy, name, value FROM underdog.metrics"
                            " WHERE run_id = %s ORDER BY strategy", (run_id,)).fetchall()
