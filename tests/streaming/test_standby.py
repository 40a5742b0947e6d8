"""Streamers side by side (issue 17): shards of the symbols on one DWX bridge, and hot
standbys on one MQL5 bridge's two terminals, one of them killed with SIGKILL mid-stream.

Lost ticks are those the bridge sent (it records each) that are not in `ticks`; duplicates
are rows beyond the distinct keys, and the key's unique index is checked to be there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from tests.helpers import free_port
from tests.streaming.conftest import (
    SYMBOLS,
    StreamerProcess,
    count,
    free_ports,
    stream_config,
    streamer_command,
    wait_until,
)
from tests.streaming.standby_checks import (
    QuoteSampler,
    bar_mismatches,
    frame,
    stored_ticks,
    unique_keys,
)
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache
from underdog_streaming.batcher import BarRow, WriteBatch
from underdog_streaming.claim import SpoolClaim, SpoolInUse
from underdog_streaming.fake_bridge import FakeBridge
from underdog_streaming.health import heartbeat_key
from underdog_streaming.sink import Sink, StreamDatabase
from underdog_streaming.streamer import Streamer

RATE = 10_000
SECONDS = 6.0
KILL_AFTER_S = 3.0


def test_hot_standbys_one_killed_lose_nothing_and_store_each_tick_once(
        db: Database, dsn: str, prefix: str, tmp_path: Path) -> None:
    main, mirror = free_ports(), free_ports()
    bridge = FakeBridge(ports=main, terminals=(mirror,), rate=RATE, seconds=SECONDS,
                        symbols=SYMBOLS, all_peers=True, record=True).start()
    spool = tmp_path / "spool"
    a = StreamerProcess(dsn, prefix, main, spool, "--streamer-id", "a")
    b = StreamerProcess(dsn, prefix, mirror, spool, "--streamer-id", "b")
    sampler = QuoteSampler(REDIS_URL, prefix, SYMBOLS)
    try:
        assert bridge.streaming.wait(60), "the two streamers never both connected"
        sampler.start()
        started = time.monotonic()
        assert wait_until(lambda: a.metric("ticks_written_total") > 0, 30)
        time.sleep(max(0.0, started + KILL_AFTER_S - time.monotonic()))
        a.kill()  # SIGKILL: no flush, its batch in flight is gone with it
        killed_at = time.monotonic()
        assert not bridge.done.is_set(), "the kill came after the stream ended: not mid-run"
        assert bridge.done.wait(60)
        sent = Counter((s, t, round(bid, 6), round(ask, 6))
                       for s, t, bid, ask in bridge.sent_ticks)
        wait_until(lambda: count(dsn, "SELECT count(*) FROM underdog.ticks") >= bridge.sent, 60)
        summary = b.stop()
        sampler.stop.set()
        sampler.join(5)
    finally:
        sampler.stop.set()
        a.kill()
        b.kill()
        bridge.stop()
    assert bridge.sent >= RATE * SECONDS * 0.9

    stored = stored_ticks(dsn)
    lost, extra = sent - stored, stored - sent
    assert sum(lost.values()) == 0, f"lost {sum(lost.values())}: {list(lost)[:5]}"
    assert sum(extra.values()) == 0, f"stored but never sent: {list(extra)[:5]}"
    rows = count(dsn, "SELECT count(*) FROM underdog.ticks")
    keys = count(dsn, "SELECT count(*) FROM (SELECT DISTINCT symbol, time, seq"
                      " FROM underdog.ticks) k")
    assert rows - keys == 0 and rows == bridge.sent
    assert ["symbol", "time", "seq"] in unique_keys(dsn)
    assert summary["written"] > 0 and summary["poisoned"] == 0

    # Redis: never back in time, and still moving after the kill.
    assert not sampler.stalls(killed_at)
    # Bars: whoever upserted last, each equals the bar of the stored ticks of its minute.
    assert not bar_mismatches(dsn, SYMBOLS)
    assert count(dsn, "SELECT count(*) FROM underdog.dead_letters") == 0


def test_shards_store_and_publish_only_their_own_symbols(db: Database, dsn: str, prefix: str,
                                                          tmp_path: Path) -> None:
    ports = free_ports()
    bridge = FakeBridge(protocol="dwx", ports=ports, rate=400, seconds=2.0,
                        symbols=SYMBOLS).start()
    shards = {symbol: Streamer(stream_config(
        dsn, prefix, ports, tmp_path / "spool", protocol="dwx", symbols=(symbol,),
        streamer_id=symbol.lower(), metrics_port=0)) for symbol in SYMBOLS}
    try:
        for streamer in shards.values():
            streamer.start()
        assert bridge.done.wait(30)
        assert wait_until(lambda: count(dsn, "SELECT count(*) FROM underdog.ticks")
                          >= bridge.sent, 30)
    finally:
        summaries = {s: streamer.stop() for s, streamer in shards.items()}
        bridge.stop()
    cache = LatestCache.from_url(REDIS_URL, prefix=prefix)
    by_symbol = dict(frame(dsn, "SELECT symbol, count(*) FROM underdog.ticks GROUP BY symbol")
                     .itertuples(index=False))
    for symbol, streamer in shards.items():
        summary = summaries[symbol]
        # Each stored exactly its own symbol's ticks, and nothing else reached it.
        assert summary["written"] == by_symbol[symbol] == bridge.sent_by_symbol[symbol]
        assert summary["rejected"] == 0
        assert set(streamer.stats.latest) == {symbol}
        beat = cache.get(*heartbeat_key(streamer.config.streamer_id))
        assert beat is not None and beat["streamer_id"] == symbol.lower()
        assert beat["ticks_written"] == summary["written"]
        assert streamer.spool.dir == tmp_path / "spool" / symbol.lower()
    assert cache.get(*heartbeat_key()) is None  # the shards never wrote the shared key
    ports_used = {streamer.metrics_port for streamer in shards.values()}
    assert len(ports_used) == 2 and None not in ports_used
    for symbol in SYMBOLS:
        assert cache.get("quote", symbol)["symbol"] == symbol


def test_two_streamers_on_one_spool_refuse_to_start(tmp_path: Path) -> None:
    config = stream_config("postgresql://unused", "unused", free_ports(), tmp_path / "spool")
    first = Streamer(config)  # made, not started: it holds the spool all the same
    try:
        with pytest.raises(SpoolInUse, match="--streamer-id"):
            Streamer(config)
    finally:
        first.claim.release()
        first.context.destroy(linger=0)
    second = Streamer(config)  # released: the next one may take it
    second.claim.release()
    second.context.destroy(linger=0)


def test_each_streamers_dead_letters_name_it(tmp_path: Path) -> None:
    """Hot standbys both reject the same bad frame: the two rows say whose each is."""
    config = stream_config("postgresql://unused", "unused", free_ports(), tmp_path / "spool",
                           streamer_id="standby-b")
    streamer = Streamer(config)
    try:
        dead = streamer._reject(b"{not json", "malformed")
    finally:
        streamer.claim.release()
        streamer.context.destroy(linger=0)
    assert dead.payload == {"raw": "{not json", "streamer": "standby-b"}
    assert config.spool_path == tmp_path / "spool" / "standby-b"


def test_the_command_refuses_a_spool_or_metrics_port_another_streamer_holds(
        dsn: str, prefix: str, tmp_path: Path) -> None:
    env = {**os.environ, "UNDERDOG_DATABASE_URL": dsn, "UNDERDOG_REDIS_URL": REDIS_URL,
           "UNDERDOG_REDIS_PREFIX": prefix}
    ports = free_ports()

    def run(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*streamer_command(), "run", "--sys-port", str(ports.sys), "--data-port",
             str(ports.data), "--live-port", str(ports.live), "--spool-dir",
             str(tmp_path / "spool"), *options], env=env, capture_output=True, text=True,
            timeout=60)

    held = SpoolClaim(tmp_path / "spool")  # the streamer already running there
    try:
        refused = run()
    finally:
        held.release()
    assert refused.returncode == 2 and "--streamer-id" in refused.stderr, refused.stderr

    with socket.socket() as taken:
        port = free_port()
        taken.bind(("127.0.0.1", port))
        taken.listen()
        refused = run("--streamer-id", "b", "--metrics-port", str(port))
    assert refused.returncode == 2 and "--metrics-port" in refused.stderr, refused.stderr


def test_a_standby_behind_never_shrinks_the_open_minutes_bar(db: Database, dsn: str) -> None:
    """Two standbys upsert the open minute's bar; the one behind (fewer ticks so far)
    writes last. The bar keeps the fuller view; a bar of another source is replaced."""
    minute_us = (time.time_ns() // 60_000_000_000 - 1) * 60_000_000
    ahead = BarRow("EURUSD", minute_us, 1.1, 1.12, 1.09, 1.11, 500, 0.0001)
    behind = BarRow("EURUSD", minute_us, 1.1, 1.12, 1.09, 1.1, 450, 0.0001)
    standby_a, standby_b = (Sink(StreamDatabase(dsn), source="mql5", symbols=SYMBOLS)
                            for _ in range(2))
    try:
        standby_a.write(WriteBatch(bars=[ahead]))
        standby_b.write(WriteBatch(bars=[behind]))
        assert count(dsn, "SELECT volume FROM underdog.ohlcv") == 500
        standby_b.write(WriteBatch(bars=[behind._replace(volume=520, close=1.115)]))
        assert count(dsn, "SELECT volume FROM underdog.ohlcv") == 520  # it caught up
        other = Sink(StreamDatabase(dsn), source="dwx", symbols=SYMBOLS)
        other.write(WriteBatch(bars=[behind]))
        other.db.close()
        assert count(dsn, "SELECT volume FROM underdog.ohlcv") == 450
    finally:
        standby_a.db.close()
        standby_b.db.close()
