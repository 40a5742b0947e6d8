"""`underdog demo`: materialize the asset graph for a few days on the instance's storage.

Runs go through the Dagster instance of DAGSTER_HOME (PostgreSQL storage), so `make ui`
shows them, with their materializations and check results, on the asset pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from underdog_assets.definitions import defs

# Market history for the regime model's 30-day fit, in one run over the whole range; then
# the features of the last days (Sunday's two hours, Monday, Tuesday), one run per day.
MARKET_RANGE = ("2024-02-01", "2024-03-12")
FEATURE_DAYS = ("2024-03-10", "2024-03-11", "2024-03-12")
# The summary is printed at the end; the step-by-step log is in the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class DemoRun:
    job: str
    partition: str
    success: bool
    run_id: str
    checks: dict[str, bool] = field(default_factory=dict)


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, label: str,
         **kwargs: object) -> DemoRun:
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET,
                                    **kwargs)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    return DemoRun(job.name, label, result.success, result.run_id, checks)


def run_demo() -> list[DemoRun]:
    instance = dg.DagsterInstance.get()
    definitions = defs()
    first, last = MARKET_RANGE
    runs = [_run(definitions.resolve_job_def("market_daily"), instance, f"{first}...{last}",
                 tags={"dagster/asset_partition_range_start": first,
                       "dagster/asset_partition_range_end": last})]
    features = definitions.resolve_job_def("features_daily")
    runs += [_run(features, instance, day, partition_key=day) for day in FEATURE_DAYS]
    return runs
