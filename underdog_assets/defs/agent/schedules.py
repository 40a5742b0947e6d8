"""The agent job and its weekly retraining (Sunday 02:00 UTC, while the FX market is shut)."""

import dagster as dg

agent_train = dg.define_asset_job(
    "agent_train",
    selection=dg.AssetSelection.groups("agent"),
    description="Train the TD3 policy per symbol on the stored state vectors, evaluate it on "
                "its test window into the ledger tables, refresh the daily trading summary.",
)

agent_train_schedule = dg.ScheduleDefinition(
    job=agent_train, cron_schedule="0 2 * * 0", execution_timezone="UTC",
    description="Weekly: retrain and re-evaluate on everything stored by then.",
)
