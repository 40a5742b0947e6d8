"""One definition of stale: its arithmetic, its verdicts, and health = exporter = Dagster."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.ops.stores import SCHEDULED, all_fresh, put_ohlcv, put_scores, put_vectors
from underdog.config import ConfigError, get_settings, load_settings
from underdog.ops.freshness import (
    CHECKED,
    FEEDS,
    FEEDS_BY_TABLE,
    evaluate,
    open_market_seconds,
    overrides,
    parse_duration,
    thresholds,
)
from underdog.ops.metrics import StoreCollector
from underdog.store.db import Database
from underdog_assets.definitions import defs
from underdog_assets.monitoring import defs as monitoring
from underdog_cli.app import app

FRI = datetime(2024, 3, 8, tzinfo=UTC)  # a Friday: the market closes at 22:00 UTC


def test_open_market_time_leaves_the_weekend_out() -> None:
    close, reopen = FRI.replace(hour=22), FRI.replace(hour=22) + timedelta(days=2)
    assert open_market_seconds(FRI.replace(hour=21), close) == 3600
    assert open_market_seconds(close, reopen) == 0  # Fri 22:00 .. Sun 22:00: all closed
    assert open_market_seconds(FRI.replace(hour=21), reopen + timedelta(hours=1)) == 7200
    two_weeks = open_market_seconds(FRI, FRI + timedelta(days=14))
    assert two_weeks == (14 - 4) * 86400  # two weekends of 48 h
    assert open_market_seconds(reopen, close) == 0  # backwards: nothing


def test_durations_and_overrides_parse_or_name_the_variable() -> None:
    assert parse_duration("1d2h") == timedelta(days=1, hours=2)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert overrides("ohlcv=10m, quotes=off") == {"ohlcv": timedelta(minutes=10), "quotes": None}
    with pytest.raises(ConfigError, match="UNDERDOG_FRESHNESS_MAX_LAG: unknown table 'ohlc'"):
        overrides("ohlc=10m")
    with pytest.raises(ConfigError, match="UNDERDOG_FRESHNESS_MAX_LAG: ohlcv: not a duration"):
        overrides("ohlcv=ten minutes")
    limits = thresholds(load_settings(freshness_max_lag="ticks=5m,sentiment_scores=off"))
    assert limits["ticks"].max_lag == timedelta(minutes=5)
    assert limits["sentiment_scores"].off
    assert limits["ohlcv"].max_lag == FEEDS_BY_TABLE["ohlcv"].max_lag


def test_every_feed_is_a_table_and_every_checked_feed_an_asset(dagster_env: None) -> None:
    from underdog.store.tables import FACT_TABLES

    assert {f.table for f in FEEDS} <= {*FACT_TABLES, "raw_documents", "insider_transactions"}
    assets = {k.to_user_string() for k in defs().resolve_all_asset_keys()}
    assert {f.table for f in CHECKED} <= assets
    # A daily job writes yesterday at 00:15-00:45: just before the next run its newest fact
    # is a day and the offset old; the allowance must cover that.
    for feed in CHECKED:
        if feed.schedule.endswith("* * *") and not feed.schedule.startswith("*/"):
            minute, hour = map(int, feed.schedule.split()[:2])
            assert feed.max_lag > timedelta(days=1, hours=hour, minutes=minute)


def test_verdicts_by_key(db: Database) -> None:
    settings = load_settings(symbols="EURUSD,GBPUSD", fred_series="VIXCLS,DFF")
    now = datetime(2024, 3, 6, 12, tzinfo=UTC)  # a Wednesday
    with db.connection() as conn:
        empty = evaluate(conn, FEEDS_BY_TABLE["ohlcv"], settings, now=now)
        assert (empty.status, empty.detail) == ("stale", "no rows")
        assert evaluate(conn, FEEDS_BY_TABLE["quotes"], settings, now=now).status == "empty"
        assert evaluate(conn, FEEDS_BY_TABLE["trades"], settings, now=now).status == "empty"
    put_ohlcv(db, now - timedelta(hours=1), symbols=["EURUSD"])
    with db.connection() as conn:
        one = evaluate(conn, FEEDS_BY_TABLE["ohlcv"], settings, now=now)
    assert (one.status, one.detail) == ("stale", "no rows for GBPUSD")  # every symbol counts
    put_ohlcv(db, now - timedelta(hours=30), symbols=["GBPUSD"])
    with db.connection() as conn:
        late = evaluate(conn, FEEDS_BY_TABLE["ohlcv"], settings, now=now)
        # The same age over a weekend is fine: 30 h before Monday 04:00 is Saturday.
        monday = datetime(2024, 3, 11, 4, tzinfo=UTC)
        put_ohlcv(db, monday - timedelta(hours=30), symbols=["EURUSD", "GBPUSD"])
        weekend = evaluate(conn, FEEDS_BY_TABLE["ohlcv"], settings, now=monday)
    assert late.status == "stale" and late.detail == "GBPUSD 1d 6h behind"
    assert late.lag_s == pytest.approx(30 * 3600)
    assert late.keys[0].rows_today == 1 and late.rows_today == 1  # EURUSD's bar is today's
    assert weekend.status == "ok" and weekend.lag_s == pytest.approx(6 * 3600)
    # News: the freshest symbol counts (a quiet pair is not a dead feed).
    put_scores(db, now - timedelta(hours=1), symbols=["EURUSD"])
    put_scores(db, now - timedelta(days=3), symbols=["GBPUSD"])
    with db.connection() as conn:
        news = evaluate(conn, FEEDS_BY_TABLE["sentiment_scores"], settings, now=now)
        switched = evaluate(conn, FEEDS_BY_TABLE["ohlcv"],
                            load_settings(freshness_max_lag="ohlcv=off"), now=now)
    assert news.status == "ok" and news.lag_s == pytest.approx(3600)
    assert switched.status == "off" and not switched.stale


# --- the three consumers agree -------------------------------------------------------------


def _health(*args: str) -> tuple[int, dict]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["health", "--json", "--no-dagster", *args])
    return result.exit_code, json.loads(result.stdout)


def _exporter() -> dict[str, float]:
    get_settings.cache_clear()
    registry = CollectorRegistry()
    registry.register(StoreCollector(get_settings()))
    text = generate_latest(registry).decode()
    return {s.labels["table"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "underdog_feed_stale" for s in f.samples}


def _dagster_checks() -> dict[str, bool]:
    get_settings.cache_clear()
    job = monitoring().resolve_job_def("freshness_checks")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                    raise_on_error=False)
    assert result.success
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _verdicts() -> tuple[dict[str, bool], dict[str, bool], dict[str, bool], int]:
    code, report = _health()
    health = {f["table"]: f["status"] == "stale" for f in report["feeds"]}
    exporter = {t: v == 1.0 for t, v in _exporter().items()}
    checks = {t: not passed for t, passed in _dagster_checks().items()}
    return health, exporter, checks, code


def test_health_exporter_and_dagster_checks_agree(ops_env: str, dagster_env: None, db: Database,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", ops_env)  # dagster_env set its own
    now = datetime.now(UTC)
    all_fresh(db, now)
    health, exporter, checks, code = _verdicts()
    assert set(checks) == {f.table for f in CHECKED}
    assert not any(health.values()) and health == exporter
    assert checks == {t: health[t] for t in checks}
    assert code == 0

    # Old news, and one symbol without state vectors: both stale everywhere.
    with db.connection() as conn, conn.transaction():
        conn.execute("DELETE FROM underdog.sentiment_scores")
        conn.execute("DELETE FROM underdog.state_vectors WHERE symbol = 'GBPUSD'")
    put_scores(db, now - timedelta(days=2))
    put_vectors(db, now - timedelta(days=30), symbols=["GBPUSD"])
    health, exporter, checks, code = _verdicts()
    stale = {t for t, s in health.items() if s}
    assert stale == {"sentiment_scores", "state_vectors"}
    assert health == exporter and checks == {t: health[t] for t in checks}
    assert code == 1

    # The override moves all three at once.
    monkeypatch.setenv("UNDERDOG_FRESHNESS_MAX_LAG", "sentiment_scores=3d,state_vectors=off")
    health, exporter, checks, code = _verdicts()
    assert not any(health.values()) and health == exporter
    assert checks == {t: health[t] for t in checks} and code == 0


def test_every_scheduled_table_has_rows_in_the_agreement_fixture() -> None:
    assert set(SCHEDULED) == {f.table for f in CHECKED}


def test_the_data_runs_do_not_run_the_freshness_checks(dagster_env: None) -> None:
    """They are checks of `table_freshness` in a code location of its own: a backfill of
    2024 is not a failure because 2024 is old."""
    data = defs()
    for name in ("market_daily", "features_daily", "macro_daily", "sentiment_collect"):
        job = data.resolve_job_def(name)
        subset = job.get_subset(asset_selection={dg.AssetKey(f.table) for f in CHECKED}
                                & job.asset_layer.executable_asset_keys)
        checks = job.asset_layer.asset_graph.asset_check_keys | \
            subset.asset_layer.asset_graph.asset_check_keys
        assert not any(k.asset_key.to_user_string() == "table_freshness" for k in checks)
    graph = monitoring().resolve_asset_graph()
    assert {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys} == {
        ("table_freshness", f.table) for f in CHECKED}
