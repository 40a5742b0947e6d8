"""Market data: ticks and M1 bars from the configured source, and their summaries."""

import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from underdog.market.materialize import AuditedBackfill, audited_backfill, refresh_summaries
from underdog.store.offline.writers import WriteResult
from underdog_assets.defs.common.executors import work_tags
from underdog_assets.defs.common.partitions import DAILY, WEEKLY_BATCHES
from underdog_assets.defs.common.resources import DatabaseResource, MarketResource, RedisResource

MAX_GAP_MINUTES = 5  # inside trading hours; a longer hole means a lost feed, not a quiet market
OWNERS = ["team:market-data"]
SOURCES_TEXT = "the source UNDERDOG_MARKET_SOURCE names (simulated by default, dukascopy, mt5)"

TICKS_CHECKS = [
    dg.AssetCheckSpec("no_crossed_quotes", asset="ticks",
                      description="Every tick has ask >= bid."),
    dg.AssetCheckSpec("no_duplicate_keys", asset="ticks",
                      description="One tick per (symbol, time, seq)."),
]
OHLCV_CHECKS = [
    dg.AssetCheckSpec("no_gaps_in_trading_hours", asset="ohlcv",
                      description=f"No run of more than {MAX_GAP_MINUTES} missing minutes "
                                  "while the FX market is open (Sun 22:00 - Fri 22:00 UTC)."),
    dg.AssetCheckSpec("ohlc_consistent", asset="ohlcv",
                      description="Every bar has low <= open, close <= high."),
    dg.AssetCheckSpec("no_duplicate_keys", asset="ohlcv",
                      description="One bar per (symbol, minute)."),
]


@dg.multi_asset(
    op_tags=work_tags("io"),
    specs=[
        dg.AssetSpec("ticks", group_name="market", kinds={"timescale"}, owners=OWNERS,
                     description=f"Bid/ask ticks per symbol from {SOURCES_TEXT}. Historical "
                                 "ticks are known at their own time (available_at = time)."),
        dg.AssetSpec("ohlcv", deps=["ticks"], group_name="market",
                     kinds={"timescale", "python"}, owners=OWNERS,
                     description="M1 bid bars (OHLC, mean spread, tick count as volume) per "
                                 "symbol, rolled from the ticks. A bar is known at its close "
                                 "(time + 1 minute)."),
    ],
    check_specs=TICKS_CHECKS + OHLCV_CHECKS,
    partitions_def=DAILY,
    backfill_policy=WEEKLY_BATCHES,
    pool="market_feed",
    can_subset=True,
)
def market_data(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    cache: RedisResource,
    market: MarketResource,
) -> Iterator[dg.MaterializeResult]:
    """Fetch the window's ticks once, write them and their M1 bars (each asset if selected)."""
    start, end = context.partition_time_window
    began = time.perf_counter()
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    latest = cache.cache(database)
    done = audited_backfill(database.db, market.symbols, start, end, source=market.source,
                            options=market.options(), tables=selected, cache=latest)
    seconds = round(time.perf_counter() - began, 3)
    if done.ticks is not None:
        yield _ticks_result(context, done, seconds)
    if done.bars is not None:
        yield _ohlcv_result(context, market, done, seconds, latest.stats["refreshed"])


def _selected_checks(context: dg.AssetExecutionContext, asset: str,
                     results: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    keys = context.selected_asset_check_keys
    return [r for r in results if dg.AssetCheckKey(dg.AssetKey(asset), r.check_name) in keys]


def _write_metadata(result: WriteResult, frame: pd.DataFrame, *, noun: str, source: str,
                    seconds: float) -> dict[str, object]:
    """Rows written/rejected/replaced, and the time range of what was written."""
    times = frame["time"] if len(frame) else pd.Series(["none"])
    return {"source": source, "rows_written": result.written, "rows_rejected": result.rejected,
            "rows_replaced": result.deleted, "rejected_reasons": result.reasons,
            f"first_{noun}": str(times.min()), f"last_{noun}": str(times.max()),
            "seconds": seconds}


def _preview(frame: pd.DataFrame, drop: list[str]) -> dg.MetadataValue | str:
    if frame.empty:
        return "no rows (market closed)"
    head = frame.groupby("symbol").head(3).drop(columns=drop)
    return dg.MetadataValue.md(head.to_markdown(index=False))


def _ticks_result(context: dg.AssetExecutionContext, done: AuditedBackfill,
                  seconds: float) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    run, audit = done.run, done.ticks
    failed = [f.error for f in run.failed_hours]  # each names its symbol and hour
    checks = [
        dg.AssetCheckResult(asset_key="ticks", check_name="no_crossed_quotes",
                            passed=audit.crossed == 0, metadata={"crossed": audit.crossed}),
        dg.AssetCheckResult(asset_key="ticks", check_name="no_duplicate_keys",
                            passed=audit.duplicates == 0,
                            metadata={"duplicates": audit.duplicates}),
    ]
    metadata = {**_write_metadata(run.ticks, run.tick_frame, noun="tick", source=run.source,
                                  seconds=seconds),
                "window_start": start.isoformat(), "window_end": end.isoformat(),
                "failed_hours": len(failed), "failed_hour_list": failed,
                "preview": _preview(run.tick_frame, ["seq", "available_at"])}
    return dg.MaterializeResult(asset_key="ticks", metadata=metadata,
                                check_results=_selected_checks(context, "ticks", checks))


def _ohlcv_result(context: dg.AssetExecutionContext, market: MarketResource,
                  done: AuditedBackfill, seconds: float,
                  cache_refreshed: int) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    run, gaps = done.run, done.bars.gaps
    worst = max((g.largest_gap_minutes for g in gaps.values()), default=0)
    bad_ohlc, dupes = done.bars.ohlc_violations, done.bars.duplicates
    checks = [
        dg.AssetCheckResult(
            asset_key="ohlcv", check_name="no_gaps_in_trading_hours",
            passed=worst <= MAX_GAP_MINUTES,
            metadata={"largest_gap_minutes": worst,
                      **{f"missing_minutes_{s}": g.missing_minutes for s, g in gaps.items()}},
        ),
        dg.AssetCheckResult(asset_key="ohlcv", check_name="ohlc_consistent",
                            passed=bad_ohlc == 0, metadata={"violations": bad_ohlc}),
        dg.AssetCheckResult(asset_key="ohlcv", check_name="no_duplicate_keys",
                            passed=dupes == 0, metadata={"duplicates": dupes}),
    ]
    metadata = {**_write_metadata(run.bars, run.bar_frame, noun="bar", source=run.source,
                                  seconds=seconds),
                "symbols": list(market.symbols), "window_start": start.isoformat(),
                "window_end": end.isoformat(), "failed_hours": len(run.failed_hours),
                "cache_keys_refreshed": cache_refreshed,
                "preview": _preview(run.bar_frame, ["source"])}
    return dg.MaterializeResult(asset_key="ohlcv", metadata=metadata,
                                check_results=_selected_checks(context, "ohlcv", checks))


@dg.multi_asset(
    op_tags=work_tags("io"),
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
    for name, window in refresh_summaries(database.db, start, end).items():
        yield dg.MaterializeResult(asset_key=name, metadata={
            "rows_in_window": window.rows, "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat(),
        })
