"""The market job and its daily schedule (yesterday's partition, 00:15 UTC)."""

import dagster as dg

from underdog_assets.lib.partitions import DAILY

market_daily = dg.define_asset_job(
    "market_daily",
    selection=dg.AssetSelection.groups("market"),
    partitions_def=DAILY,
    description="M1 bars and their summaries for one UTC day.",
)

market_daily_schedule = dg.build_schedule_from_partitioned_job(
    market_daily, hour_of_day=0, minute_of_hour=15
)
