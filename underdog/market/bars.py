"""Ticks to M1 bars: the one roller shared by the historical backfill and the live streamer.

Contract of `bars_from_ticks` (both paths rely on it, so it is exact):

Input: a DataFrame with at least the columns
  time  timezone-aware timestamps (any zone; converted to UTC). Naive times -> ValueError,
        missing times (NaT) -> ValueError.
  bid   finite float prices (non-finite -> ValueError).
  ask   finite float prices (non-finite -> ValueError).
Other columns are ignored. Rows may come in any order. The function does not judge quote
sanity (crossed quotes, outliers): validation happens before ticks reach it.

Output: one row per UTC minute that holds at least one tick, sorted by time, index 0..n-1,
columns ["symbol"] + BAR_COLUMNS:
  symbol  the given symbol (str dtype)
  time    minute start, datetime64[ns, UTC]; a tick at exactly hh:mm:00.000 opens minute hh:mm.
          The bar is known (available) at time + 1 minute.
  open    bid of the earliest tick of the minute; ties on time keep input order
  high    max bid
  low     min bid
  close   bid of the latest tick of the minute; ties on time keep input order
  volume  number of ticks (int64): tick volume, not traded lots
  spread  mean of (ask - bid) over the minute's ticks, in price units (float64)
Minutes without ticks produce no row (no forward filling). Empty input (zero rows) gives an
empty frame with the same columns and dtypes. The live roller must pass only complete minutes:
the function cannot know whether more ticks of the last minute are still to come.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from underdog.reference.instruments import SYMBOL_PATTERN
from underdog.reference.schema import BAR_NS

BAR_COLUMNS = ["time", "open", "high", "low", "close", "volume", "spread"]
TICK_INPUT_COLUMNS = ("time", "bid", "ask")
# Array dtypes before framing; "time" is int64 nanoseconds since the epoch, UTC.
_ARRAY_DTYPES = {
    "time": np.int64,
    "open": np.float64,
    "high": np.float64,
    "low": np.float64,
    "close": np.float64,
    "volume": np.int64,
    "spread": np.float64,
}


def bars_from_ticks(ticks: pd.DataFrame, *, symbol: str) -> pd.DataFrame:
    """M1 bars (bid OHLC, tick volume, mean spread) from ticks; see the module docstring."""
    _check_symbol(symbol)
    _check_columns(ticks)
    if len(ticks) == 0:
        return _bars_frame(symbol, _empty_columns())
    time_ns = _utc_nanoseconds(ticks["time"])
    bid = _finite_prices(ticks["bid"], "bid")
    ask = _finite_prices(ticks["ask"], "ask")
    # Stable sort: ticks sharing a timestamp keep their arrival order for open/close.
    order = np.argsort(time_ns, kind="stable")
    return _bars_frame(symbol, _aggregate(time_ns[order], bid[order], ask[order]))


def _check_symbol(symbol: str) -> None:
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.match(symbol):
        raise ValueError(f"invalid symbol {symbol!r}: expected {SYMBOL_PATTERN.pattern}")


def _check_columns(ticks: pd.DataFrame) -> None:
    missing = [column for column in TICK_INPUT_COLUMNS if column not in ticks.columns]
    if missing:
        raise ValueError(f"ticks lack required columns {missing}")


def _utc_nanoseconds(times: pd.Series) -> np.ndarray:
    index = pd.DatetimeIndex(times)
    if index.tz is None:
        raise ValueError("tick times must be timezone-aware (UTC); got naive datetimes")
    if index.hasnans:
        raise ValueError("tick times contain missing values (NaT)")
    return index.tz_convert("UTC").as_unit("ns").asi8


def _finite_prices(prices: pd.Series, name: str) -> np.ndarray:
    values = prices.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        raise ValueError(f"ticks contain non-finite {name} prices")
    return values


def _aggregate(time_ns: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> dict[str, np.ndarray]:
    """Per-minute reductions over time-sorted ticks, without a Python loop."""
    # Floor division rounds toward -inf, so pre-1970 times floor correctly too.
    minute_ns = (time_ns // BAR_NS) * BAR_NS
    starts = np.flatnonzero(np.r_[True, minute_ns[1:] != minute_ns[:-1]])
    ends = np.r_[starts[1:], len(minute_ns)]
    volume = ends - starts
    return {
        "time": minute_ns[starts],
        "open": bid[starts],
        "high": np.maximum.reduceat(bid, starts),
        "low": np.minimum.reduceat(bid, starts),
        "close": bid[ends - 1],
        "volume": volume,
        "spread": np.add.reduceat(ask - bid, starts) / volume,
    }


def _empty_columns() -> dict[str, np.ndarray]:
    return {column: np.empty(0, dtype=_ARRAY_DTYPES[column]) for column in BAR_COLUMNS}


def _bars_frame(symbol: str, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The output frame; one constructor for empty and non-empty results keeps dtypes equal."""
    time_ns = columns["time"]
    frame = {
        "symbol": pd.Series([symbol] * len(time_ns), dtype="str"),
        "time": pd.to_datetime(time_ns, unit="ns", utc=True).as_unit("ns"),
    }
    for column in BAR_COLUMNS[1:]:
        frame[column] = columns[column].astype(_ARRAY_DTYPES[column], copy=False)
    return pd.DataFrame(frame)
