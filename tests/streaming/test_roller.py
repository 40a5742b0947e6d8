"""The live roller: closed bars are `bars_from_ticks` of their minute, across minute and
weekend boundaries; the open minute's bar grows; late ticks are turned away; a restart
seeds or skips its first minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from underdog.market.bars import bars_from_ticks
from underdog.sources.simulated import simulate_ticks
from underdog_streaming.roller import ClosedBar, LateTick, LiveRoller

FRIDAY_CLOSE = datetime(2024, 1, 5, 22, 0, tzinfo=UTC)  # the FX week ends here ...
SUNDAY_OPEN = datetime(2024, 1, 7, 22, 0, tzinfo=UTC)  # ... and starts again here


def us(moment: datetime | pd.Timestamp) -> int:
    return int(pd.Timestamp(moment).value // 1000)


def feed(roller: LiveRoller, symbol: str, ticks: pd.DataFrame) -> list[ClosedBar]:
    closed = []
    for time, bid, ask in ticks[["time", "bid", "ask"]].itertuples(index=False):
        bar = roller.add(symbol, us(time), bid, ask)
        if bar is not None:
            closed.append(bar)
    return closed


def as_frame(bars: list[ClosedBar]) -> pd.DataFrame:
    return pd.DataFrame([{k: getattr(b, k) for k in
                          ("time", "open", "high", "low", "close", "volume", "spread")}
                         for b in bars])


def expected(ticks: pd.DataFrame, symbol: str) -> pd.DataFrame:
    bars = bars_from_ticks(ticks, symbol=symbol).drop(columns="symbol")
    bars["time"] = bars["time"].dt.as_unit("us")
    return bars


def assert_same(bars: list[ClosedBar], ticks: pd.DataFrame, symbol: str) -> None:
    got = as_frame(bars)
    got["time"] = pd.to_datetime(got["time"], utc=True).dt.as_unit("us")
    pd.testing.assert_frame_equal(got, expected(ticks, symbol), check_dtype=False)


def test_minutes_close_when_a_later_minute_starts() -> None:
    start = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)
    ticks = simulate_ticks("EURUSD", start, start + timedelta(minutes=10), seed=3)
    roller = LiveRoller()
    closed = feed(roller, "EURUSD", ticks)
    last_minute = ticks["time"].iloc[-1].floor("min")
    # Every minute but the last is closed, exactly as bars_from_ticks rolls it.
    assert_same(closed, ticks[ticks["time"] < last_minute], "EURUSD")
    assert roller.open_minute("EURUSD") == last_minute.to_pydatetime()


def test_weekend_gap_closes_friday_on_sundays_first_tick() -> None:
    friday = simulate_ticks("GBPUSD", FRIDAY_CLOSE - timedelta(minutes=3), FRIDAY_CLOSE, seed=4)
    sunday = simulate_ticks("GBPUSD", SUNDAY_OPEN, SUNDAY_OPEN + timedelta(minutes=2), seed=4)
    assert len(friday) and len(sunday)
    roller = LiveRoller()
    closed = feed(roller, "GBPUSD", friday)
    assert [b.time.minute for b in closed] == [57, 58]  # 21:59 is open: no later tick yet
    sunday_closed = feed(roller, "GBPUSD", sunday)
    # Sunday's first tick closes Friday 21:59; nothing is made up for the weekend.
    assert [b.time for b in sunday_closed] == [FRIDAY_CLOSE - timedelta(minutes=1), SUNDAY_OPEN]
    all_ticks = pd.concat([friday, sunday[sunday["time"] < SUNDAY_OPEN + timedelta(minutes=1)]])
    assert_same(closed + sunday_closed, all_ticks, "GBPUSD")


def test_weekend_with_the_clock_friday_closes_after_the_grace() -> None:
    friday = simulate_ticks("EURUSD", FRIDAY_CLOSE - timedelta(minutes=2), FRIDAY_CLOSE, seed=5)
    sunday = simulate_ticks("EURUSD", SUNDAY_OPEN, SUNDAY_OPEN + timedelta(minutes=2), seed=5)
    roller = LiveRoller()
    closed = feed(roller, "EURUSD", friday)
    grace = timedelta(seconds=5)
    assert [b.time.minute for b in closed] == [58]
    by_clock = roller.close_due(us(FRIDAY_CLOSE + grace))  # the streamer's cutoff: now - grace
    assert [b.time for b in by_clock] == [FRIDAY_CLOSE - timedelta(minutes=1)]
    assert roller.close_due(us(SUNDAY_OPEN)) == []  # a weekend of clock makes no bars
    closed += feed(roller, "EURUSD", sunday)
    assert closed[-1].time == SUNDAY_OPEN  # Sunday's ticks are not late: a new minute


def test_a_quiet_minute_closes_after_the_grace_period() -> None:
    roller = LiveRoller()
    t0 = us(datetime(2024, 3, 5, 10, 0, 30, tzinfo=UTC))
    roller.add("EURUSD", t0, 1.1, 1.1001)
    minute_end = t0 + 30_000_000
    assert roller.close_due(minute_end - 1) == []
    [bar] = roller.close_due(minute_end)
    assert (bar.open, bar.close, bar.volume) == (1.1, 1.1, 1)
    assert bar.available_at == bar.time + timedelta(minutes=1)
    with pytest.raises(LateTick):  # the bar is final now
        roller.add("EURUSD", t0 + 1, 1.2, 1.2001)
    assert roller.add("EURUSD", minute_end, 1.2, 1.2001) is None  # the next minute is fine


def test_late_tick_after_a_newer_minute() -> None:
    roller = LiveRoller()
    t0 = us(datetime(2024, 3, 5, 10, 0, tzinfo=UTC))
    roller.add("EURUSD", t0 + 5_000_000, 1.1, 1.1001)
    roller.add("EURUSD", t0 + 61_000_000, 1.1, 1.1001)
    with pytest.raises(LateTick):
        roller.add("EURUSD", t0 + 59_000_000, 1.1, 1.1001)
    roller.add("GBPUSD", t0 + 59_000_000, 1.2, 1.2001)  # another symbol has its own minutes


def test_the_open_minutes_bar_grows_and_equals_bars_from_ticks_so_far() -> None:
    rng = np.random.default_rng(11)
    t0 = us(datetime(2024, 3, 5, 10, 0, tzinfo=UTC))
    # Out of order within the minute, repeated times: the merge must keep bars_from_ticks's
    # stable-sort semantics (earliest time opens, latest closes, ties in arrival order).
    times = t0 + rng.integers(0, 60_000_000, 300) // 1000 * 1000
    times[50:60] = times[49]
    bids = np.round(1.1 + rng.normal(0, 1e-4, 300), 5)
    ticks = pd.DataFrame({"time": pd.to_datetime(times, unit="us", utc=True), "bid": bids,
                          "ask": bids + 0.0001})
    roller = LiveRoller()
    cuts = (1, 40, 55, 170, 300)
    for start, cut in zip((0, *cuts), cuts, strict=False):
        for time, bid, ask in ticks.iloc[start:cut].itertuples(index=False):
            roller.add("EURUSD", us(time), bid, ask)
        [bar] = roller.provisional()
        want = expected(ticks.iloc[:cut], "EURUSD").iloc[0]
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            want["open"], want["high"], want["low"], want["close"], want["volume"])
        assert bar.spread == pytest.approx(want["spread"], rel=1e-12)
        assert roller.provisional() == []  # nothing new, nothing to upsert


def test_a_restart_seeds_its_first_minute_or_leaves_it_alone() -> None:
    t0 = us(datetime(2024, 3, 5, 10, 0, tzinfo=UTC))
    earlier = ([t0 + 1_000_000, t0 + 2_000_000], [1.10, 1.12], [1.1001, 1.1201])
    seeded = LiveRoller(seed=lambda symbol, start: earlier if start == t0 else None)
    seeded.add("EURUSD", t0 + 30_000_000, 1.11, 1.1101)
    [bar] = seeded.close_due(t0 + 60_000_000)
    assert (bar.open, bar.high, bar.close, bar.volume) == (1.10, 1.12, 1.11, 3)

    unknown = LiveRoller(seed=lambda symbol, start: None)  # database down at the restart
    unknown.add("EURUSD", t0 + 30_000_000, 1.11, 1.1101)
    assert unknown.provisional() == []  # a partial minute is never upserted ...
    assert unknown.close_due(t0 + 60_000_000) == []  # ... nor reported closed
    unknown.add("EURUSD", t0 + 61_000_000, 1.12, 1.1201)  # the next minute is whole
    assert [b.volume for b in unknown.provisional()] == [1]


def test_a_seed_counts_no_tick_the_roller_also_receives() -> None:
    """A hot standby joining mid-minute seeds from `ticks`, where the other streamer has
    already stored ticks this one receives too: those are not counted twice."""
    t0 = us(datetime(2024, 3, 5, 10, 0, tzinfo=UTC))
    stored = ([t0 + 1_000_000, t0 + 2_000_000, t0 + 30_000_000, t0 + 31_000_000],
              [1.10, 1.12, 1.11, 1.13], [1.1001, 1.1201, 1.1101, 1.1301])
    joining = LiveRoller(seed=lambda symbol, start: stored)
    joining.add("EURUSD", t0 + 30_000_000, 1.11, 1.1101)  # its own feed from here on
    joining.add("EURUSD", t0 + 31_000_000, 1.13, 1.1301)
    [bar] = joining.close_due(t0 + 60_000_000)
    assert (bar.open, bar.high, bar.close, bar.volume) == (1.10, 1.13, 1.13, 4)
