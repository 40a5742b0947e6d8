"""The replay clock: a fake bridge that continues a backfilled history's clock, and a
streamer that closes minutes by the ticks' own time, so the stream's bars are the
simulator's bars of those minutes (the demo's live part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from tests.streaming.conftest import SYMBOLS, wait_until
from underdog.market.simulated import simulate_bars
from underdog.sources.simulated import STRONG_EDGE
from underdog.store.db import Database
from underdog_streaming.config import StreamConfig
from underdog_streaming.fake_bridge import FakeBridge

FROM = datetime(2024, 3, 13, 8, tzinfo=UTC)  # a Wednesday morning, right after a history


def test_replayed_minutes_are_the_simulators_bars(db: Database, dsn: str,
                                                 bridge_and_streamer) -> None:
    age = (datetime.now(UTC) - FROM).total_seconds() + 86_400
    bridge, streamer = bridge_and_streamer(
        dsn, rate=2000, seconds=3.0, clock="ticks", max_age_s=age,
        bridge_options={"replay_from": FROM, "edge": STRONG_EDGE.strength, "seed": 7})
    assert bridge.done.wait(20)
    assert wait_until(lambda: streamer.stats.ticks_received >= bridge.sent)
    summary = streamer.stop()
    assert bridge.sent > 1000 and summary["rejected"] == 0 and summary["late"] == 0
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT symbol, time, open, high, low, close, volume"
                            " FROM underdog.ohlcv_values ORDER BY symbol, time").fetchall()
        quoted = [t for (t,) in conn.execute("SELECT time FROM underdog.quotes")]
    bars = pd.DataFrame(rows, columns=["symbol", "time", "open", "high", "low", "close",
                                       "volume"])
    for symbol in SYMBOLS:
        got = bars[bars["symbol"] == symbol].iloc[:-1]  # the last minute may be unfinished
        assert len(got) >= 5 and got["time"].min() == FROM
        want = simulate_bars(symbol, FROM, got["time"].max() + timedelta(minutes=1), seed=7,
                             edge=STRONG_EDGE)
        assert got["close"].tolist() == want["close"].tolist()
        assert got["volume"].tolist() == want["volume"].tolist()
    # The quote poller follows the replay clock: its snapshots are dated in the replayed
    # minutes, not at today's wall-clock time.
    last_minute_end = bars["time"].max() + timedelta(minutes=1)
    assert quoted and FROM <= min(quoted) and max(quoted) < last_minute_end


def test_replay_needs_mql5_and_the_clock_a_known_name() -> None:
    with pytest.raises(ValueError, match="replay clock needs mql5"):
        FakeBridge(protocol="dwx", replay_from=FROM)
    with pytest.raises(ValueError, match="clock must be"):
        StreamConfig(database_url="x", redis_url="y", symbols=("EURUSD",), clock="sundial")
