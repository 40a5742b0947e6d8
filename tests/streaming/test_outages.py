"""Outages, for real: a PostgreSQL cluster of the test's own is stopped and started while ticks
flow (they spool and replay, in order, nothing lost, dead letters too), or is down when the
streamer starts; a redis-server of its own is stopped and started (the database keeps
receiving; quotes resume)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import redis

from tests.conftest import REDIS_URL
from tests.streaming.conftest import (
    SYMBOLS,
    PrivatePostgres,
    PrivateRedis,
    StreamerProcess,
    count,
    free_ports,
    wait_until,
)
from underdog.store import migrate
from underdog.store.admin import create_database
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache
from underdog_streaming.fake_bridge import FakeBridge


def test_spool_replay_with_the_database_really_stopped_and_started(
        private_postgres: PrivatePostgres, prefix: str, bridge_and_streamer) -> None:
    dsn = f"{private_postgres.server}/underdog_stream"
    create_database(dsn)
    migrate.upgrade(dsn)
    bridge, streamer = bridge_and_streamer(dsn, rate=400, seconds=6.0)
    assert wait_until(lambda: streamer.stats.written > 200)

    private_postgres.stop()  # pg_ctl stop -m fast: the server process is gone
    bad = [b"not json", b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,-1,1]}']
    bridge.inject(bad)  # rejected while the database is down: their dead letters spool too
    assert wait_until(lambda: not streamer.stats.db_up and streamer.spool.pending, 10)
    written_before = streamer.stats.written
    time.sleep(1.5)
    assert streamer.stats.written == written_before  # nothing reached a stopped server
    assert streamer.stats.spooled > 0
    private_postgres.start()

    assert bridge.done.wait(20)
    assert wait_until(lambda: streamer.stats.ticks_received >= bridge.sent + len(bad))
    assert wait_until(lambda: not streamer.spool.pending and streamer.stats.db_up, 20)
    summary = streamer.stop()
    assert summary["replayed"] > 0 and summary["rejected"] == len(bad)
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == bridge.sent
    assert count(dsn, "SELECT count(*) FROM underdog.dead_letters") == len(bad)
    # In order: per symbol, the stored ticks are the bridge's sequence (times never go back
    # within a symbol, and every minute's bar counts every tick of it).
    with psycopg.connect(dsn) as conn:
        for symbol in SYMBOLS:
            ticks, volume = conn.execute(
                "SELECT count(*), (SELECT sum(volume) FROM underdog.ohlcv WHERE symbol = %s)"
                " FROM underdog.ticks WHERE symbol = %s", (symbol, symbol)).fetchone()
            assert ticks == bridge.sent_by_symbol[symbol] == volume
    assert not list(Path(streamer.config.spool_dir).glob("*.spool"))


def test_redis_down_the_database_keeps_receiving(private_redis: PrivateRedis, db: Database,
                                                 dsn: str, prefix: str,
                                                 bridge_and_streamer) -> None:
    bridge, streamer = bridge_and_streamer(dsn, rate=300, seconds=5.0,
                                           redis_url=private_redis.url)
    cache = LatestCache.from_url(private_redis.url, prefix=prefix)
    assert wait_until(lambda: cache.get("quote", "EURUSD") is not None)

    private_redis.stop()
    assert wait_until(lambda: not streamer.stats.redis_up, 5)
    written = streamer.stats.written
    assert wait_until(lambda: streamer.stats.written > written + 100, 5)  # still writing
    private_redis.start()  # same port, empty: quotes must come back by themselves
    assert wait_until(lambda: streamer.stats.redis_up and cache.get("quote", "GBPUSD")
                      is not None, 15)

    assert bridge.done.wait(15)
    assert wait_until(lambda: streamer.stats.ticks_received >= bridge.sent)
    summary = streamer.stop()
    assert summary["redis_errors"] > 0
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == bridge.sent == summary["written"]
    assert redis.Redis.from_url(REDIS_URL).ping()  # the shared server was never touched


def test_the_streamer_starts_with_the_database_down_spools_and_catches_up(
        private_postgres: PrivatePostgres, prefix: str, tmp_path: Path) -> None:
    """The real command, default options (--state-vectors opens a Database): it must start
    with PostgreSQL down, spool, and write everything once the server is back."""
    dsn = f"{private_postgres.server}/underdog_stream"
    create_database(dsn)
    migrate.upgrade(dsn)
    private_postgres.stop()
    ports = free_ports()
    bridge = FakeBridge(ports=ports, rate=300, seconds=6.0, symbols=SYMBOLS).start()
    streamer = StreamerProcess(dsn, prefix, ports, tmp_path / "spool")
    try:
        assert wait_until(lambda: streamer.metric("ticks_spooled_total") > 100, 30), \
            "nothing spooled"
        assert streamer.proc.poll() is None and streamer.metric("ticks_written_total") == 0
        private_postgres.start()
        assert bridge.done.wait(30)
        assert wait_until(lambda: streamer.metric("ticks_written_total") >= bridge.sent, 30)
        summary = streamer.stop()
    finally:
        streamer.kill()
        bridge.stop()
    assert summary["replayed"] > 0 and summary["written"] == summary["ticks_accepted"]
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == bridge.sent
    assert not list((tmp_path / "spool").glob("*.spool"))
