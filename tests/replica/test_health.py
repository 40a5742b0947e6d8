"""`underdog health` and the exporter show the read replica's lag: WAL bytes the standby has
not replayed against the primary's current LSN, and a problem once fresh reads refuse it."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import cli_settings
from tests.replica.conftest import commit_on_primary, replay_paused
from underdog.config import get_settings
from underdog.ops.health import collect
from underdog.ops.metrics import StoreCollector
from underdog.store.db import Database
from underdog_cli.app import app


def _health(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["health", "--no-dagster", *args])
    return result.exit_code, result.stdout


def _samples(settings) -> dict[str, float]:
    return {s.name + str(sorted(s.labels.items())): s.value
            for family in StoreCollector(settings).collect() for s in family.samples}


@pytest.fixture
def replica_settings(monkeypatch: pytest.MonkeyPatch, primary_dsn: str,
                     standby_reader_dsn: str, redis_prefix: str):
    with cli_settings(monkeypatch, dsn=primary_dsn, redis_url=REDIS_URL,
                      prefix=f"{redis_prefix}_replica_health",
                      READER_DATABASE_URL=standby_reader_dsn, REPLICA_MAX_LAG_S="2"):
        yield


def test_health_shows_a_caught_up_replica(rdb: Database, replica_settings: None) -> None:
    _, out = _health("--json")
    replica = json.loads(out)["replica"]
    assert replica["configured"] and replica["up"] and replica["standby"]
    assert replica["replay_lag_bytes"] == 0 and replica["lag_s"] == 0.0
    assert not replica["too_far_behind"] and replica["max_lag_s"] == 2.0
    assert not [p for p in json.loads(out)["problems"] if p.startswith("replica")]
    _, text = _health()
    assert "read replica: caught up" in text


def test_health_and_the_exporter_show_a_replica_behind(
        rdb: Database, standby_admin: psycopg.Connection, replica_settings: None) -> None:
    with replay_paused(standby_admin):
        commit_on_primary(rdb)  # a commit it will not replay
        code, out = _health("--json")
        samples = _samples(get_settings())
        _, text = _health()
    report = json.loads(out)
    replica = report["replica"]
    assert replica["replay_lag_bytes"] > 0 and replica["replay_paused"]
    assert replica["too_far_behind"]
    [problem] = [p for p in report["problems"] if p.startswith("replica")]
    assert "bytes of WAL behind" in problem and "replay paused" in problem
    assert code == 1
    assert "read replica:" in text and "bytes of WAL behind" in text
    assert samples["underdog_replica_replay_lag_bytes[]"] > 0
    assert samples["underdog_replica_replay_paused[]"] == 1.0
    assert samples["underdog_replica_max_lag_seconds[]"] == 2.0
    assert samples["underdog_up[('component', 'replica')]"] == 1.0


def test_health_names_an_unreachable_replica(monkeypatch: pytest.MonkeyPatch, primary_dsn: str,
                                             redis_prefix: str) -> None:
    with cli_settings(monkeypatch, dsn=primary_dsn, redis_url=REDIS_URL,
                      prefix=f"{redis_prefix}_replica_health",
                      READER_DATABASE_URL="postgresql://underdog_reader@127.0.0.1:1/underdog"):
        report = collect(get_settings())
    assert report.replica.configured and not report.replica.up
    assert any(p.startswith("replica: unreachable") for p in report.problems())
