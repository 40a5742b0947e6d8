"""Code location `underdog_monitoring`: the freshness of every table, as Dagster sees it.

Asset `table_freshness` (group `monitoring`) is materialized every 15 minutes (job
`freshness_checks`): it evaluates `underdog.ops.freshness` (newest fact per key against the
allowed lag, UNDERDOG_FRESHNESS_MAX_LAG applied) and reports one asset check per scheduled
table, named after the table, so the checks, `underdog health` and the exporter's
`underdog_feed_stale` give the same verdict. Its metadata is the table `underdog health`
prints.

Why not a check on each table's own asset: Dagster runs every check of an asset with the asset
(in the data jobs and from the UI's Materialize button), and freshness is about now, not
about the partition a run writes: a backfill of March 2024 would fail because March 2024 is
old. A check on a table's asset from another code location breaks the Materialize button
(Dagster cannot put it in the run). So the checks live here, on an asset of their own.
"""

import dagster as dg
import pandas as pd

from underdog.config import load_settings
from underdog.ops.cadences import FRESHNESS_CHECKS
from underdog.ops.freshness import CHECKED, Feed, FeedStatus, evaluate_all, format_duration
from underdog_assets.defs.common.resources import DatabaseResource
from underdog_assets.defs.ops.loggers import console

ASSET = "table_freshness"


def _describe(feed: Feed) -> str:
    lag = format_duration(feed.max_lag.total_seconds()) if feed.max_lag else "-"
    hours = " of open FX market" if feed.market_hours else ""
    scope = ("every " + feed.key if feed.every_key else "the freshest " + feed.key) \
        if feed.key else "the table"
    return (f"{feed.table}: the newest fact ({feed.known}) of {scope} became known at most "
            f"{lag}{hours} ago (written by {feed.writer}, {feed.schedule} UTC).")


def _when(status: FeedStatus) -> str:
    return status.newest.strftime("%Y-%m-%d %H:%M") if status.newest else "-"


def _table(found: list[FeedStatus]) -> str:
    return pd.DataFrame([{
        "table": f.table, "status": f.status, "last update (UTC)": _when(f),
        "lag": format_duration(f.lag_s),
        "allowed": format_duration(f.threshold.max_lag.total_seconds())
        if f.threshold.max_lag else "-", "rows today": f.rows_today, "detail": f.detail,
    } for f in found]).to_markdown(index=False)


@dg.asset(
    name=ASSET, group_name="monitoring", kinds={"postgres"}, owners=["team:platform"],
    check_specs=[dg.AssetCheckSpec(f.table, asset=ASSET, description=_describe(f))
                 for f in CHECKED],
    description="Freshness of every table against its schedule, now: one check per scheduled "
                "table (same verdict as `underdog health` and the exporter's "
                "underdog_feed_stale; UNDERDOG_FRESHNESS_MAX_LAG overrides the allowances).",
)
def table_freshness(database: DatabaseResource) -> dg.MaterializeResult:
    with database.db.reader() as conn:
        found = evaluate_all(conn, load_settings())
    by_table = {f.table: f for f in found}
    checks = []
    for feed in CHECKED:
        status = by_table[feed.table]
        limit = status.threshold.max_lag
        checks.append(dg.AssetCheckResult(check_name=feed.table, passed=not status.stale,
                                          metadata={
            "status": status.status, "detail": status.detail or "-",
            "newest_known": status.newest.isoformat() if status.newest else "none",
            "lag": format_duration(status.lag_s), "lag_seconds": status.lag_s,
            "max_lag_seconds": limit.total_seconds() if limit else None,
            "rows_today": status.rows_today,
            "by_key": {k.key or feed.table: format_duration(k.lag_s) for k in status.keys},
        }))
    return dg.MaterializeResult(metadata={
        "stale": [f.table for f in found if f.stale],
        "tables": dg.MetadataValue.md(_table(found)),
    }, check_results=checks)


freshness_checks = dg.define_asset_job(
    FRESHNESS_CHECKS.job, selection=[ASSET],
    description="Every table's freshness, now (as `underdog health`).")

freshness_every_15_minutes = dg.ScheduleDefinition(
    name="freshness_every_15_minutes", job=freshness_checks, cron_schedule=FRESHNESS_CHECKS.cron,
    execution_timezone="UTC", description="Freshness of every table, now.")


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[table_freshness], jobs=[freshness_checks],
        schedules=[freshness_every_15_minutes], loggers={"console": console},
        resources={"database": DatabaseResource(
            database_url=dg.EnvVar("UNDERDOG_DATABASE_URL"))},
    )
