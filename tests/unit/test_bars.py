from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underdog.market.bars import BAR_COLUMNS, bars_from_ticks

EXPECTED_DTYPES = {
    "time": "datetime64[ns, UTC]",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "int64",
    "spread": "float64",
}


def _ticks(rows: list[tuple[str, float, float]], tz: str | None = "UTC") -> pd.DataFrame:
    times = pd.DatetimeIndex(pd.to_datetime([row[0] for row in rows], format="ISO8601"))
    if tz is not None:
        times = times.tz_localize(tz)
    return pd.DataFrame(
        {
            "time": times,
            "bid": [row[1] for row in rows],
            "ask": [row[2] for row in rows],
        }
    )


def _minute(stamp: str) -> pd.Timestamp:
    return pd.Timestamp(stamp, tz="UTC")


def _assert_bar_dtypes(bars: pd.DataFrame) -> None:
    assert list(bars.columns) == ["symbol", *BAR_COLUMNS]
    assert {column: str(bars[column].dtype) for column in BAR_COLUMNS} == EXPECTED_DTYPES
    assert pd.api.types.is_string_dtype(bars["symbol"])


def test_bar_columns_constant() -> None:
    assert BAR_COLUMNS == ["time", "open", "high", "low", "close", "volume", "spread"]


def test_minute_boundaries_are_exact() -> None:
    ticks = _ticks(
        [
            ("2024-03-05 10:00:00.000", 1.10000, 1.10010),
            ("2024-03-05 10:00:30.000", 1.10020, 1.10026),
            ("2024-03-05 10:00:59.999", 1.09990, 1.10002),
            ("2024-03-05 10:01:00.000", 1.10005, 1.10013),
        ]
    )
    bars = bars_from_ticks(ticks, symbol="EURUSD")
    assert list(bars["time"]) == [_minute("2024-03-05 10:00"), _minute("2024-03-05 10:01")]
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1.10000,
        1.10020,
        1.09990,
        1.09990,
    )
    assert first["volume"] == 3
    assert first["spread"] == pytest.approx((0.00010 + 0.00006 + 0.00012) / 3, abs=1e-12)
    assert bars.iloc[1]["open"] == 1.10005
    assert bars.iloc[1]["volume"] == 1


def test_symbol_column_comes_first_and_dtypes_are_exact() -> None:
    bars = bars_from_ticks(_ticks([("2024-03-05 10:00:01", 1.1, 1.1001)]), symbol="GBPUSD")
    _assert_bar_dtypes(bars)
    assert bars["symbol"].tolist() == ["GBPUSD"]
    assert list(bars.index) == [0]


def test_minutes_without_ticks_produce_no_row() -> None:
    ticks = _ticks(
        [
            ("2024-03-05 10:00:10", 1.1000, 1.1001),
            ("2024-03-05 10:03:10", 1.1003, 1.1004),
        ]
    )
    bars = bars_from_ticks(ticks, symbol="EURUSD")
    assert list(bars["time"]) == [_minute("2024-03-05 10:00"), _minute("2024-03-05 10:03")]


def test_one_tick_minute_has_flat_ohlc() -> None:
    bars = bars_from_ticks(_ticks([("2024-03-05 10:00:42", 150.123, 150.135)]), symbol="USDJPY")
    bar = bars.iloc[0]
    assert bar["open"] == bar["high"] == bar["low"] == bar["close"] == 150.123
    assert bar["volume"] == 1
    assert bar["spread"] == pytest.approx(0.012, abs=1e-9)


def test_unsorted_input_gives_the_same_bars_as_sorted_input() -> None:
    rows = [
        ("2024-03-05 10:00:05", 1.1000, 1.1001),
        ("2024-03-05 10:00:20", 1.1004, 1.1005),
        ("2024-03-05 10:00:50", 1.0998, 1.0999),
        ("2024-03-05 10:01:10", 1.1010, 1.1012),
        ("2024-03-05 10:01:40", 1.1007, 1.1009),
    ]
    shuffled = [rows[i] for i in (3, 2, 4, 0, 1)]
    expected = bars_from_ticks(_ticks(rows), symbol="EURUSD")
    result = bars_from_ticks(_ticks(shuffled), symbol="EURUSD")
    pd.testing.assert_frame_equal(result, expected)
    assert result["open"].tolist() == [1.1000, 1.1010]
    assert result["close"].tolist() == [1.0998, 1.1007]


