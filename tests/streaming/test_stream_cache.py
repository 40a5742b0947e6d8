"""The streamer's writes never leave a cached bar the table no longer holds: a minute it
closes again replaces the cached bar of that minute, and a spool replay that rewrites bars
reloads their cached values from the table."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import RedisTarget, key_safe
from tests.helpers import bar_frame
from tests.streaming.conftest import free_ports, stream_config
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.offline.writers import upsert
from underdog.store.online.cache import LatestCache
from underdog.store.online.pipelined import fast_fail_cache
from underdog.store.tables import OHLCV
from underdog_streaming.batcher import BarRow, Batcher, TickRow, WriteBatch
from underdog_streaming.hooks import HookDispatcher, redis_bar_hook
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.sink import Sink, StreamDatabase
from underdog_streaming.spool import Spool
from underdog_streaming.stats import StreamStats
from underdog_streaming.writer import Writer

FIELDS = ("time", "open", "high", "low", "close", "volume")
ON_BOTH_REDIS = True  # every test with `redis_target` also runs on a Redis Cluster


@pytest.fixture
def cache(db: Database, redis_prefix: str, redis_target: RedisTarget,
          request: pytest.FixtureRequest) -> LatestCache:
    cache = LatestCache.from_url(redis_target.url, cluster=redis_target.cluster,
                                 prefix=f"{redis_prefix}_{key_safe(request.node.name)[:48]}",
                                 loader=lambda kind, key, source: latest(db, kind, key, source))
    cache.clear()
    return cache


def minute_ago(minutes: int) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def cached_backfill(db: Database, cache: LatestCache, minute: datetime) -> None:
    """The minute as a backfill wrote it, and cached (a read through)."""
    upsert(db, OHLCV, bar_frame(1, start=minute, close=1.05).assign(source="simulated"),
           source="simulated")
    assert cache.get("bar", "EURUSD")["close"] == pytest.approx(1.05)


def same_as_table(cache: LatestCache, db: Database) -> bool:
    cached, stored = cache.get("bar", "EURUSD"), latest(db, "bar", "EURUSD")
    return {k: cached[k] for k in FIELDS} == {k: stored[k] for k in FIELDS}


def writer_for(dsn: str, cache: LatestCache, target: RedisTarget,
               tmp_path: Path) -> tuple[Writer, Batcher, HookDispatcher]:
    metrics, stats, batcher = StreamMetrics(), StreamStats(), Batcher()
    config = stream_config(dsn, cache.prefix, free_ports(), tmp_path / "spool")
    fast = fast_fail_cache(target.url, prefix=cache.prefix, ttl_s=3600, timeout_s=0.5,
                           cluster=target.cluster)
    hooks = HookDispatcher(redis_bar_hook(fast, "mql5"), metrics)
    sink = Sink(StreamDatabase(dsn), source="mql5", symbols=["EURUSD"])
    writer = Writer(config, batcher, sink, Spool(config.spool_dir), metrics, stats, hooks,
                    cache=fast)
    return writer, batcher, hooks


def test_a_minute_the_streamer_closes_again_replaces_the_cached_bar(
        db: Database, dsn: str, cache: LatestCache, redis_target: RedisTarget,
        tmp_path: Path) -> None:
    minute = minute_ago(10)
    cached_backfill(db, cache, minute)
    writer, batcher, hooks = writer_for(dsn, cache, redis_target, tmp_path)
    hooks.start()
    t0 = int(minute.timestamp()) * 1_000_000
    batcher.add([TickRow("EURUSD", t0 + k * 5_000_000, 0, 1.1 + k * 1e-5, 1.1002,
                         time.time_ns()) for k in range(4)])
    writer.step()  # ten minutes ago: closed by the clock, upserted over the backfilled bar
    hooks.stop()
    writer.sink.db.close()
    assert latest(db, "bar", "EURUSD")["close"] == pytest.approx(1.10003)
    assert same_as_table(cache, db)


def test_a_spool_replay_reloads_the_bars_it_rewrites(db: Database, dsn: str, cache: LatestCache,
                                                     redis_target: RedisTarget,
                                                     tmp_path: Path) -> None:
    minute = minute_ago(30)
    cached_backfill(db, cache, minute)
    writer, _, _ = writer_for(dsn, cache, redis_target, tmp_path)
    # Streamed while the database was down, spooled, and replayed now.
    time_us = int(minute.timestamp()) * 1_000_000
    writer.spool.append(WriteBatch(bars=[BarRow("EURUSD", time_us, 1.2, 1.21, 1.19, 1.205, 7,
                                                0.0001)]))
    writer.replay(deadline_s=5.0)
    writer.sink.db.close()
    assert not writer.spool.pending
    assert latest(db, "bar", "EURUSD")["close"] == pytest.approx(1.205)
    assert same_as_table(cache, db)
