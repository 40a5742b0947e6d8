"""The macro job and its end-of-day schedule (`underdog.ops.cadences.MACRO_DAILY`: 00:30
UTC, yesterday's UTC partition).

00:30 UTC is 19:30 New York time in winter (EST) and 20:30 in summer (EDT): after the 16:00
US close, and between the market job (00:15) and the features job (00:45), which reads
macro_indicators. Releases that come later are caught by `fred_release_sensor`.
"""

import dagster as dg

from underdog.ops.cadences import MACRO_DAILY
from underdog_assets.defs.common.jobs import daily_schedule
from underdog_assets.defs.common.partitions import DAILY

macro_daily = dg.define_asset_job(
    MACRO_DAILY.job,
    selection=dg.AssetSelection.groups("macro"),
    partitions_def=DAILY,
    description="FRED vintages and insider filings published on one UTC day.",
)

macro_eod_schedule = daily_schedule(
    macro_daily, MACRO_DAILY, name="macro_eod_schedule",
    description="After the US close (00:30 UTC = 19:30 EST / 20:30 EDT): the day just ended.",
)