def test_ticks_sharing_a_timestamp_keep_input_order() -> None:
    ticks = _ticks(
        [
            ("2024-03-05 10:00:00", 1.2000, 1.2001),
            ("2024-03-05 10:00:00", 1.2005, 1.2006),
            ("2024-03-05 10:00:30", 1.2002, 1.2003),
            ("2024-03-05 10:00:30", 1.2001, 1.2002),
        ]
    )
    bar = bars_from_ticks(ticks, symbol="EURUSD").iloc[0]
    assert (bar["open"], bar["close"]) == (1.2000, 1.2001)


def test_empty_input_gives_empty_frame_with_columns_and_dtypes() -> None:
    empty = pd.DataFrame(
        {
            "time": pd.Series([], dtype="datetime64[ns, UTC]"),
            "bid": pd.Series([], dtype="float64"),
            "ask": pd.Series([], dtype="float64"),
        }
    )
    bars = bars_from_ticks(empty, symbol="EURUSD")
    assert len(bars) == 0
    _assert_bar_dtypes(bars)


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        bars_from_ticks(_ticks([("2024-03-05 10:00:05", 1.1, 1.1001)], tz=None), symbol="EURUSD")


def test_other_time_zones_are_converted_to_utc_minutes() -> None:
    ticks = _ticks([("2024-03-05 11:00:05", 1.1, 1.1001)], tz="Europe/Berlin")  # 10:00 UTC
    bars = bars_from_ticks(ticks, symbol="EURUSD")
    assert bars["time"].tolist() == [_minute("2024-03-05 10:00")]


def test_extra_columns_are_ignored() -> None:
    ticks = _ticks([("2024-03-05 10:00:05", 1.1, 1.1001)])
    with_extra = ticks.assign(bid_volume=3.0, flags="x")
    pd.testing.assert_frame_equal(
        bars_from_ticks(with_extra, symbol="EURUSD"), bars_from_ticks(ticks, symbol="EURUSD")
    )


def test_missing_column_is_rejected() -> None:
    ticks = _ticks([("2024-03-05 10:00:05", 1.1, 1.1001)]).drop(columns="ask")
    with pytest.raises(ValueError, match="ask"):
        bars_from_ticks(ticks, symbol="EURUSD")


def test_non_finite_prices_and_missing_times_are_rejected() -> None:
    ticks = _ticks([("2024-03-05 10:00:05", 1.1, 1.1001), ("2024-03-05 10:00:06", 1.1, 1.1)])
    with pytest.raises(ValueError, match="bid"):
        bars_from_ticks(ticks.assign(bid=[1.1, np.nan]), symbol="EURUSD")
    with pytest.raises(ValueError, match="NaT"):
        bars_from_ticks(ticks.assign(time=[ticks["time"][0], pd.NaT]), symbol="EURUSD")


def test_invalid_symbol_is_rejected() -> None:
    with pytest.raises(ValueError, match="symbol"):
        bars_from_ticks(_ticks([("2024-03-05 10:00:05", 1.1, 1.1001)]), symbol="eur/usd")


def test_matches_a_pandas_groupby_reference_on_random_ticks() -> None:
    rng = np.random.default_rng(7)
    count = 20_000
    start = pd.Timestamp("2024-03-05 08:00", tz="UTC").value
    time_ns = start + rng.integers(0, 300 * 60_000, size=count) * 1_000_000
    bid = np.round(1.1 + rng.normal(0, 1e-3, size=count), 5)
    ticks = pd.DataFrame(
        {
            "time": pd.to_datetime(time_ns, utc=True),
            "bid": bid,
            "ask": bid + rng.integers(1, 20, size=count) * 1e-5,
        }
    )
    ordered = ticks.sort_values("time", kind="stable")
    grouped = ordered.assign(spread=ordered["ask"] - ordered["bid"]).groupby(
        ordered["time"].dt.floor("min")
    )
    reference = pd.DataFrame(
        {
            "open": grouped["bid"].first(),
            "high": grouped["bid"].max(),
            "low": grouped["bid"].min(),
            "close": grouped["bid"].last(),
            "volume": grouped["bid"].size().astype("int64"),
            "spread": grouped["spread"].mean(),
        }
    )
    bars = bars_from_ticks(ticks, symbol="EURUSD").set_index("time")
    assert len(bars) == len(reference) == 300
    np.testing.assert_array_equal(bars.index.asi8, reference.index.as_unit("ns").asi8)
    for column in ["open", "high", "low", "close", "volume"]:
        np.testing.assert_array_equal(bars[column].to_numpy(), reference[column].to_numpy())
    np.testing.assert_allclose(bars["spread"].to_numpy(), reference["spread"].to_numpy(), rtol=1e-9)
