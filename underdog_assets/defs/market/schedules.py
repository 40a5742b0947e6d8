"""The market job and its daily schedule (yesterday's partition, 00:15 UTC)."""

from underdog.ops.cadences import MARKET_DAILY
from underdog_assets.defs.common.jobs import daily_group_job

market_daily, market_daily_schedule = daily_group_job(
    "market", "Ticks, M1 bars and their summaries for one UTC day.", MARKET_DAILY
)
