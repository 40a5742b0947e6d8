"""Partitions shared by every domain: one per UTC day."""

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")

# A backfill of many days runs a week per run: one window, one transaction per table.
WEEKLY_BATCHES = dg.BackfillPolicy.multi_run(max_partitions_per_run=7)
