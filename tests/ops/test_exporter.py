"""`underdog metrics serve`: a real process scraped over HTTP, numbers read at scrape time.

The runs that wrote the data are over (in-process runs of this test, on a Dagster instance of
its own) before the exporter starts: what it serves comes from PostgreSQL, Redis and the
instance's event log, not from any process that stayed alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REDIS_URL
from tests.helpers import free_port
from tests.ops.stores import all_fresh, put_dead_letter, put_vectors
from underdog.ops.metrics import agent_metrics
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache
from underdog_assets.definitions import defs

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as found:
        yield found


@pytest.fixture
def exporter(ops_env: str, dagster_env: None, instance: dg.DagsterInstance,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, subprocess.Popen]]:
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", ops_env)
    port = free_port()
    env = {**os.environ, "UNDERDOG_METRICS_PORT": str(port), "UNDERDOG_LOG_FORMAT": "json",
           "UNDERDOG_LOG_LEVEL": "INFO"}
    yield port, env  # started by the test once its data is in place


def start(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    underdog = str(Path(sys.executable).with_name("underdog"))
    return subprocess.Popen([underdog, "metrics", "serve"], env=env, cwd=cwd,
                            stderr=subprocess.PIPE, text=True)


def wait_up(port: int, proc: subprocess.Popen) -> Samples:
    deadline = time.monotonic() + 60
    while True:
        try:
            return scrape(port)
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the exporter did not come up"
            time.sleep(0.2)


def test_the_exporter_serves_stores_and_finished_runs(exporter, db: Database, ops_env: str,
                                                      instance: dg.DagsterInstance,
                                                      tmp_path: Path) -> None:
    port, env = exporter
    now = datetime.now(UTC)
    all_fresh(db, now)
    with db.connection() as conn, conn.transaction():
        conn.execute("DELETE FROM underdog.state_vectors WHERE symbol = 'GBPUSD'")
    put_vectors(db, now - timedelta(days=30), symbols=["GBPUSD"])
    put_dead_letter(db, "dukascopy", "ticks")
    cache = LatestCache.from_url(REDIS_URL, prefix=ops_env)
    cache.put("stream", "heartbeat", {"time": now, "running": True, "lag_s": 0.25,
                                      "msgs_per_s": 120.0, "protocol": "mql5"})
    cache.put("state", "EURUSD", {"time": now, "available_at": now - timedelta(seconds=30)})
    job = defs().resolve_job_def("market_daily")
    assert job.execute_in_process(partition_key="2024-03-05", instance=instance).success

    proc = start(env, tmp_path)
    try:
        first = wait_up(port, proc)
        assert value(first, "underdog_up", component="database") == 1.0
        assert value(first, "underdog_up", component="redis") == 1.0
        assert value(first, "underdog_dagster_up") == 1.0
        assert value(first, "underdog_feed_stale", table="state_vectors") == 1.0
        assert value(first, "underdog_feed_stale", table="ohlcv") == 0.0
        lag = value(first, "underdog_feed_lag_seconds", table="state_vectors", key="GBPUSD")
        assert lag > 20 * 86400  # open-market time of 30 days: more than 20 days
        assert value(first, "underdog_feature_age_seconds", symbol="GBPUSD",
                     path="offline") > 29 * 86400
        assert 29 < value(first, "underdog_feature_age_seconds", symbol="EURUSD",
                          path="online") < 600
        assert value(first, "underdog_dead_letters_24h", source="dukascopy", table="ticks") == 1
        assert value(first, "underdog_health_problems") == 1.0
        assert value(first, "underdog_stream_heartbeat_lag_seconds") == 0.25
        assert value(first, "underdog_redis_keyspace_hits_total") > 0
        # The market run of 2024-03-05 wrote 2 symbols x 1440 bars (in-process, already over).
        assert value(first, "underdog_ingest_rows_total", asset="ohlcv",
                     source="simulated") == 2880
        assert value(first, "underdog_ingest_duration_seconds_count", asset="ohlcv",
                     source="simulated") == 1
        assert value(first, "underdog_ingest_materializations_total", asset="ohlcv_1d") == 1
        assert value(first, "underdog_asset_last_materialization_timestamp_seconds",
                     asset="ohlcv") > now.timestamp() - 600

        # More runs and an evaluation later, the same process counts only what is new; a run
        # over two partitions (two events with the run's figures) counts once.
        assert job.execute_in_process(instance=instance, tags={
            "dagster/asset_partition_range_start": "2024-03-06",
            "dagster/asset_partition_range_end": "2024-03-07"}).success
        instance.report_runless_asset_event(dg.AssetMaterialization(
            "td3_evaluation", metadata=agent_metrics("v7", "2024-03-11..2024-03-12",
                                                     total_return=0.0125, sharpe=1.5,
                                                     max_drawdown=0.02)))
        instance.report_runless_asset_event(dg.AssetMaterialization(  # one row per policy
            "td3_policy", metadata={"agent_metrics": [
                agent_metrics(f"{s}-abc", "2024-03-10", train_steps_per_second=n)
                for s, n in (("EURUSD", 410.0), ("GBPUSD", 395.5))]}))
        second = scrape(port)
        assert value(second, "underdog_ingest_rows_total", asset="ohlcv",
                     source="simulated") == 3 * 2880
        assert value(second, "underdog_ingest_materializations_total", asset="ohlcv") == 3
        assert value(second, "underdog_ingest_duration_seconds_count", asset="ohlcv",
                     source="simulated") == 2
        labels = {"policy_version": "v7", "window": "2024-03-11..2024-03-12"}
        assert value(second, "underdog_agent_eval_total_return", **labels) == 0.0125
        assert value(second, "underdog_agent_eval_sharpe", **labels) == 1.5
        assert value(second, "underdog_agent_eval_max_drawdown", **labels) == 0.02
        assert value(second, "underdog_agent_train_steps_per_second",
                     policy_version="GBPUSD-abc", window="2024-03-10") == 395.5
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert '"message": "metrics on http://127.0.0.1:' in stderr  # structured lines


def test_a_database_outage_is_a_metric_not_a_crash(exporter, tmp_path: Path) -> None:
    port, env = exporter
    env = {**env, "UNDERDOG_DATABASE_URL": f"postgresql://postgres:pw-x1@127.0.0.1:"
                                           f"{free_port()}/x"}
    proc = start({**env, "DAGSTER_HOME": ""}, tmp_path)
    try:
        samples = wait_up(port, proc)
        assert value(samples, "underdog_up", component="database") == 0.0
        assert ("underdog_feed_stale", (("table", "ohlcv"),)) not in samples
        assert value(scrape(port), "underdog_up", component="database") == 0.0  # still serving
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "pw-x1" not in stderr and "not reachable" in stderr


def test_agent_metrics_set_the_gauges_and_name_unknown_ones() -> None:
    from underdog.ops.metrics import AGENT_GAUGES

    row = agent_metrics("v9", "w", sharpe=2.0, total_return=None)
    assert row == {"policy_version": "v9", "window": "w", "sharpe": 2.0}
    assert AGENT_GAUGES["sharpe"].labels(policy_version="v9", window="w")._value.get() == 2.0
    with pytest.raises(ValueError, match="unknown agent metrics: \\['sortino'\\]"):
        agent_metrics("v9", "w", sortino=1.0)
