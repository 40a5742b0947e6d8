"""The features job and its daily schedule (yesterday's partition, 00:45 UTC, after market)."""

from underdog.ops.cadences import FEATURES_DAILY
from underdog_assets.defs.common.jobs import daily_group_job

features_daily, features_daily_schedule = daily_group_job(
    "features", "Regime model, regime labels and state vectors for one UTC day.",
    FEATURES_DAILY,
)
