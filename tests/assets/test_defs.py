"""The Dagster code location loads, and the market assets materialize in-process."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from tests.helpers import table_checksum
from underdog.store.db import Database
from underdog_assets.definitions import defs

ASSETS = {"ticks", "ohlcv", "ohlcv_1h", "ohlcv_1d"}
FEATURE_ASSETS = {"regime_model", "regime_predictions", "state_vectors"}
MACRO_ASSETS = {"macro_indicators", "insider_transactions"}
SENTIMENT_ASSETS = {"raw_news", "raw_posts", "sentiment_scores", "hourly_sentiment_summary"}
AGENT_ASSETS = {"td3_policy", "td3_evaluation", "daily_trading_summary"}
GROUPS = {"market", "features", "macro", "sentiment", "agent"}
EVERY_ASSET = ASSETS | FEATURE_ASSETS | MACRO_ASSETS | SENTIMENT_ASSETS | AGENT_ASSETS
CHECKS = {"no_gaps_in_trading_hours", "ohlc_consistent", "no_duplicate_keys"}


def test_definitions_load(dagster_env: None) -> None:
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    keys = {k.to_user_string() for k in definitions.resolve_all_asset_keys()}
    assert keys == EVERY_ASSET  # no undefined (external) upstream left
    assert definitions.resolve_job_def("market_daily") is not None
    assert definitions.resolve_schedule_def("market_daily_schedule").cron_schedule == "15 0 * * *"
    graph = definitions.resolve_asset_graph()
    assert graph.get(dg.AssetKey("ohlcv_1h")).parent_keys == {dg.AssetKey("ohlcv")}
    for key in EVERY_ASSET:
        node = graph.get(dg.AssetKey(key))
        assert node.group_name in GROUPS and node.description
        assert node.owners
    state = graph.get(dg.AssetKey("state_vectors"))
    assert {k.to_user_string() for k in state.parent_keys} == {
        "ohlcv", "sentiment_scores", "macro_indicators", "regime_predictions"}
    assert graph.get(dg.AssetKey("td3_policy")).parent_keys == {dg.AssetKey("state_vectors")}
    assert graph.get(dg.AssetKey("td3_evaluation")).parent_keys == {dg.AssetKey("td3_policy")}


def _materialize(partition: str) -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def("market_daily")
    return job.execute_in_process(partition_key=partition, instance=dg.DagsterInstance.ephemeral())


def test_a_partition_materializes_with_passing_checks(dagster_env: None, db: Database) -> None:
    result = _materialize("2024-03-05")
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert CHECKS <= set(checks) and all(checks.values())
    [ohlcv] = [m for m in result.get_asset_materialization_events()
               if m.asset_key == dg.AssetKey("ohlcv")]
    metadata = ohlcv.materialization.metadata
    assert metadata["rows_written"].value == 2 * 1440
    assert metadata["rows_rejected"].value == 0
    assert "EURUSD" in metadata["preview"].value


def test_materializing_twice_gives_identical_tables(dagster_env: None, db: Database) -> None:
    _materialize("2024-03-08")
    before = [table_checksum(db, t) for t in sorted(ASSETS)]
    assert before[sorted(ASSETS).index("ohlcv")][0] == 2 * 1320  # Friday closes at 22:00
    _materialize("2024-03-08")
    assert [table_checksum(db, t) for t in sorted(ASSETS)] == before


def test_a_weekend_day_is_empty_and_still_passes(dagster_env: None, db: Database) -> None:
    result = _materialize("2024-03-09")
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert table_checksum(db, "ohlcv")[0] == 0


def test_a_gap_in_trading_hours_fails_its_check(dagster_env: None, db: Database,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import underdog.market.backfill as ingest

    real = ingest.bars_from_ticks

    def with_a_hole(ticks, *, symbol):  # drop 20 minutes of EURUSD
        bars = real(ticks, symbol=symbol)
        if symbol == "EURUSD":
            bars = bars.drop(index=bars.index[600:620])
        return bars

    monkeypatch.setattr(ingest, "bars_from_ticks", with_a_hole)
    result = _materialize("2024-03-05")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["no_gaps_in_trading_hours"].passed
    assert checks["no_gaps_in_trading_hours"].metadata["largest_gap_minutes"].value == 20
    assert checks["ohlc_consistent"].passed


def test_materializing_replaces_the_cached_bar_and_state_with_the_tables(
        dagster_env: None, db: Database, redis_prefix: str) -> None:
    from tests.conftest import REDIS_URL
    from underdog.store.offline.readers import latest
    from underdog.store.online.cache import LatestCache

    cache = LatestCache.from_url(REDIS_URL, prefix=redis_prefix)
    last = pd.Timestamp("2024-03-05 23:59", tz="UTC")
    cache.invalidate("bar", ["EURUSD"])
    cache.invalidate("state", ["EURUSD"])
    assert cache.put("bar", "EURUSD", {"time": last, "close": 9.9})  # not the day's bar
    assert cache.put("state", "EURUSD", {"time": last, "close": 9.9})  # from other bars
    result = _materialize("2024-03-05")
    assert result.success
    stored = latest(db, "bar", "EURUSD")
    cached = cache.get("bar", "EURUSD")  # a hit: replaced in place, not left to expire
    assert cache.stats["hit"] == 1 and stored["time"] == last
    assert {k: cached[k] for k in stored} == stored
    assert cache.get("state", "EURUSD") is None  # the table holds no vector
