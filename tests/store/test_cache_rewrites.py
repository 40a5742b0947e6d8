"""No stale value served: after each rewrite path the cache holds what the table holds.

Each test caches a value, rewrites (or deletes) the rows under it through a real writer, and
checks that the cache serves exactly the table's latest row (or nothing), never the old one.
The streamer and spool replay writers are in tests/streaming/test_stream_cache.py, the
Dagster asset in tests/assets/test_defs.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import RedisTarget, key_safe
from tests.helpers import DAY, bar_frame, cli_settings, empty_reads
from underdog.features import materialize
from underdog.macro.vintages import publish_latest
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.offline.writers import upsert
from underdog.store.online.cache import EVENT_FIELD, LatestCache, _encode, event_micros
from underdog.store.tables import MACRO_INDICATORS, OHLCV
from underdog_cli.app import app

END = DAY + timedelta(days=1)
NOW = DAY + timedelta(days=2)
ON_BOTH_REDIS = True  # every test with `redis_target` also runs on a Redis Cluster


@pytest.fixture
def prefix(redis_prefix: str, request: pytest.FixtureRequest) -> str:
    return f"{redis_prefix}_rw_{key_safe(request.node.name)[:48]}"


@pytest.fixture
def cache(db: Database, prefix: str, redis_target: RedisTarget) -> LatestCache:
    cache = LatestCache.from_url(redis_target.url, prefix=prefix, cluster=redis_target.cluster,
                                 loader=lambda kind, key, source: latest(db, kind, key, source))
    cache.clear()
    return cache


@pytest.fixture
def cli_env(db: Database, prefix: str, redis_target: RedisTarget,
            monkeypatch: pytest.MonkeyPatch):
    with cli_settings(monkeypatch, dsn=db.dsn, redis_url=redis_target.url, prefix=prefix,
                      MARKET_SOURCE="simulated", SIMULATOR_SEED="7",
                      REDIS_CLUSTER=str(redis_target.cluster).lower()):
        yield


def plant(cache: LatestCache, kind: str, symbol: str, row: dict) -> None:
    """A cached value put as the old code could: bypassing newer-wins and the clock check."""
    key = cache.key(kind, symbol)
    cache.client.delete(key)
    cache.client.hset(key, mapping={EVENT_FIELD: event_micros(row),
                                    **{k: _encode(v) for k, v in row.items()}})


def serves_the_table(cache: LatestCache, db: Database, kind: str, symbol: str) -> bool:
    cached, stored = cache.get(kind, symbol), latest(db, kind, symbol)
    if cached is None or stored is None:
        return cached is stored
    return all(cached.get(k) == v for k, v in stored.items())


def test_a_future_stamped_row_is_never_put(cache: LatestCache) -> None:
    fixed = LatestCache(cache.client, prefix=cache.prefix, clock=lambda: DAY)
    assert not fixed.put("state", "EURUSD", {"time": DAY + timedelta(minutes=1), "close": 2.0})
    assert fixed.put("state", "EURUSD", {"time": DAY, "close": 1.0})
    assert fixed.stats["future"] == 1 and fixed.get("state", "EURUSD")["close"] == 1.0


def test_refresh_replaces_a_future_dated_value_with_the_tables(db: Database,
                                                               cache: LatestCache) -> None:
    upsert(db, OHLCV, bar_frame(3, close=1.1), source="test")
    plant(cache, "bar", "EURUSD", {"time": datetime(2030, 1, 7, tzinfo=UTC), "close": 9.9})
    assert cache.refresh("bar", ["EURUSD", "GBPUSD"])
    assert serves_the_table(cache, db, "bar", "EURUSD")
    assert cache.client.exists(cache.key("bar", "EURUSD"))  # replaced, not only dropped
    assert not cache.client.exists(cache.key("bar", "GBPUSD"))  # the table holds none


def test_cli_backfill_refreshes_the_cached_bar_and_state(db: Database, cache: LatestCache,
                                                        cli_env: None) -> None:
    last = DAY + timedelta(hours=23, minutes=59)
    plant(cache, "bar", "EURUSD", {"time": last, "close": 9.9})  # not what the day holds
    plant(cache, "state", "EURUSD", {"time": last, "close": 9.9, "rsi": 0.5})  # from old bars
    out = CliRunner().invoke(app, ["market", "backfill", "--start", "2024-03-05", "--end",
                                   "2024-03-05", "--symbol", "EURUSD"])
    assert out.exit_code == 0, out.output
    assert serves_the_table(cache, db, "bar", "EURUSD")
    assert cache.get("bar", "EURUSD")["close"] != 9.9
    assert serves_the_table(cache, db, "state", "EURUSD")  # no vector stored: none served


def test_retention_does_not_leave_deleted_rows_in_the_cache(db: Database, cache: LatestCache,
                                                           cli_env: None) -> None:
    today = datetime.now(UTC).replace(second=0, microsecond=0)
    old = today - timedelta(days=3 * 365)  # past the 2 years ohlcv keeps
    upsert(db, OHLCV, bar_frame(3, start=old), source="test")
    upsert(db, OHLCV, bar_frame(3, symbol="GBPUSD", start=today - timedelta(days=10)),
           source="test")
    assert cache.get("bar", "EURUSD")["time"] == old + timedelta(minutes=2)
    assert cache.get("bar", "GBPUSD") is not None
    out = CliRunner().invoke(app, ["db", "retention"])
    assert out.exit_code == 0, out.output
    dropped = "1 chunks" if db.is_timescale else "3 rows"  # TimescaleDB drops the old day
    assert re.search(rf"^ohlcv: {dropped} dropped", out.output, re.M), out.output
    assert latest(db, "bar", "EURUSD") is None
    assert cache.get("bar", "EURUSD") is None
    assert serves_the_table(cache, db, "bar", "GBPUSD")


def test_rebuilding_state_vectors_replaces_a_future_dated_cached_vector(
        db: Database, cache: LatestCache) -> None:
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=1), END, seed=7)
    plant(cache, "state", "EURUSD", {"time": datetime(2030, 1, 7, tzinfo=UTC), "close": 9.9})
    written = materialize.state_vectors(db, ["EURUSD"], DAY, END, cache=cache)
    assert written.written > 0
    assert cache.get("state", "EURUSD")["time"] == latest(db, "state", "EURUSD")["time"]
    assert serves_the_table(cache, db, "state", "EURUSD")
    # Deleting the window (no bars left to build from) leaves nothing to serve.
    with db.connection() as conn:
        conn.execute("DELETE FROM underdog.ohlcv")
    materialize.state_vectors(db, ["EURUSD"], DAY, END, cache=cache)
    assert latest(db, "state", "EURUSD") is None and cache.get("state", "EURUSD") is None


def _vintage(value: float, realtime_start: str) -> pd.DataFrame:
    start = pd.Timestamp(realtime_start, tz="UTC")
    return pd.DataFrame([{"series_id": "VIXCLS", "time": DAY, "realtime_start": start.date(),
                          "realtime_end": None, "value": value, "name": "VIX",
                          "units": "Index", "available_at": start}])


def test_a_macro_revision_is_never_missing_from_the_cache(db: Database,
                                                         cache: LatestCache) -> None:
    """A reader polling while revisions are published always finds a value: the key is
    replaced in one MULTI, never deleted then written."""
    upsert(db, MACRO_INDICATORS, _vintage(14.0, "2024-03-06"), source="test")
    publish_latest(db, cache, "VIXCLS")
    with empty_reads(cache.client, cache.key("macro", "VIXCLS")) as empty:
        for n in range(40):
            revised = _vintage(14.0 + n / 100, "2024-03-07")
            upsert(db, MACRO_INDICATORS, revised, source="test")
            assert publish_latest(db, cache, "VIXCLS")
    assert not empty
    assert cache.get("macro", "VIXCLS")["value"] == pytest.approx(14.39)


def test_a_future_dated_cached_value_does_not_hold_back_a_correct_one(
        cache: LatestCache) -> None:
    plant(cache, "state", "EURUSD", {"time": datetime(2030, 1, 7, tzinfo=UTC), "close": 9.9})
    now = datetime.now(UTC).replace(microsecond=0)
    assert cache.put("state", "EURUSD", {"time": now - timedelta(minutes=1), "close": 1.1})
    assert cache.get("state", "EURUSD")["close"] == 1.1
    # A correct newer value still wins only when newer: an older one is skipped.
    assert not cache.put("state", "EURUSD", {"time": now - timedelta(minutes=2), "close": 1.0})
