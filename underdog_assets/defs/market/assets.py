"""Market data: M1 bars from the embedded simulated market, and their hourly/daily summaries."""

import time

import dagster as dg
import pandas as pd

from underdog.ingest import backfill_bars
from underdog.store import aggregates
from underdog.store.audits import bar_gaps, duplicate_keys, ohlc_violations
from underdog_assets.lib.partitions import DAILY, WEEKLY_BATCHES
from underdog_assets.lib.resources import DatabaseResource, MarketResource, RedisResource

MAX_GAP_MINUTES = 5  # inside trading hours; a longer hole means a lost feed, not a quiet market

OHLCV_CHECKS = [
    dg.AssetCheckSpec("no_gaps_in_trading_hours", asset="ohlcv",
                      description=f"No run of more than {MAX_GAP_MINUTES} missing minutes "
                                  "while the FX market is open (Sun 22:00 - Fri 22:00 UTC)."),
    dg.AssetCheckSpec("ohlc_consistent", asset="ohlcv",
                      description="Every bar has low <= open, close <= high."),
    dg.AssetCheckSpec("no_duplicate_keys", asset="ohlcv",
                      description="One bar per (symbol, minute)."),
]


def _preview(bars: pd.DataFrame) -> dg.MetadataValue:
    head = bars.groupby("symbol").head(3)
    return dg.MetadataValue.md(head.drop(columns="source").to_markdown(index=False))


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=WEEKLY_BATCHES,
    group_name="market",
    kinds={"timescale", "python"},
    owners=["team:market-data"],
    check_specs=OHLCV_CHECKS,
    pool="timescale_write",
    description="M1 bid bars (OHLC, mean spread, tick count as volume) per symbol, from the "
                "seeded simulated FX market. A bar is known at its close (time + 1 minute).",
)
def ohlcv(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    cache: RedisResource,
    market: MarketResource,
) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    began = time.perf_counter()
    backfill = backfill_bars(database.db, market.symbols, start, end, seed=market.seed)
    written = backfill.result
    cache_invalidated = cache.cache().invalidate("bar", list(market.symbols))
    gaps = {s: bar_gaps(database.db, s, start, end) for s in market.symbols}
    worst = max((g.largest_gap_minutes for g in gaps.values()), default=0)
    bad_ohlc = ohlc_violations(database.db, start, end)
    dupes = duplicate_keys(database.db, start, end)
    return dg.MaterializeResult(
        metadata={
            "rows_written": written.written,
            "rows_rejected": written.rejected,
            "rows_replaced": written.deleted,
            "rejected_reasons": written.reasons,
            "symbols": list(market.symbols),
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "first_bar": str(backfill.bars["time"].min()) if written.written else "none",
            "last_bar": str(backfill.bars["time"].max()) if written.written else "none",
            "seconds": round(time.perf_counter() - began, 3),
            "cache_invalidated": cache_invalidated,
            "preview": _preview(backfill.bars) if written.written else "no bars (market closed)",
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_gaps_in_trading_hours", passed=worst <= MAX_GAP_MINUTES,
                metadata={"largest_gap_minutes": worst,
                          **{f"missing_minutes_{s}": g.missing_minutes for s, g in gaps.items()}},
            ),
            dg.AssetCheckResult(check_name="ohlc_consistent", passed=bad_ohlc == 0,
                                metadata={"violations": bad_ohlc}),
            dg.AssetCheckResult(check_name="no_duplicate_keys", passed=dupes == 0,
                                metadata={"duplicates": dupes}),
        ],
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec("ohlcv_1h", deps=["ohlcv"], group_name="market", kinds={"timescale"},
                     owners=["team:market-data"],
                     description="Hourly bars rolled up from ohlcv (continuous aggregate on "
                                 "TimescaleDB, a refreshed table on PostgreSQL)."),
        dg.AssetSpec("ohlcv_1d", deps=["ohlcv"], group_name="market", kinds={"timescale"},
                     owners=["team:market-data"],
                     description="Daily bars (UTC days) rolled up from ohlcv."),
    ],
    partitions_def=DAILY,
    backfill_policy=WEEKLY_BATCHES,
    pool="timescale_write",
)
def market_summaries(context: dg.AssetExecutionContext, database: DatabaseResource):
    """Refresh the bar summaries over the partition's window."""
    start, end = context.partition_time_window
    for name in ("ohlcv_1h", "ohlcv_1d"):
        lo, hi = aggregates.refresh(database.db, name, start, end)
        with database.db.reader() as conn:
            rows = conn.execute(
                f"SELECT count(*) FROM underdog.{name} WHERE time >= %s AND time < %s", (lo, hi)
            ).fetchone()[0]
            conn.rollback()
        yield dg.MaterializeResult(asset_key=name, metadata={
            "rows_in_window": rows, "window_start": lo.isoformat(), "window_end": hi.isoformat(),
        })
