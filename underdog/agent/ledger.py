"""The backtest ledger: an evaluation's books into trades, positions, metrics, account_snapshots.

Each table's rows for one strategy (`td3:<policy version>`) in the evaluated window are
replaced in one transaction per table (the writers' replace_window), so rerunning an
evaluation gives the same rows; `run_id` says which run wrote them. Then the
`daily_trading_summary` buckets of the window are refreshed. `balance` reads the books back
(the td3_evaluation check); the reads are in `underdog.store.offline.ledger`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from underdog.agent.backtest import Books
from underdog.reference.schema import BAR
from underdog.store.db import Database
from underdog.store.offline import aggregates
from underdog.store.offline import ledger as ledger_store
from underdog.store.offline.writers import no_rows, replace_window
from underdog.store.tables import ACCOUNT_SNAPSHOTS, METRICS, POSITIONS, TRADES


@dataclass
class LedgerRun:
    strategy: str
    run_id: str
    start: datetime
    end: datetime
    written: dict[str, int]

    @property
    def window(self) -> tuple[datetime, datetime]:
        """What the ledger rows of [start, end] span: stamped at bar closes in (start, end],
        so the window reaches one bar past end."""
        return self.start, self.end + BAR


def write_ledger(db: Database, books: Books, metrics: dict[str, dict[str, float]], *,
                 strategy: str, run_id: str, start: datetime, end: datetime) -> LedgerRun:
    """Write `books` (the strategy's) and `metrics` (per compared strategy, at `end`)."""
    run = LedgerRun(strategy, run_id, start, end, written={})
    window = run.window
    source = f"agent:{strategy}"
    tables = {
        TRADES: _tagged(books.frame("trades"), strategy=strategy, run_id=run_id,
                        symbol=books.symbol),
        POSITIONS: _tagged(books.frame("positions"), strategy=strategy, run_id=run_id),
        ACCOUNT_SNAPSHOTS: _tagged(books.frame("snapshots"), account=strategy, run_id=run_id),
        METRICS: _metric_rows(metrics, strategy, run_id, end),
    }
    if len(tables[TRADES]):
        tables[TRADES]["trade_id"] = [f"{strategy}:{i}" for i in range(len(tables[TRADES]))]
    for table, rows in tables.items():
        only_column = "account" if table is ACCOUNT_SNAPSHOTS else "strategy"
        names = sorted(set(rows[only_column])) if len(rows) else [strategy]
        result = replace_window(db, table, rows if len(rows) else no_rows(table), start=window[0],
                                end=window[1], source=source, only={only_column: names})
        if result.rejected:
            raise ValueError(f"{table.name}: {result.rejected} ledger rows rejected "
                             f"({result.reasons}); see dead_letters")
        run.written[table.name] = result.written
    aggregates.refresh(db, "daily_trading_summary", *window)
    return run


def balance(db: Database, books: Books, strategy: str,
            window: tuple[datetime, datetime]) -> tuple[bool, str]:
    """Read back: the stored trades of `strategy` in `window` add up to the equity change
    of `books`, and `daily_trading_summary` holds the same trades and PnL."""
    start, end = window
    trades, pnl = ledger_store.trade_totals(db, strategy, start, end)
    summary_trades, summary_pnl = ledger_store.summary_totals(db, strategy)
    change = books.equity[-1] - books.equity[0]
    ok = (trades == len(books.trades) == summary_trades and abs(pnl - change) < 1e-6
          and abs(summary_pnl - pnl) < 1e-6)
    return ok, (f"{trades} trades, PnL {pnl:.2f} vs equity change {change:.2f}; summary "
                f"{summary_trades} trades, PnL {summary_pnl:.2f}")


def refresh_daily_summary(db: Database, preview_rows: int = 20) -> pd.DataFrame:
    """Recompute `daily_trading_summary` over every traded day; its newest rows."""
    first, last = ledger_store.trade_span(db)
    if first is not None:
        aggregates.refresh(db, "daily_trading_summary", first, last + timedelta(days=1))
    return ledger_store.summary_preview(db, preview_rows)


def _tagged(frame: pd.DataFrame, **columns: object) -> pd.DataFrame:
    return frame.assign(**columns) if len(frame) else frame


def _metric_rows(metrics: dict[str, dict[str, float]], strategy: str, run_id: str,
                 end: datetime) -> pd.DataFrame:
    """One row per (compared strategy, metric); baselines named `<strategy>/<baseline>`."""
    rows = [{"time": end, "strategy": strategy if name == "td3" else f"{strategy}/{name}",
             "name": metric, "value": value, "available_at": end, "run_id": run_id}
            for name, values in metrics.items() for metric, value in values.items()]
    return pd.DataFrame(rows)
