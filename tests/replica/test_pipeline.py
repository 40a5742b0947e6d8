"""The pipeline with its reads on a streaming standby: the market and features jobs run in
Dagster against a primary, UNDERDOG_READER_DATABASE_URL naming the standby. Their steps read
fresh on the standby (refused while it is behind); what they wrote reads the same there as
on the primary."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import DAY, delete_keys
from tests.replica.conftest import commit_on_primary, replay_paused
from underdog.agent.data import load_market
from underdog.config import get_settings
from underdog.features.state_vector import training_frame
from underdog.redaction import forget_secrets
from underdog.store.db import Database
from underdog.store.offline.readers import bars
from underdog_assets.definitions import defs

FIRST = DAY - timedelta(days=1)  # Monday's bars: the warm-up of Tuesday's features
END = DAY + timedelta(days=1)


@pytest.fixture
def replica_env(primary_dsn: str, standby_reader_dsn: str, redis_prefix: str,
                monkeypatch: pytest.MonkeyPatch):
    prefix = f"{redis_prefix}_replica"
    for name, value in {"DATABASE_URL": primary_dsn, "READER_DATABASE_URL": standby_reader_dsn,
                        "REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix, "SYMBOLS": "EURUSD",
                        "REPLICA_MAX_LAG_S": "30"}.items():
        monkeypatch.setenv(f"UNDERDOG_{name}", value)
    get_settings.cache_clear()
    forget_secrets()
    yield
    delete_keys(REDIS_URL, prefix)
    get_settings.cache_clear()
    forget_secrets()


def _run(job: str, day: str) -> dg.ExecuteInProcessResult:
    return defs().resolve_job_def(job).execute_in_process(
        partition_key=day, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(str(e.step_failure_data.error) for e in result.all_events
                     if e.is_step_failure)


def test_the_pipeline_reads_on_the_standby_what_the_primary_holds(
        rdb: Database, standby_admin: psycopg.Connection, replica_env: None) -> None:
    for day in ("2024-03-04", "2024-03-05"):
        market = _run("market_daily", day)
        assert market.success, _failure(market)
        assert all(e.passed for e in market.get_asset_check_evaluations())

    # The features' reads are on the standby: paused, it is refused, by name, not read stale.
    with replay_paused(standby_admin):
        commit_on_primary(rdb)  # a commit it will not replay
        refused = _run("features_daily", "2024-03-05")
    assert not refused.success
    assert "UNDERDOG_REPLICA_MAX_LAG_S" in _failure(refused)
    assert "replay paused" in _failure(refused)

    features = _run("features_daily", "2024-03-05")
    assert features.success, _failure(features)
    checks = {e.check_name: e.passed for e in features.get_asset_check_evaluations()}
    assert checks["lookahead_audit"] and checks["online_offline_parity"]

    rdb.replica_lag(within_s=30.0)
    standby, primary = rdb, rdb.primary
    on_standby = bars(standby, "EURUSD", FIRST, END)
    assert len(on_standby) == 2 * 1440
    pd.testing.assert_frame_equal(on_standby, bars(primary, "EURUSD", FIRST, END))
    frame = training_frame(standby, "EURUSD", DAY, END)
    pd.testing.assert_frame_equal(frame, training_frame(primary, "EURUSD", DAY, END))
    market_standby, market_primary = load_market(standby, "EURUSD"), load_market(primary,
                                                                                 "EURUSD")
    assert len(market_standby.times) == 1440
    for name in ("times", "features", "close", "spread"):
        np.testing.assert_array_equal(getattr(market_standby, name),
                                      getattr(market_primary, name))
