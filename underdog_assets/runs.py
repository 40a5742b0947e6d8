"""Runs of the code location's jobs through its executor (UNDERDOG_EXECUTOR), from Python.

`execute_in_process` always runs every step in the calling process; these runs go through
the job's own executor (multiprocess, celery, k8s), so the steps of `underdog demo`,
bench/scale.py and tests/scale run where the setting says. The job is rebuilt on the other
side (a step subprocess, a Celery worker) from `job_named` below.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import dagster as dg

PARTITION = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class RunOutcome:
    job: str
    run_id: str
    success: bool


def job_named(name: str) -> dg.JobDefinition:
    """The code location's job `name` (what workers call to rebuild it, at every step)."""
    settings = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("UNDERDOG_")))
    return _definitions(settings).resolve_job_def(name)


@lru_cache(maxsize=4)
def _definitions(settings: tuple[tuple[str, str], ...]) -> dg.Definitions:
    """The code location built once per process and settings (they are read at load time):
    a worker's steps skip rebuilding it, seconds each on a busy host."""
    from underdog_assets.definitions import defs

    return defs()


def reconstructable_job(name: str):
    return dg.build_reconstructable_job("underdog_assets.runs", "job_named", (name,))


def partition_tags(first: str, last: str | None = None) -> dict[str, str]:
    """The tags of a run over one partition, or over the range first..last."""
    if last is None or last == first:
        return {PARTITION: first}
    return {RANGE_START: first, RANGE_END: last}


def execute(name: str, instance: dg.DagsterInstance | None = None, *,
            tags: Mapping[str, str], run_config: Mapping | None = None,
            asset_selection: Sequence[dg.AssetKey] | None = None) -> RunOutcome:
    """Run job `name` to its end on `instance` (persistent: the workers read the run), by
    default DAGSTER_HOME's, opened for this run alone: an instance's connection pool is not
    for several threads, so runs side by side in threads each leave `instance` unset."""
    if instance is None:
        with dg.DagsterInstance.get() as own:
            return execute(name, own, tags=tags, run_config=run_config,
                           asset_selection=asset_selection)
    with dg.execute_job(reconstructable_job(name), instance, run_config=run_config,
                        tags=dict(tags), asset_selection=asset_selection) as result:
        return RunOutcome(name, result.run_id, result.success)


def _execute_keys(name: str, tags: Mapping[str, str], keys: Sequence[str]) -> RunOutcome:
    return execute(name, tags=tags, asset_selection=[dg.AssetKey(k) for k in keys] or None)


def execute_many(requests: Sequence[tuple[str, Mapping[str, str], Sequence[str]]], *,
                 parallel: int, timeout_s: float | None = None) -> list[RunOutcome]:
    """Runs (job, tags, asset keys) side by side, `parallel` at a time, each in a process of
    its own: Dagster's logging setup and an instance's connections are not for threads."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(parallel, mp_context=context) as pool:
        futures = [pool.submit(_execute_keys, *request) for request in requests]
        return [future.result(timeout=timeout_s) for future in futures]
