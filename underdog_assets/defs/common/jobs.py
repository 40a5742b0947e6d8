"""One daily job per asset group, with its schedule over yesterday's partition."""

import dagster as dg

from underdog_assets.defs.common.partitions import DAILY


def daily_group_job(group: str, description: str, *, hour: int, minute: int):
    """Job `<group>_daily` over the group's assets, run at hour:minute UTC for yesterday."""
    job = dg.define_asset_job(f"{group}_daily", selection=dg.AssetSelection.groups(group),
                              partitions_def=DAILY, description=description)
    return job, dg.build_schedule_from_partitioned_job(job, hour_of_day=hour,
                                                       minute_of_hour=minute)
