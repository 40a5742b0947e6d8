"""The agent job and its weekly retraining (`underdog.ops.cadences.AGENT_TRAIN`: Sunday 02:00
UTC, while the FX market is shut)."""

import dagster as dg

from underdog.ops.cadences import AGENT_TRAIN

agent_train = dg.define_asset_job(
    AGENT_TRAIN.job,
    selection=dg.AssetSelection.groups("agent"),  # partitioned by seed: td3_* are
    description="Train the TD3 policies of one seed (the partition) per symbol and fold on the "
                "stored state vectors, evaluate each on its test window into the ledger "
                "tables, refresh the daily trading summary. A sweep: backfill the seeds.",
)

WEEKLY_SEEDS = ("1", "2", "3")  # of td3_policy's SEEDS partitions


@dg.schedule(job=agent_train, cron_schedule=AGENT_TRAIN.cron, execution_timezone="UTC",
             description="Weekly: retrain and re-evaluate seeds 1-3 on everything stored.")
def agent_train_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    stamp = context.scheduled_execution_time.isoformat()
    return [dg.RunRequest(run_key=f"{stamp}:{seed}", partition_key=seed)
            for seed in WEEKLY_SEEDS]
