"""A backfill of ohlcv and state_vectors on two Celery workers, each its own host.

The same days are backfilled in this process (execute_in_process) in a second database;
the rows must be equal. One test kills a worker (SIGKILL, its whole process group) while it
runs a step: the step goes back to the queue (acks late), the other worker runs it, and every
run still succeeds with the same rows.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REDIS_URL, RUN, fresh_dsn, pause_timescale_jobs
from tests.helpers import delete_keys, table_checksum
from tests.scale.cluster import Worker, cluster_env, local_cluster, steps_by_worker
from underdog.store import migrate
from underdog.store.admin import drop_database
from underdog.store.db import Database
from underdog_assets.runs import RunOutcome, execute_many, job_named, partition_tags

DAYS = ("2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07")
HISTORY = (("2024-02-22", "2024-03-03"),)  # enough bars for the regime model (MIN_FIT_ROWS)
HOSTS = ("host1", "host2")
TABLES = ("ohlcv", "regime_predictions", "state_vectors")
RUN_TIMEOUT_S = 600  # the whole backfill; a lost step would hang it, not pass
# Bars first (the model's history, then the days); then the regime model and labels; then
# the vectors: each phase reads what the one before wrote, so its days run side by side.
DAILY = tuple((d, d) for d in DAYS)
PHASES = (("market_daily", ("ohlcv",), HISTORY + DAILY),
          ("features_daily", ("regime_model", "regime_predictions"), DAILY),
          ("features_daily", ("state_vectors",), DAILY))
STEPS = len(HISTORY) + len(DAYS) * 4  # market_data; regime_model, _predictions, vectors
SETTINGS = {"UNDERDOG_SYMBOLS": "EURUSD,GBPUSD", "UNDERDOG_CELERY_VISIBILITY_TIMEOUT_S": "15"}


def requests(phase: tuple) -> list[tuple[str, dict[str, str], tuple[str, ...]]]:
    job, assets, ranges = phase
    return [(job, partition_tags(*r), assets) for r in ranges]


def backfill(parallel: int) -> list[RunOutcome]:
    """Every phase over its partitions through the executor, `parallel` runs at a time."""
    return [outcome for phase in PHASES
            for outcome in execute_many(requests(phase), parallel=parallel,
                                        timeout_s=RUN_TIMEOUT_S)]


def checksums(dsn: str) -> dict[str, tuple[int, str]]:
    with Database(dsn) as db:
        return {t: table_checksum(db, t) for t in TABLES}


def fresh_store(tag: str) -> str:
    dsn = fresh_dsn(tag)
    migrate.upgrade(dsn)
    pause_timescale_jobs(dsn)
    return dsn


@pytest.fixture(scope="module")
def in_process_rows(redis_prefix: str) -> dict[str, tuple[int, str]]:
    """The backfill in this process, one step after the other: the rows to match."""
    dsn = fresh_store("scale_ref")
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("UNDERDOG_DATABASE_URL", dsn)
        mp.setenv("UNDERDOG_REDIS_URL", REDIS_URL)
        mp.setenv("UNDERDOG_REDIS_PREFIX", f"{redis_prefix}_ref")
        for name, value in SETTINGS.items():
            mp.setenv(name, value)
        for phase in PHASES:
            for job, tags, assets in requests(phase):
                result = job_named(job).execute_in_process(
                    instance=dg.DagsterInstance.ephemeral(), tags=tags,
                    asset_selection=[dg.AssetKey(a) for a in assets])
                assert result.success
        rows = checksums(dsn)
        assert all(count > 0 for count, _ in rows.values()), rows
        return rows
    finally:
        mp.undo()
        drop_database(dsn)
        delete_keys(REDIS_URL, f"{redis_prefix}_ref")


@pytest.fixture
def stores(redis_prefix: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A feature store and a Dagster storage of their own, and the cluster's environment."""
    name = tmp_path.name[-12:].lower().replace("-", "_")
    dsn, dagster_dsn = fresh_store(f"scale_{name}"), fresh_dsn(f"scale_{name}_dagster")
    env = cluster_env(dsn=dsn, dagster_dsn=dagster_dsn, redis_url=REDIS_URL,
                      prefix=f"{redis_prefix}_{RUN}_{name}", home=tmp_path / "dagster_home",
                      extra=SETTINGS)
    try:
        yield dsn, env
    finally:
        drop_database(dagster_dsn)
        drop_database(dsn)


def test_a_backfill_on_two_workers_runs_on_both_and_writes_the_same_rows(
        stores: tuple[str, dict[str, str]], in_process_rows: dict, tmp_path: Path) -> None:
    dsn, env = stores
    with local_cluster(tmp_path / "dagster_home", env, hosts=HOSTS, pool_limit=2) as (
            _, instance):
        outcomes = backfill(parallel=2)
        ran_on = steps_by_worker(instance, [o.run_id for o in outcomes])
    assert all(o.success for o in outcomes), outcomes
    assert {worker for _, worker in ran_on} == {f"underdog@{h}" for h in HOSTS}
    assert len(ran_on) == STEPS
    assert checksums(dsn) == in_process_rows


def test_a_worker_killed_in_a_step_loses_nothing(
        stores: tuple[str, dict[str, str]], in_process_rows: dict, tmp_path: Path) -> None:
    dsn, env = stores
    with local_cluster(tmp_path / "dagster_home", env, hosts=HOSTS, pool_limit=2) as (
            cluster, instance), ThreadPoolExecutor(1) as background:
        victim = cluster.workers[0]
        running = background.submit(backfill, 2)
        killed_in = kill_in_a_step(instance, victim, running.done)
        outcomes = running.result(timeout=RUN_TIMEOUT_S)
        ran_on = steps_by_worker(instance, [o.run_id for o in outcomes])
    assert killed_in is not None, "the victim never began a step"
    assert all(o.success for o in outcomes), outcomes
    # The step the victim died in began again, on the other worker, and ended there.
    assert (killed_in, victim.name) in ran_on
    assert (killed_in, cluster.workers[1].name) in ran_on
    assert checksums(dsn) == in_process_rows


def kill_in_a_step(instance: dg.DagsterInstance, victim: Worker,
                   finished: Callable[[], bool]) -> str | None:
    """SIGKILL `victim` in the middle of a step: frozen (SIGSTOP) once it has begun one, and
    killed if that step has still not ended (else thawed, and the next step is tried)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not finished() and time.monotonic() < deadline:
        for run_id, step in begun_by(instance, victim.name) - ended(instance):
            os.killpg(victim.process.pid, signal.SIGSTOP)
            if (run_id, step) not in ended(instance):
                victim.kill()
                return step
            os.killpg(victim.process.pid, signal.SIGCONT)
        time.sleep(0.2)
    return None


def begun_by(instance: dg.DagsterInstance, worker: str) -> set[tuple[str, str]]:
    return {(record.run_id, record.step_key)
            for run in instance.get_runs()
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if (data := record.dagster_event.engine_event_data)
            and (name := data.metadata.get("Celery worker")) is not None
            and name.value == worker}


def ended(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    kinds = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    return {(record.run_id, record.step_key) for run in instance.get_runs()
            for record in instance.all_logs(run.run_id, of_type=kinds)}
