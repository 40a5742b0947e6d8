"""The features job and its daily schedule (yesterday's partition, 00:45 UTC, after market)."""

import dagster as dg

from underdog_assets.lib.partitions import DAILY

features_daily = dg.define_asset_job(
    "features_daily",
    selection=dg.AssetSelection.groups("features"),
    partitions_def=DAILY,
    description="Regime model, regime labels and state vectors for one UTC day.",
)

features_daily_schedule = dg.build_schedule_from_partitioned_job(
    features_daily, hour_of_day=0, minute_of_hour=45
)
