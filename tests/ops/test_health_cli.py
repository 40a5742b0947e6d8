"""`underdog health`: the table, its exit codes, and what it reads from Redis and Dagster."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import free_port
from tests.ops.stores import all_fresh, put_dead_letter, put_ohlcv
from underdog.config import get_settings
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache
from underdog_assets.definitions import defs
from underdog_cli.app import app


def health(*args: str):
    get_settings.cache_clear()
    return CliRunner().invoke(app, ["health", *args])


def test_all_fresh_is_exit_0_with_every_table_listed(ops_env: str, db: Database) -> None:
    all_fresh(db, datetime.now(UTC))
    put_dead_letter(db, "simulated", "ohlcv")
    put_dead_letter(db, "newsapi", "sentiment_scores")
    result = health("--no-dagster")
    assert result.exit_code == 0, result.output
    compression = ("compression: no compressed chunks yet" if db.is_timescale
                   else "compression: none (plain PostgreSQL)")
    for name in ("ticks", "ohlcv", "sentiment_scores", "macro_indicators", "state_vectors",
                 "trades", "redis:", compression, "sources"):
        assert name in result.output
    report = json.loads(health("--json", "--no-dagster").stdout)
    feeds = {f["table"]: f for f in report["feeds"]}
    assert report["problems"] == [] and feeds["ohlcv"]["status"] == "ok"
    assert feeds["ohlcv"]["dead_letters_24h"] == 1 and feeds["ohlcv"]["rows_today"] >= 1
    assert feeds["quotes"]["status"] == "empty"  # the streamer is optional
    assert set(feeds["ohlcv"]["keys"]) == {"EURUSD", "GBPUSD"}
    assert report["redis"]["up"] and report["redis"]["hit_ratio"] is not None
    assert {"source": "newsapi", "table": "sentiment_scores", "rows": 1} in \
        report["dead_letters_24h"]


def test_stale_tables_are_exit_1_and_named(ops_env: str, db: Database) -> None:
    now = datetime.now(UTC)
    all_fresh(db, now)
    with db.connection() as conn, conn.transaction():
        conn.execute("DELETE FROM underdog.ohlcv WHERE symbol = 'GBPUSD'")
    put_ohlcv(db, now - timedelta(days=20), symbols=["GBPUSD"])
    result = health("--no-dagster")
    assert result.exit_code == 1
    assert "problem: ohlcv: stale (GBPUSD" in result.output
    assert "ticks: stale" not in result.output


def test_redis_down_and_a_silent_streamer_are_problems(ops_env: str, db: Database,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    all_fresh(db, now)
    cache = LatestCache.from_url(REDIS_URL, prefix=ops_env)
    cache.put("stream", "heartbeat", {"time": now - timedelta(minutes=5), "running": True,
                                      "lag_s": 0.2, "protocol": "mql5"})
    report = json.loads(health("--json", "--no-dagster").stdout)
    # 300 s, plus the seconds a loaded machine takes between `now` and health's own clock.
    [problem] = report["problems"]
    assert re.fullmatch(r"streamer: no heartbeat for 30\d s", problem), problem
    assert report["stream"]["stale"]
    cache.put("stream", "heartbeat", {"time": now - timedelta(minutes=4), "running": False,
                                      "protocol": "mql5"})  # a clean stop: not a problem
    assert health("--no-dagster").exit_code == 0

    monkeypatch.setenv("UNDERDOG_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    result = health("--json", "--no-dagster")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"][0].startswith("redis: unreachable")


def test_an_unreachable_database_is_exit_2_without_its_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERDOG_")}
    env["UNDERDOG_DATABASE_URL"] = f"postgresql://postgres:s3cret-Pw@127.0.0.1:{free_port()}/x"
    done = subprocess.run([str(Path(sys.executable).with_name("underdog")), "health"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert "UNDERDOG_DATABASE_URL" in done.stderr and "not reachable" in done.stderr
    assert "s3cret-Pw" not in done.stdout + done.stderr


def test_failed_dagster_runs_are_errors_of_their_assets(ops_env: str, dagster_env: None,
                                                       db: Database, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = dg.DagsterInstance.get()
    job = defs().resolve_job_def("market_daily")
    assert job.execute_in_process(partition_key="2024-03-05", instance=instance).success
    # The same job with a database that is not there: the run fails before writing anything.
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", db.dsn.rsplit("/", 1)[0].replace(
        "postgres@", "postgres:hunter2-secret@") + "/underdog_no_such_db")
    failed = job.execute_in_process(partition_key="2024-03-06", instance=instance,
                                    raise_on_error=False)
    assert not failed.success
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", db.dsn)
    result = health("--json")
    report = json.loads(result.stdout)
    feeds = {f["table"]: f for f in report["feeds"]}
    assert report["dagster"] == "ok"
    assert feeds["ohlcv"]["errors_24h"] == 1 and feeds["ticks"]["errors_24h"] == 1
    assert feeds["ohlcv"]["last_materialized"] is not None
    assert feeds["sentiment_scores"]["errors_24h"] == 0
    text = health().output
    assert "last error of ohlcv:" in text and "hunter2-secret" not in text
    instance.dispose()
