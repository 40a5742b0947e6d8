from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from underdog.market.bars import bars_from_ticks
from underdog.market.hours import is_open, trading_minutes
from underdog.market.simulated import simulate_bars
from underdog.reference.instruments import get_instrument
from underdog.reference.schema import TICK_COLUMNS
from underdog.sources import simulated
from underdog.sources.simulated import (
    simulate_ticks,
    simulated_regimes,
)

MONDAY = datetime(2024, 3, 4, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)
FRIDAY = MONDAY + timedelta(days=4)
SUNDAY = MONDAY + timedelta(days=6)
DAY = timedelta(days=1)


def _mid(ticks: pd.DataFrame) -> pd.Series:
    return (ticks["bid"] + ticks["ask"]) / 2


def _minute_log_returns(bars: pd.DataFrame, hours: range) -> np.ndarray:
    """1-minute log returns of bid closes whose two bars both lie in `hours`."""
    returns = np.log(bars["close"]).diff()
    hour = bars["time"].dt.hour
    inside = hour.isin(hours) & hour.shift().isin(hours)
    return returns[inside].dropna().to_numpy()


# ---------------------------------------------------------------- shape and contract


def test_ticks_have_the_documented_columns_and_dtypes() -> None:
    ticks = simulate_ticks("EURUSD", TUESDAY, TUESDAY + timedelta(hours=1))
    assert list(ticks.columns) == TICK_COLUMNS == ["time", "bid", "ask", "bid_volume", "ask_volume"]
    assert str(ticks["time"].dtype) == "datetime64[ns, UTC]"
    assert all(ticks[c].dtype == np.float64 for c in TICK_COLUMNS[1:])
    assert ticks["time"].is_monotonic_increasing
    assert (ticks[["bid_volume", "ask_volume"]] > 0).all().all()


def test_ticks_lie_in_the_half_open_interval() -> None:
    start = TUESDAY + timedelta(hours=9, minutes=13, seconds=7, milliseconds=250)
    end = start + timedelta(minutes=47, milliseconds=333)
    ticks = simulate_ticks("GBPUSD", start, end)
    assert len(ticks) > 100
    assert ticks["time"].min() >= pd.Timestamp(start)
    assert ticks["time"].max() < pd.Timestamp(end)


def test_empty_interval_gives_empty_frame_with_dtypes() -> None:
    ticks = simulate_ticks("EURUSD", TUESDAY, TUESDAY)
    assert len(ticks) == 0
    assert list(ticks.columns) == TICK_COLUMNS
    assert str(ticks["time"].dtype) == "datetime64[ns, UTC]"


def test_simulate_bars_equals_bars_from_simulated_ticks() -> None:
    end = TUESDAY + timedelta(hours=2)
    expected = bars_from_ticks(simulate_ticks("USDJPY", TUESDAY, end, seed=3), symbol="USDJPY")
    pd.testing.assert_frame_equal(simulate_bars("USDJPY", TUESDAY, end, seed=3), expected)


@pytest.mark.parametrize(
    ("symbol", "start", "end", "match"),
    [
        ("EURUSD", datetime(2024, 3, 5), TUESDAY + DAY, "timezone-aware"),
        ("EURUSD", TUESDAY, datetime(2024, 3, 6), "timezone-aware"),
        ("NOPE", TUESDAY, TUESDAY + DAY, "unknown symbol"),
        ("EURUSD", datetime(1999, 12, 1, tzinfo=UTC), datetime(2000, 2, 1, tzinfo=UTC), "2000"),
    ],
)
def test_invalid_arguments_raise_value_error(
    symbol: str, start: datetime, end: datetime, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        simulate_ticks(symbol, start, end)


# ---------------------------------------------------------------- determinism


def test_same_arguments_give_identical_ticks() -> None:
    first = simulate_ticks("EURUSD", TUESDAY, TUESDAY + DAY, seed=11)
    second = simulate_ticks("EURUSD", TUESDAY, TUESDAY + DAY, seed=11)
    pd.testing.assert_frame_equal(first, second)


def test_seed_and_symbol_change_the_ticks() -> None:
    base = simulate_ticks("EURUSD", TUESDAY, TUESDAY + timedelta(hours=1), seed=0)
    other_seed = simulate_ticks("EURUSD", TUESDAY, TUESDAY + timedelta(hours=1), seed=1)
    other_symbol = simulate_ticks("GBPUSD", TUESDAY, TUESDAY + timedelta(hours=1), seed=0)
    assert not base["time"].equals(other_seed["time"])
    assert not base["time"].equals(other_symbol["time"])


def test_a_day_does_not_depend_on_what_was_generated_before() -> None:
    day = datetime(2019, 6, 12, tzinfo=UTC)
    simulated._walk_block.cache_clear()
    cold = simulate_ticks("AUDUSD", day, day + DAY, seed=5)
    simulate_ticks("AUDUSD", day - timedelta(days=400), day - timedelta(days=398), seed=5)
    warm = simulate_ticks("AUDUSD", day, day + DAY, seed=5)
    pd.testing.assert_frame_equal(cold, warm)


def test_output_is_identical_across_processes_with_different_hash_seeds() -> None:
    code = (
        "from datetime import datetime, timezone; "
        "from underdog.sources.simulated import simulate_ticks; "
        "t = simulate_ticks('EURUSD', datetime(2024, 3, 5, 9, tzinfo=timezone.utc), "
        "datetime(2024, 3, 5, 10, tzinfo=timezone.utc), seed=2); "
        "print(len(t), repr(float(t.bid.sum())), t.time.iloc[-1].value)"
    )
    repo = str(Path(__file__).resolve().parents[2])
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": repo}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize(
    "split",
    [
        TUESDAY + DAY,  # day-aligned
        TUESDAY + timedelta(hours=13, minutes=37, seconds=12, milliseconds=345),  # mid-day
        FRIDAY + timedelta(hours=23),  # inside the weekend
    ],
    ids=["day-aligned", "mid-day", "weekend"],
)
def test_split_ranges_concatenate_to_the_whole(split: datetime) -> None:
    start, end = TUESDAY, split + 2 * DAY
    whole = simulate_ticks("EURUSD", start, end, seed=4)
    left = simulate_ticks("EURUSD", start, split, seed=4)
    right = simulate_ticks("EURUSD", split, end, seed=4)
    assert len(left) > 0
    assert len(right) > 0
    pd.testing.assert_frame_equal(pd.concat([left, right], ignore_index=True), whole)


