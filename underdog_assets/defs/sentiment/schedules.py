"""The sentiment job and its 15-minute schedule over the day in progress."""

import dagster as dg

from underdog.ops.cadences import SENTIMENT_COLLECT
from underdog_assets.defs.sentiment.partitions import SENTIMENT_DAILY

sentiment_collect = dg.define_asset_job(
    SENTIMENT_COLLECT.job,
    selection=dg.AssetSelection.groups("sentiment"),
    description="Fetch news and posts, score them, publish the latest to Redis and refresh "
                "the hourly summary, for one UTC day (incremental: reruns add nothing twice).",
)


@dg.schedule(cron_schedule=SENTIMENT_COLLECT.cron, job=sentiment_collect, execution_timezone="UTC",
             description="Every 15 minutes: the current UTC day's partition.")
def sentiment_every_15_minutes(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tick = context.scheduled_execution_time
    day = SENTIMENT_DAILY.get_partition_key_for_timestamp(tick.timestamp())  # the open day
    # One run per tick: a retried tick (daemon restart) does not run twice.
    return dg.RunRequest(run_key=f"{day}@{tick:%Y-%m-%dT%H:%M}", partition_key=day)
