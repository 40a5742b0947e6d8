"""End to end on the test database and Redis: both protocols through the fake bridge; the
`on_bar_close` hook runs after its bar is in `ohlcv`; the demo entry point."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from tests.conftest import RedisTarget
from tests.streaming.conftest import SYMBOLS, count, free_ports, stream_config, wait_until
from underdog.config import Settings
from underdog.market.bars import bars_from_ticks
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache
from underdog_streaming.batcher import Batcher, TickRow, WriteBatch
from underdog_streaming.demo import run_demo
from underdog_streaming.hooks import HookDispatcher
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.roller import ClosedBar
from underdog_streaming.sink import Sink, StreamDatabase
from underdog_streaming.spool import Spool
from underdog_streaming.stats import StreamStats
from underdog_streaming.writer import Writer

ON_BOTH_REDIS = True  # every test with `redis_target` also runs on a Redis Cluster


def frame(dsn: str, query: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.mark.parametrize("protocol", ["mql5", "dwx"])
def test_both_protocols_end_to_end(protocol: str, db: Database, dsn: str, prefix: str,
                                   redis_target: RedisTarget, bridge_and_streamer) -> None:
    offset = 2.0 if protocol == "mql5" else 0.0  # the broker's clock runs two hours ahead
    bridge, streamer = bridge_and_streamer(
        dsn, protocol=protocol, rate=400, seconds=2.5, server_utc_offset_hours=offset,
        bridge_options={"server_utc_offset_hours": offset}, bridge_bars=True)
    assert bridge.done.wait(15)
    assert wait_until(lambda: streamer.stats.ticks_received >= bridge.sent)
    # The bid/ask poll runs each second: on a loaded machine 2.5 s may not see both symbols.
    assert wait_until(lambda: count(dsn, "SELECT count(DISTINCT symbol) FROM underdog.quotes")
                      == len(SYMBOLS))
    summary = streamer.stop()
    sent = bridge.sent
    assert sent > 500 and summary["rejected"] == 0
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == sent == summary["written"]

    ticks = frame(dsn, "SELECT symbol, time, seq, bid, ask, available_at FROM underdog.tick_values"
                       " ORDER BY symbol, time, seq")
    assert ticks.groupby("symbol").size().to_dict() == bridge.sent_by_symbol
    now = datetime.now(UTC)  # the offset was taken off: tick times are UTC, i.e. just now
    assert now - timedelta(seconds=30) < ticks["time"].min() <= ticks["time"].max() < now
    assert (ticks["available_at"] >= ticks["time"]).all()  # known at receipt, not before

    bars = frame(dsn, "SELECT symbol, time, open, high, low, close, volume, spread, source"
                      " FROM underdog.ohlcv_values ORDER BY symbol, time")
    assert (bars["source"] == protocol).all()
    for symbol in SYMBOLS:
        mine = ticks[ticks["symbol"] == symbol]
        want = bars_from_ticks(mine, symbol=symbol)
        got = bars[bars["symbol"] == symbol].reset_index(drop=True)
        for column in ("open", "high", "low", "close", "volume"):
            assert got[column].tolist() == want[column].tolist(), column
        assert got["spread"].tolist() == pytest.approx(want["spread"].tolist(), rel=1e-9)

    quotes = frame(dsn, "SELECT symbol, bid, ask, spread, depth FROM underdog.quotes")
    assert set(quotes["symbol"]) == set(SYMBOLS)
    assert (quotes["spread"] - (quotes["ask"] - quotes["bid"])).abs().max() < 1e-12
    if protocol == "mql5":  # the fake MQL5 bridge offers a book; DWX has none
        assert all(len(d["bids"]) == 5 and len(d["asks"]) == 5 for d in quotes["depth"])
    else:
        assert quotes["depth"].isna().all()

    cache = LatestCache.from_url(redis_target.url, prefix=prefix, cluster=redis_target.cluster)
    for symbol in SYMBOLS:
        last = ticks[ticks["symbol"] == symbol].iloc[-1]
        quote = cache.get("quote", symbol)
        assert (quote["bid"], quote["ask"], quote["time"]) == (last["bid"], last["ask"],
                                                               last["time"])
    if protocol == "dwx":  # the real DWX server publishes only what TRACK_PRICES names
        assert bridge.commands == ["TRACK_PRICES;EURUSD;GBPUSD"]
    beat = cache.get("stream", "heartbeat")
    assert beat["running"] is False and beat["ticks_written"] == sent
    assert beat["protocol"] == protocol and beat["lag_s"] >= 0 and "msgs_per_s" in beat
    assert beat["last_tick_ts"] == ticks["time"].max()


def test_on_bar_close_runs_after_its_bar_is_in_ohlcv(db: Database, dsn: str,
                                                     tmp_path: Path) -> None:
    seen: list[tuple[str, datetime, int]] = []

    def hook(symbol: str, bar: ClosedBar) -> None:
        with psycopg.connect(dsn) as conn:
            stored = conn.execute("SELECT count(*) FROM underdog.ohlcv WHERE symbol = %s"
                                  " AND time = %s AND volume = %s",
                                  (symbol, bar.time, bar.volume)).fetchone()[0]
        seen.append((symbol, bar.time, stored))
        if symbol == "GBPUSD":
            raise RuntimeError("a hook that fails must not stop the next one")

    metrics, stats, batcher = StreamMetrics(), StreamStats(), Batcher()
    hooks = HookDispatcher(hook, metrics)
    hooks.start()
    config = stream_config(dsn, "unused", free_ports(), tmp_path / "spool")
    sink = Sink(StreamDatabase(dsn), source="mql5", symbols=SYMBOLS)
    writer = Writer(config, batcher, sink, Spool(config.spool_dir), metrics, stats, hooks)
    start = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    t0 = int(start.timestamp()) * 1_000_000
    rows = [TickRow(symbol, t0 + minute * 60_000_000 + k * 5_000_000, 0, base + k * 1e-5,
                    base + 2e-4, time.time_ns())
            for symbol, base, minutes in (("EURUSD", 1.1, 3), ("GBPUSD", 1.27, 2))
            for minute in range(minutes) for k in range(4)]
    batcher.add(rows)
    writer.step()  # ten minutes ago: every minute is closed, by a later tick or the clock
    hooks.stop()
    sink.db.close()
    expected = {("EURUSD", start + timedelta(minutes=m)) for m in range(3)}
    expected |= {("GBPUSD", start + timedelta(minutes=m)) for m in range(2)}
    assert {(s, t) for s, t, _ in seen} == expected
    assert all(stored == 1 for _, _, stored in seen)  # the bar was committed first
    assert metrics.hook_errors._value.get() == 2 and hooks.delivered == 5


def test_run_demo(db: Database, dsn: str, prefix: str, redis_target: RedisTarget) -> None:
    settings = Settings(database_url=dsn, redis_url=redis_target.url, redis_prefix=prefix,
                        redis_cluster=redis_target.cluster)
    result = run_demo(1.5, settings=settings, rate=200)
    assert result["sent"] > 100 and result["lost"] == 0
    assert result["written"] == result["sent"] == count(dsn, "SELECT count(*) FROM underdog.ticks")
    if redis_target.cluster:
        assert result["heartbeat_key"] == f"{{{prefix}:v1:stream}}:heartbeat"
    else:
        assert result["heartbeat_key"] == f"{prefix}:v1:stream:heartbeat"
    assert redis_target.client().exists(result["heartbeat_key"])


class RefusingSink:
    """A database that refuses every batch for a reason other than being down."""

    def write(self, batch) -> None:
        raise ValueError("a check constraint the fast path did not know")

    def minute_ticks(self, symbol: str, start_us: int) -> None:
        return None


def test_a_refused_batch_is_kept_aside_and_the_writer_goes_on(tmp_path: Path) -> None:
    metrics, stats, batcher = StreamMetrics(), StreamStats(), Batcher()
    hooks = HookDispatcher(lambda symbol, bar: None, metrics)
    config = stream_config("unused", "unused", free_ports(), tmp_path / "spool")
    writer = Writer(config, batcher, RefusingSink(), Spool(config.spool_dir), metrics, stats,
                    hooks)  # type: ignore[arg-type]
    now_us = time.time_ns() // 1000
    for i in range(2):
        batcher.add([TickRow("EURUSD", now_us + i, 0, 1.1, 1.1001, time.time_ns())])
        writer.step()
    poisoned = sorted((tmp_path / "spool" / "poison").glob("*.json"))
    assert stats.poisoned == len(poisoned) == 2 and stats.written == 0
    assert json.loads(poisoned[0].read_bytes())["ticks"][0][0] == "EURUSD"


def test_strict_writer_goes_through_writers_upsert(db: Database, dsn: str,
                                                  bridge_and_streamer) -> None:
    bridge, streamer = bridge_and_streamer(dsn, rate=200, seconds=1.5, strict_writer=True)
    assert bridge.done.wait(15)
    assert wait_until(lambda: streamer.stats.ticks_received >= bridge.sent)
    summary = streamer.stop()
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == bridge.sent == summary["written"]
    assert count(dsn, "SELECT sum(volume) FROM underdog.ohlcv") == bridge.sent
    assert count(dsn, "SELECT count(*) FROM underdog.quotes WHERE depth IS NOT NULL") > 0


def test_a_batch_written_twice_is_stored_once_the_first_rows_staying(db: Database,
                                                                     dsn: str) -> None:
    # The replay of a batch whose commit went through just before the connection died, or a
    # hot standby's batch of ticks the other streamer stored first: no stored tick changes.
    sink = Sink(StreamDatabase(dsn), source="mql5", symbols=SYMBOLS)
    now_ns = time.time_ns()
    first = [TickRow("EURUSD", now_ns // 1000 + i, 0, 1.1, 1.1001, now_ns) for i in range(5)]
    sink.write(WriteBatch(ticks=first))
    again = [row._replace(bid=1.2, ask=1.2001) for row in first]
    sink.write(WriteBatch(ticks=again + [first[0]._replace(time_us=first[0].time_us + 9)]))
    sink.db.close()
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == 6
    assert count(dsn, "SELECT count(*) FROM underdog.tick_values WHERE bid = 1.2") == 0
