"""Bar indicators of the state vector: pure functions of M1 bars, TA-Lib inside.

Each takes bars sorted by bar start (UTC) with open/high/low/close/volume columns (a frame
offline; online, a mapping of column -> numpy array, since building a frame would cost more
than the indicators) and returns one float per bar (a numpy array aligned with the rows); a
value at bar t uses bars up to and including t only. EMA-based indicators (ATR, MACD, RSI)
remember their whole history with weights that decay geometrically: after `WARMUP_BARS`
(600) bars the start's influence is below 1e-18, so a value computed from the last 600 bars
equals the full-history value to 1e-9.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import talib

WARMUP_BARS = 600

Bars = pd.DataFrame | Mapping[str, np.ndarray]


def column(bars: Bars, name: str) -> np.ndarray:
    """One column as float64 values, from a frame or a mapping of arrays."""
    return np.asarray(bars[name], dtype="float64")


def _close(bars: Bars) -> np.ndarray:
    return column(bars, "close")


def log_return(bars: Bars) -> np.ndarray:
    """ln(close_t / close_t-1): across a weekend, Friday's last close to Sunday's first."""
    close = _close(bars)
    out = np.full(len(close), np.nan)
    out[1:] = np.log(close[1:] / close[:-1])
    return out


def atr_pct(bars: Bars, period: int = 14) -> np.ndarray:
    """ATR(14) / close: the typical bar range as a fraction of price."""
    high, low = column(bars, "high"), column(bars, "low")
    close = _close(bars)
    return talib.ATR(high, low, close, timeperiod=period) / close


def macd_hist_pct(bars: Bars, fast: int = 12, slow: int = 26,
                  signal: int = 9) -> np.ndarray:
    """MACD(12, 26, 9) histogram / close."""
    close = _close(bars)
    _, _, hist = talib.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return hist / close


def rsi(bars: Bars, period: int = 14) -> np.ndarray:
    """RSI(14) / 100, in [0, 1]."""
    return talib.RSI(_close(bars), timeperiod=period) / 100.0


def bb_width(bars: Bars, period: int = 20, k: float = 2.0) -> np.ndarray:
    """Bollinger(20, 2) band width: (upper - lower) / middle."""
    upper, middle, lower = talib.BBANDS(_close(bars), timeperiod=period, nbdevup=k,
                                        nbdevdn=k, matype=talib.MA_Type.SMA)
    return (upper - lower) / middle


def volume_ratio(bars: Bars, window: int = 20) -> np.ndarray:
    """Tick volume / mean tick volume of the previous 20 bars (not including this one)."""
    volume = column(bars, "volume")
    out = np.full(len(volume), np.nan)
    if len(volume) > window:
        # Windowed sums from a running sum: a prefix of the bars gives a prefix of the sums.
        running = np.concatenate(([0.0], np.cumsum(volume)))
        previous = (running[window:-1] - running[:-window - 1]) / window
        out[window:] = volume[window:] / previous
    return out
