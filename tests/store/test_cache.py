"""The latest-value cache on a real Redis: keys, TTL, hits and misses, newer-wins, fallback."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from tests.conftest import RedisTarget, key_safe
from tests.helpers import DAY, bar_frame, free_port
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.offline.writers import upsert
from underdog.store.online.bar_packs import BarPacks
from underdog.store.online.cache import LatestCache
from underdog.store.tables import OHLCV

ON_BOTH_REDIS = True  # every test with `redis_target` also runs on a Redis Cluster

def _cache(target: RedisTarget, prefix: str, db: Database, **kwargs) -> LatestCache:
    return LatestCache.from_url(
        target.url, prefix=prefix, cluster=target.cluster,
        loader=lambda kind, key, source: latest(db, kind, key, source), **kwargs,
    )


@pytest.fixture
def cache(db: Database, redis_prefix: str, redis_target: RedisTarget,
          request: pytest.FixtureRequest) -> LatestCache:
    cache = _cache(redis_target, f"{redis_prefix}:{key_safe(request.node.name)}", db)
    cache.clear()
    return cache


def test_key_layout(cache: LatestCache) -> None:
    if cache.cluster:  # one kind's keys share a slot: `refresh` is one MULTI over them
        assert cache.key("bar", "EURUSD") == f"{{{cache.prefix}:v1:bar}}:EURUSD"
        expected = f"{{{cache.prefix}:v1:sentiment}}:EURUSD:reddit"
    else:
        assert cache.key("bar", "EURUSD") == f"{cache.prefix}:v1:bar:EURUSD"
        expected = f"{cache.prefix}:v1:sentiment:EURUSD:reddit"
    assert cache.key("sentiment", "EURUSD", "reddit") == expected


def test_clear_deletes_every_key_of_its_prefix_only(cache: LatestCache,
                                                    redis_target: RedisTarget) -> None:
    other = LatestCache(cache.client, prefix=f"{cache.prefix}_other")
    for symbol in ("EURUSD", "GBPUSD", "USDJPY"):  # spread over the masters on a cluster
        cache.put("bar", symbol, {"time": DAY, "close": 1.1})
        cache.put("quote", symbol, {"time": DAY, "bid": 1.1})
    other.put("bar", "EURUSD", {"time": DAY, "close": 1.2})
    pack = BarPacks(redis_target.client(), prefix=cache.prefix).key("1.2", "EURUSD", 19787)
    cache.client.set(pack, "a bar pack")
    assert cache.clear() == 7 and not cache.client.exists(pack)
    assert cache.cached_names("bar") == [] and cache.cached_names("quote") == []
    assert other.cached_names("bar") == ["EURUSD"]
    other.clear()


def test_miss_reads_through_then_hits_with_a_one_hour_ttl(db: Database, cache: LatestCache) -> None:
    upsert(db, OHLCV, bar_frame(3), source="test")
    first = cache.get("bar", "EURUSD")
    second = cache.get("bar", "EURUSD")
    assert dict(cache.stats) == {"miss": 1, "hit": 1}
    assert first == second  # same values and types from the database and from Redis
    assert second["time"] == DAY + timedelta(minutes=2)
    assert second["close"] == pytest.approx(1.1)
    assert 3590 < cache.client.ttl(cache.key("bar", "EURUSD")) <= 3600


def test_a_missing_value_is_a_miss_and_is_not_cached(cache: LatestCache) -> None:
    assert cache.get("bar", "USDJPY") is None
    assert cache.get("bar", "USDJPY") is None
    assert dict(cache.stats) == {"miss": 2}
    assert not cache.client.exists(cache.key("bar", "USDJPY"))


def test_an_older_event_never_overwrites_a_newer_one(cache: LatestCache) -> None:
    newer = {"time": DAY + timedelta(minutes=5), "close": 1.2}
    older = {"time": DAY, "close": 1.1}
    assert cache.put("bar", "EURUSD", newer)
    assert not cache.put("bar", "EURUSD", older)
    assert not cache.put("bar", "EURUSD", newer)  # same event again: nothing to do
    assert cache.get("bar", "EURUSD")["close"] == 1.2


def test_entries_expire(db: Database, redis_prefix: str, redis_target: RedisTarget) -> None:
    cache = _cache(redis_target, f"{redis_prefix}:ttl", db, ttl_s=1)
    cache.put("bar", "EURUSD", {"time": DAY, "close": 1.1})
    time.sleep(1.2)
    assert cache.get("bar", "EURUSD") is None
    assert dict(cache.stats) == {"miss": 1}


@pytest.fixture
def private_redis() -> Iterator[str]:
    """A Redis server of this test's own, so the test can stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_redis_down_falls_back_to_the_database(db: Database, private_redis: str) -> None:
    upsert(db, OHLCV, bar_frame(3), source="test")
    cache = _cache(RedisTarget(private_redis, cluster=False), "fallback", db)
    assert cache.get("bar", "EURUSD")["close"] == pytest.approx(1.1)  # miss, now cached
    redis.Redis.from_url(private_redis).shutdown(nosave=True)
    upsert(db, OHLCV, bar_frame(4, close=1.3), source="test")
    started = time.perf_counter()
    row = cache.get("bar", "EURUSD")
    assert row["close"] == pytest.approx(1.3)  # from the database: nothing stale, no error
    assert time.perf_counter() - started < 2
    assert not cache.put("bar", "EURUSD", row)
    assert (cache.stats["fallback"], cache.stats["error"]) == (1, 1)


def test_invalidate_drops_values_so_a_rewrite_is_seen(db: Database, cache: LatestCache) -> None:
    upsert(db, OHLCV, bar_frame(3, close=1.1), source="test")
    assert cache.get("bar", "EURUSD")["close"] == pytest.approx(1.1)
    upsert(db, OHLCV, bar_frame(3, close=1.4), source="test")  # same times, new values
    assert cache.get("bar", "EURUSD")["close"] == pytest.approx(1.1)  # newer-wins: still old
    assert cache.invalidate("bar", ["EURUSD", "GBPUSD"])
    assert cache.get("bar", "EURUSD")["close"] == pytest.approx(1.4)
