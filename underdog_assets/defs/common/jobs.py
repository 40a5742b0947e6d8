"""One daily job per asset group, with its schedule over yesterday's partition."""

from __future__ import annotations

import dagster as dg

from underdog.ops.cadences import Cadence
from underdog_assets.defs.common.partitions import DAILY


def daily_schedule(job: dg.UnresolvedAssetJobDefinition, cadence: Cadence,
                   **kwargs) -> dg.ScheduleDefinition:
    """`job` over yesterday's partition at the cadence's daily hour:minute UTC."""
    hour, minute = cadence.daily_at
    return dg.build_schedule_from_partitioned_job(job, hour_of_day=hour, minute_of_hour=minute,
                                                  **kwargs)


def daily_group_job(group: str, description: str, cadence: Cadence):
    """Job `cadence.job` over the group's assets, on the cadence's daily schedule."""
    job = dg.define_asset_job(cadence.job, selection=dg.AssetSelection.groups(group),
                              partitions_def=DAILY, description=description)
    return job, daily_schedule(job, cadence)