# ---------------------------------------------------------------- market hours


def test_no_ticks_between_friday_22_and_sunday_22() -> None:
    ticks = simulate_ticks("EURUSD", FRIDAY, SUNDAY + DAY)
    times = ticks["time"]
    weekend = (times >= pd.Timestamp(FRIDAY + timedelta(hours=22))) & (
        times < pd.Timestamp(SUNDAY + timedelta(hours=22))
    )
    assert not weekend.any()
    assert is_open(pd.DatetimeIndex(times)).all()
    # Both sides of the weekend do trade.
    assert (times < pd.Timestamp(FRIDAY + timedelta(hours=22))).sum() > 10_000
    assert (times >= pd.Timestamp(SUNDAY + timedelta(hours=22))).sum() > 1_000


def test_saturday_is_empty() -> None:
    saturday = FRIDAY + DAY
    assert len(simulate_ticks("XAUUSD", saturday, saturday + DAY)) == 0


@pytest.mark.parametrize("day", [MONDAY, TUESDAY, FRIDAY, SUNDAY], ids=["mon", "tue", "fri", "sun"])
@pytest.mark.parametrize("symbol", ["EURUSD", "USDJPY"])
def test_every_trading_minute_has_a_bar(symbol: str, day: datetime) -> None:
    bars = simulate_bars(symbol, day, day + DAY, seed=9)
    expected = trading_minutes(day, day + DAY)
    assert len(expected) > 0
    assert bars["time"].tolist() == list(expected)


# ---------------------------------------------------------------- quotes


@pytest.mark.parametrize("symbol", ["EURUSD", "USDJPY", "XAUUSD"])
def test_quotes_are_on_the_point_grid_with_positive_spread(symbol: str) -> None:
    point = get_instrument(symbol).point
    ticks = simulate_ticks(symbol, TUESDAY, TUESDAY + DAY, seed=1)
    assert (ticks["ask"] > ticks["bid"]).all()
    for side in ("bid", "ask"):
        in_points = ticks[side].to_numpy() / point
        assert np.abs(in_points - np.rint(in_points)).max() < 1e-6


@pytest.mark.parametrize("symbol", ["EURUSD", "GBPUSD", "XAUUSD"])
def test_bars_are_valid_ohlc(symbol: str) -> None:
    bars = simulate_bars(symbol, MONDAY, MONDAY + 5 * DAY, seed=2)
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["spread"] > 0).all()
    assert (bars["volume"] >= 1).all()


def test_prices_stay_near_the_instrument_level_across_decades() -> None:
    for symbol in ("EURUSD", "USDJPY", "XAUUSD"):
        base = get_instrument(symbol).base_price
        for year in (2000, 2010, 2024, 2035):
            march_first = datetime(year, 3, 1, 12, tzinfo=UTC)
            day = march_first + timedelta(days=(2 - march_first.weekday()) % 7)  # a Wednesday
            ticks = simulate_ticks(symbol, day, day + timedelta(minutes=5))
            assert 0.5 * base < ticks["bid"].median() < 2.0 * base, (symbol, year)


def test_rollover_spreads_are_wider_than_london_spreads() -> None:
    bars = simulate_bars("EURUSD", MONDAY, MONDAY + 4 * DAY)
    hour = bars["time"].dt.hour
    assert bars["spread"][hour == 22].mean() > 2 * bars["spread"][hour.isin(range(8, 11))].mean()


# ---------------------------------------------------------------- continuity and gaps


