"""`underdog demo`: materialize the asset graph for a few days on the instance's storage.

Runs go through the Dagster instance of DAGSTER_HOME (PostgreSQL storage), so `make ui`
shows them, with their materializations and check results, on the asset pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from underdog_assets.definitions import defs

# The demo's days: a Thursday to a Tuesday, so the summary shows a weekend gap.
DEMO_DAYS = ("2024-03-07", "2024-03-08", "2024-03-09", "2024-03-10", "2024-03-11", "2024-03-12")
DEMO_JOBS = ("market_daily",)
# The summary is printed at the end; the step-by-step log is in the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class DemoRun:
    job: str
    partition: str
    success: bool
    run_id: str
    checks: dict[str, bool] = field(default_factory=dict)


def run_demo(partitions: tuple[str, ...] = DEMO_DAYS) -> list[DemoRun]:
    instance = dg.DagsterInstance.get()
    definitions = defs()
    out = []
    for name in DEMO_JOBS:
        job = definitions.resolve_job_def(name)
        for key in partitions:
            result = job.execute_in_process(partition_key=key, instance=instance,
                                            raise_on_error=False, run_config=QUIET)
            checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
            out.append(DemoRun(name, key, result.success, result.run_id, checks))
    return out
