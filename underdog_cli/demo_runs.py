"""`underdog demo`: materialize the asset graph for a few days on the instance's storage.

Runs go through the Dagster instance of DAGSTER_HOME (PostgreSQL storage), so `make ui`
shows them, with their materializations and check results, on the asset pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from underdog.config import load_settings
from underdog.ops.cadences import (
    AGENT_TRAIN,
    FEATURES_DAILY,
    MACRO_DAILY,
    MARKET_DAILY,
    SENTIMENT_COLLECT,
)
from underdog_assets.definitions import defs
from underdog_assets.runs import PARTITION, reconstructable_job

# Bars for the regime model's 30-day fit, a week per run (bars and their summaries: the
# ticks of six weeks are 3M rows the demo does not need); then, for the last days (Sunday's
# two hours, Monday, Tuesday), ticks and bars and the features, one run per day.
HISTORY_WEEKS = (("2024-02-01", "2024-02-07"), ("2024-02-08", "2024-02-14"),
                 ("2024-02-15", "2024-02-21"), ("2024-02-22", "2024-02-28"),
                 ("2024-02-29", "2024-03-06"), ("2024-03-07", "2024-03-09"))
BARS_ONLY = [dg.AssetKey("ohlcv"), dg.AssetKey("ohlcv_1h"), dg.AssetKey("ohlcv_1d")]
FEATURE_DAYS = ("2024-03-10", "2024-03-11", "2024-03-12")
# Macro vintages (the shipped FRED-shaped fixture offline): every vintage published by then.
MACRO_RANGE = ("2024-01-01", "2024-03-15")
# News and posts (the shipped fixture offline), scored, for the state vector's sentiment.
SENTIMENT_RANGE = ("2024-03-08", "2024-03-12")
# The summary is printed at the end; the step-by-step log is in the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# TD3 on the feature days' vectors, on the market with the strong planted edge (`underdog
# demo` sets UNDERDOG_SIMULATOR_EDGE): one walk-forward fold, about a minute per symbol on 2
# cores; the closing table compares it with flat, buy-and-hold and the oracle.
AGENT_TIMESTEPS = 5_000
AGENT_FOLDS = 1
AGENT_SEED = "1"  # td3_policy's partition: a sweep over seeds is a backfill of the others


@dataclass
class DemoRun:
    job: str
    partition: str
    success: bool
    run_id: str
    checks: dict[str, bool] = field(default_factory=dict)
    evaluation: dict[str, object] = field(default_factory=dict)  # td3_evaluation's metadata


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, label: str,
         ops: dict | None = None, *, tags: dict[str, str] | None = None,
         partition_key: str | None = None,
         asset_selection: list[dg.AssetKey] | None = None) -> DemoRun:
    """One run: in this process, or where UNDERDOG_EXECUTOR sends its steps (celery, k8s)."""
    config = {**QUIET, "ops": ops} if ops else QUIET
    if load_settings().executor == "multiprocess":
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        run_config=config, tags=tags,
                                        partition_key=partition_key,
                                        asset_selection=asset_selection)
        return _outcome(job.name, label, result)
    tags = {**(tags or {}), **({PARTITION: partition_key} if partition_key else {})}
    with dg.execute_job(reconstructable_job(job.name), instance, run_config=config, tags=tags,
                        asset_selection=asset_selection) as result:
        return _outcome(job.name, label, result)


def _outcome(job: str, label: str, result: dg.ExecuteInProcessResult) -> DemoRun:
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    evaluation = {k: v.value for m in result.get_asset_materialization_events()
                  if m.asset_key == dg.AssetKey("td3_evaluation")
                  for k, v in m.materialization.metadata.items()}
    return DemoRun(job, label, result.success, result.run_id, checks, evaluation)


def run_demo() -> list[DemoRun]:
    instance = dg.DagsterInstance.get()
    definitions = defs()
    market = definitions.resolve_job_def(MARKET_DAILY.job)
    features = definitions.resolve_job_def(FEATURES_DAILY.job)
    runs = [_run(market, instance, f"{first}...{last} (bars)", asset_selection=BARS_ONLY,
                 tags={"dagster/asset_partition_range_start": first,
                       "dagster/asset_partition_range_end": last})
            for first, last in HISTORY_WEEKS]
    for job, (first, last) in ((MACRO_DAILY.job, MACRO_RANGE),
                                (SENTIMENT_COLLECT.job, SENTIMENT_RANGE)):
        runs.append(_run(definitions.resolve_job_def(job), instance, f"{first}...{last}",
                         tags={"dagster/asset_partition_range_start": first,
                               "dagster/asset_partition_range_end": last}))
    for day in FEATURE_DAYS:
        runs.append(_run(market, instance, day, partition_key=day))
        runs.append(_run(features, instance, day, partition_key=day))
    runs.append(_run(definitions.resolve_job_def(AGENT_TRAIN.job), instance,
                     f"seed {AGENT_SEED}, every vector", partition_key=AGENT_SEED,
                     ops={"td3_policy": {"config": {"timesteps": AGENT_TIMESTEPS,
                                                    "folds": AGENT_FOLDS}}}))
    return runs
