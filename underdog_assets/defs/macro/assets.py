"""Macro and fundamentals: FRED vintages (macro_indicators) and insider filings."""

import time
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from underdog.insider.transactions import InsiderRun
from underdog.insider.transactions import fetch_and_write as fetch_insider
from underdog.macro.vintages import (
    MacroFetchError,
    MacroRun,
    WindowAudit,
    audit_window,
)
from underdog.macro.vintages import fetch_and_write as fetch_macro
from underdog_assets.defs.common.executors import work_tags
from underdog_assets.defs.common.partitions import DAILY
from underdog_assets.defs.common.resources import (
    DatabaseResource,
    InsiderResource,
    MacroResource,
    RedisResource,
)

OWNERS = ["team:macro-data"]
SINGLE_RUN = dg.BackfillPolicy.single_run()  # one fetch serves any window: one run per backfill

MACRO_CHECKS = [
    dg.AssetCheckSpec(
        "series_fresh", asset="macro_indicators",
        description="Per series: the newest observation published before the window's end is "
                    "at most 7 days old (daily series; weekly 14, monthly 80, quarterly 200)."),
    dg.AssetCheckSpec(
        "vintages_ordered", asset="macro_indicators",
        description="Per series and observation: vintages start on increasing days and do "
                    "not overlap (each ends before the next starts; only the last is open)."),
]


class MacroConfig(dg.Config):
    series: list[str] = []  # only these series (the release sensor's runs); empty: all


@dg.asset(
    op_tags=work_tags("io"),
    partitions_def=DAILY, backfill_policy=SINGLE_RUN, group_name="macro",
    kinds={"timescale", "redis"}, owners=OWNERS, pool="fred",
    check_specs=MACRO_CHECKS,
    description="FRED series (UNDERDOG_FRED_SERIES) with every ALFRED vintage: one row per "
                "observation and realtime_start, value NULL where FRED says '.'. A vintage is "
                "available at the end of its publication day, US Eastern (the next midnight in "
                "New York). A partition holds the vintages published on its day(s) (the first "
                "one also everything earlier); the latest value per series goes to Redis. "
                "Source: FRED with UNDERDOG_FRED_API_KEY, else the bundled fixture.",
)
def macro_indicators(context: dg.AssetExecutionContext, config: MacroConfig,
                     database: DatabaseResource, cache: RedisResource,
                     macro: MacroResource) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    first = None if start <= DAILY.start else start.date()
    source, label = macro.vintage_source()
    began = time.perf_counter()
    run = fetch_macro(database.db, config.series or list(macro.series), first, end.date(),
                      source=source, label=label, cache=cache.cache(database))
    if run.errors:
        raise MacroFetchError(f"{len(run.errors)} series failed ({run.written} rows of the "
                              f"others written): {run.errors}")
    seconds = round(time.perf_counter() - began, 3)
    if run.skipped:
        context.log.warning(f"macro_indicators: {run.source}")
    found = audit_window(database.db, run, end)
    return dg.MaterializeResult(metadata=_macro_metadata(run, found, start, end, seconds),
                                check_results=_macro_checks(found))


def _macro_metadata(run: MacroRun, found: WindowAudit, start: datetime, end: datetime,
                    seconds: float) -> dict[str, object]:
    table = pd.DataFrame([{
        "series": s.series_id, "rows": s.written, "revisions": s.revisions, "missing": s.missing,
        "observations": f"{s.first_observation} .. {s.last_observation}",
        "last_updated": s.last_updated, "cached": s.cached,
    } for s in run.series])
    return {
        "source": run.source, "skipped": run.skipped,
        "window_start": start.isoformat(), "window_end": end.isoformat(),
        "published_from": run.first.isoformat() if run.first else "the beginning",
        "rows_written": run.written, "rows_rejected": sum(s.rejected for s in run.series),
        "revisions": sum(s.revisions for s in run.series),
        "not_in_source": run.not_in_source, "seconds": seconds,
        "series": dg.MetadataValue.md(table.to_markdown(index=False)) if len(table) else "none",
        "known_at_window_end": _preview(found.known),
    }


def _preview(known: list[dict]) -> dg.MetadataValue | str:
    """Per series, the value a model could use at the window's end."""
    rows = [{"series": row["series_id"], "value": row["value"],
             "observation": row["time"].date().isoformat(),
             "vintage": row["realtime_start"].isoformat(),
             "available_at": row["available_at"].astimezone(UTC).isoformat()} for row in known]
    return dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False)) if rows else "none"


def _macro_checks(found: WindowAudit) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            check_name="series_fresh", passed=all(f.fresh for f in found.fresh),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={f.series_id: f"newest {f.newest_observation or 'none'}, "
                                   f"{f.age_days} days old (max {f.max_age_days})"
                      for f in found.fresh}),
        dg.AssetCheckResult(
            check_name="vintages_ordered", passed=not found.overlaps,
            metadata={"series_checked": found.series,
                      "overlapping_vintages": found.overlaps}),
    ]


@dg.asset(
    op_tags=work_tags("io"),
    partitions_def=DAILY, backfill_policy=SINGLE_RUN, group_name="macro",
    kinds={"postgres"}, owners=OWNERS, pool="sec_edgar",
    description="Insider transactions (Form 4 / 4/A) of the issuers in UNDERDOG_EDGAR_CIKS "
                "(CIKs or tickers) from SEC EDGAR, one row per non-derivative and derivative "
                "transaction, available when the filing was accepted (read as New York time). "
                "A partition holds the filings accepted on its day(s). With "
                "UNDERDOG_ALPHAVANTAGE_API_KEY, Alpha Vantage's trades of the tickers too, "
                "stamped when first seen (latest partition only).",
)
def insider_transactions(context: dg.AssetExecutionContext, database: DatabaseResource,
                         insider: InsiderResource) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    edgar, edgar_note = insider.edgar_client()
    alphavantage, alphavantage_note = insider.alphavantage_client()
    began = time.perf_counter()
    run = fetch_insider(database.db, list(insider.issuers), start, end, edgar=edgar,
                        alphavantage=alphavantage, now=datetime.now(UTC),
                        edgar_note=edgar_note, alphavantage_note=alphavantage_note)
    for note in (run.edgar, run.alphavantage):
        if note.startswith("skipped"):
            context.log.info(f"insider_transactions: {note}")
    return dg.MaterializeResult(metadata=_insider_metadata(run, start, end,
                                                           time.perf_counter() - began))


def _insider_metadata(run: InsiderRun, start: datetime, end: datetime,
                      seconds: float) -> dict[str, object]:
    result = run.result
    preview = run.rows.drop(columns=["available_at"]).head(10)
    return {
        "edgar": run.edgar, "alphavantage": run.alphavantage,
        "window_start": start.isoformat(), "window_end": end.isoformat(),
        "filings": run.filings, "failed_filings": run.failed, "unknown_tickers": run.unknown,
        "rows_written": result.written if result else 0,
        "rows_rejected": result.rejected if result else 0,
        "rejected_reasons": result.reasons if result else {}, "seconds": round(seconds, 3),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)) if len(preview)
        else "no rows",
    }