def _boundary_jumps(symbol: str, days: list[datetime]) -> list[float]:
    """|log mid| jump from the last tick before each day to the day's first tick."""
    jumps = []
    for day in days:
        before = simulate_ticks(symbol, day - 3 * DAY, day)
        after = simulate_ticks(symbol, day, day + DAY)
        jumps.append(abs(np.log(_mid(after).iloc[0]) - np.log(_mid(before).iloc[-1])))
    return jumps


def test_weekdays_open_where_the_previous_day_closed() -> None:
    # Tuesday .. Friday and Monday (after the Sunday session) of three weeks.
    days = [MONDAY + timedelta(days=7 * w + d) for w in range(3) for d in range(5)]
    jumps = _boundary_jumps("EURUSD", days)
    assert max(jumps) < 3e-4  # a few pips at most: seconds of movement plus rounding


def test_sunday_opens_with_a_weekend_gap() -> None:
    sundays = [SUNDAY + timedelta(days=7 * w) for w in range(8)]
    weekday_jumps = _boundary_jumps("EURUSD", [TUESDAY + timedelta(days=7 * w) for w in range(8)])
    gaps = _boundary_jumps("EURUSD", sundays)
    assert min(gaps) > 0
    assert np.median(gaps) > 5 * np.median(weekday_jumps)


def test_walk_is_continuous_over_a_month_of_daily_closes() -> None:
    bars = simulate_bars(
        "EURUSD", datetime(2023, 5, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC)
    )
    closes = bars.set_index("time")["close"].resample("D").last().dropna()
    daily_returns = np.log(closes).diff().dropna()
    # Daily moves look like FX: no day moves more than ~8 normal-regime daily vols.
    assert daily_returns.abs().max() < 8 * get_instrument("EURUSD").daily_vol
    assert daily_returns.std() > 0.2 * get_instrument("EURUSD").daily_vol


# ---------------------------------------------------------------- sessions and regimes


def test_tick_counts_follow_the_sessions() -> None:
    bars = simulate_bars("EURUSD", MONDAY, MONDAY + 5 * DAY)
    for _, day_bars in bars.groupby(bars["time"].dt.date):
        hour = day_bars["time"].dt.hour
        asia = day_bars["volume"][hour.isin(range(0, 6))].mean()
        overlap = day_bars["volume"][hour.isin(range(12, 16))].mean()
        assert 10 <= asia <= 30
        assert 40 <= overlap <= 100


def test_overlap_is_more_volatile_than_asia() -> None:
    bars = simulate_bars("EURUSD", MONDAY, MONDAY + 5 * DAY, seed=6)
    overlap = _minute_log_returns(bars, range(12, 16)).std()
    asia = _minute_log_returns(bars, range(0, 6)).std()
    assert overlap > 1.8 * asia


def _days_in_regime(regimes: pd.Series, name: str, count: int) -> list[date]:
    days = [d for d, r in regimes.items() if r == name and d.weekday() < 4]
    assert len(days) >= count, f"not enough {name} weekdays"
    return days[:count]


def test_regimes_are_persistent_and_all_occur() -> None:
    regimes = simulated_regimes("EURUSD", date(2015, 1, 1), date(2025, 1, 1))
    assert set(regimes) == {"calm", "normal", "turbulent"}
    run_ids = (regimes != regimes.shift()).cumsum()
    assert regimes.groupby(run_ids).size().mean() > 5  # days per spell
    pd.testing.assert_series_equal(
        regimes, simulated_regimes("EURUSD", date(2015, 1, 1), date(2025, 1, 1))
    )


def test_turbulent_days_are_more_volatile_and_wider_than_calm_days() -> None:
    regimes = simulated_regimes("EURUSD", date(2023, 1, 1), date(2025, 1, 1))
    stats = {}
    for name in ("calm", "turbulent"):
        vols, spreads = [], []
        for day in _days_in_regime(regimes, name, 3):
            start = datetime.combine(day, datetime.min.time(), UTC)
            bars = simulate_bars("EURUSD", start, start + DAY)
            vols.append(_minute_log_returns(bars, range(0, 24)).std())
            spreads.append(bars["spread"].median())
        stats[name] = (np.mean(vols), np.mean(spreads))
    assert stats["turbulent"][0] > 2 * stats["calm"][0]
    assert stats["turbulent"][1] > 1.4 * stats["calm"][1]


# ---------------------------------------------------------------- speed


def test_one_symbol_day_simulates_well_under_half_a_second() -> None:
    timings = []
    for offset in range(3):
        start = TUESDAY + timedelta(days=7 * offset)
        began = time.perf_counter()
        simulate_bars("GBPUSD", start, start + DAY)
        timings.append(time.perf_counter() - began)
    assert min(timings) < 0.5


def test_even_a_nearly_silent_market_fills_every_open_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The guarantee must be structural, not a matter of high intensity.
    silent = np.full_like(simulated._TICKS_PER_MINUTE, 1e-3)
    monkeypatch.setattr(simulated, "_TICKS_PER_MINUTE", silent)
    bars = simulate_bars("EURUSD", TUESDAY, TUESDAY + DAY)
    assert bars["time"].tolist() == list(trading_minutes(TUESDAY, TUESDAY + DAY))
    assert bars["volume"].mean() < 1.1
