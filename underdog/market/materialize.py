"""What the market assets run: a backfill and the checks of what it wrote, the summaries'
refresh (as `underdog.features.materialize` is for the feature assets)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from underdog.market.backfill import TABLES, MarketBackfill, SourceOptions, backfill
from underdog.market.gaps import GapReport, bar_gaps
from underdog.store.db import Database
from underdog.store.offline import aggregates
from underdog.store.offline.audits import TickAudit, duplicate_keys, ohlc_violations, tick_audit
from underdog.store.online.cache import LatestCache

SUMMARIES = ("ohlcv_1h", "ohlcv_1d")


@dataclass
class BarAudit:
    gaps: dict[str, GapReport]  # per symbol: minutes inside trading hours without a bar
    ohlc_violations: int
    duplicates: int


@dataclass
class AuditedBackfill:
    run: MarketBackfill
    ticks: TickAudit | None  # None: `ticks` was not written
    bars: BarAudit | None  # None: `ohlcv` was not written


def audited_backfill(db: Database, symbols: Sequence[str], start: datetime, end: datetime, *,
                     source: str, options: SourceOptions | None = None,
                     tables: Collection[str] = TABLES,
                     cache: LatestCache | None = None) -> AuditedBackfill:
    """`backfill`, then the checks of each table it wrote, over the stored window."""
    run = backfill(db, symbols, start, end, source=source, options=options, tables=tables,
                   cache=cache)
    ticks = tick_audit(db, start, end) if run.ticks is not None else None
    bars = None
    if run.bars is not None:
        bars = BarAudit({s: bar_gaps(db, s, start, end) for s in symbols},
                        ohlc_violations(db, start, end), duplicate_keys(db, start, end))
    return AuditedBackfill(run, ticks, bars)


@dataclass
class SummaryWindow:
    start: datetime  # the window widened to whole buckets
    end: datetime
    rows: int  # rows of the summary in it


def refresh_summaries(db: Database, start: datetime, end: datetime) -> dict[str, SummaryWindow]:
    """Refresh the bar summaries over [start, end) (bucket-aligned) and count their rows."""
    out = {}
    for name in SUMMARIES:
        lo, hi = aggregates.refresh(db, name, start, end)
        out[name] = SummaryWindow(lo, hi, aggregates.rows_in_window(db, name, lo, hi))
    return out
