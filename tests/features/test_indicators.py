"""Indicators checked by hand on small series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underdog.features import indicators as ind


def _bars(close, *, high=None, low=None, volume=None) -> pd.DataFrame:
    close = np.asarray(close, dtype="float64")
    index = pd.date_range("2024-03-05", periods=len(close), freq="min", tz="UTC")
    return pd.DataFrame({
        "open": close, "close": close,
        "high": close if high is None else high, "low": close if low is None else low,
        "volume": np.ones(len(close), dtype="int64") if volume is None else volume,
    }, index=index)


def _wilder_rsi(close: list[float], period: int) -> float:
    """RSI of the last bar, written out the way Wilder defines it."""
    gains = [max(b - a, 0.0) for a, b in zip(close, close[1:], strict=False)]
    losses = [max(a - b, 0.0) for a, b in zip(close, close[1:], strict=False)]
    avg_gain, avg_loss = sum(gains[:period]) / period, sum(losses[:period]) / period
    for g, loss in zip(gains[period:], losses[period:], strict=True):
        avg_gain = (avg_gain * (period - 1) + g) / period
        avg_loss = (avg_loss * (period - 1) + loss) / period
    return 100 - 100 / (1 + avg_gain / avg_loss)


def test_log_return() -> None:
    out = ind.log_return(_bars([1.0, 2.0, 1.0]))
    assert np.isnan(out[0])
    assert out[1:].tolist() == pytest.approx([np.log(2), -np.log(2)])


def test_rsi_matches_wilder_by_hand() -> None:
    close = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89,
             46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64]
    out = ind.rsi(_bars(close))
    assert out[-1] == pytest.approx(_wilder_rsi(close, 14) / 100, rel=1e-12)
    assert np.isnan(out[13]) and 0 < out[14] < 1


def test_rsi_of_a_rising_series_is_one() -> None:
    assert ind.rsi(_bars(np.arange(1.0, 40.0)))[-1] == 1.0


def test_atr_of_a_constant_range() -> None:
    close = np.full(40, 2.0)
    out = ind.atr_pct(_bars(close, high=close + 0.01, low=close - 0.01))
    assert out[-1] == pytest.approx(0.02 / 2.0, rel=1e-12)


def test_macd_of_a_straight_line_is_zero_and_defined_after_33_bars() -> None:
    out = ind.macd_hist_pct(_bars(np.linspace(1.0, 2.0, 60)))
    assert np.isnan(out[32]) and not np.isnan(out[33])
    assert abs(out[-1]) < 1e-12


def test_bollinger_width_by_hand() -> None:
    close = np.array([1.0, 2.0] * 10 + [1.0])
    out = ind.bb_width(_bars(close))
    window = close[-20:]
    mean, std = window.mean(), window.std()  # population std, as TA-Lib
    assert out[-1] == pytest.approx(4 * std / mean, rel=1e-9)


def test_volume_ratio_uses_the_previous_20_bars_only() -> None:
    volume = np.array([10] * 20 + [40, 10])
    out = ind.volume_ratio(_bars(np.ones(22), volume=volume))
    assert np.isnan(out[19])
    assert out[20] == 4.0  # 40 against 20 bars of 10: the bar itself is not in the mean
    assert out[21] == pytest.approx(10 / (19 * 10 + 40) * 20)
