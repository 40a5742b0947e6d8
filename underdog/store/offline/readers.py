"""Readers for the serving path. They run on the read-only reader pool.

`bars` fetches a window as one row of binary arrays (one per column) and decodes them with
numpy: no Python object per value and no per-row protocol message, about twice as fast as a
binary COPY out, whose rows psycopg hands over one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
from psycopg.rows import dict_row

from underdog.reference.schema import BAR
from underdog.store.db import Database
from underdog.store.offline.copy_binary import decode_arrays
from underdog.store.offline.decimals import from_units

BAR_FIELDS = ("open", "high", "low", "close", "volume", "spread")
TIMEFRAMES: dict[str, tuple[str, timedelta]] = {
    "1m": ("underdog.ohlcv", BAR),
    "1h": ("underdog.ohlcv_1h", timedelta(hours=1)),
    "1d": ("underdog.ohlcv_1d", timedelta(days=1)),
}
# M1 prices are stored as units and a scale (revision 0012). `bars` reads the table itself
# (so do the bar packs, which fingerprint its rows by xmin/ctid) and divides in numpy, as the
# view underdog.ohlcv_values does in SQL (the same IEEE division: the same doubles); the
# server then only sends the integers, ~0.1 ms less a day than four divisions a row in SQL.
UNITS = frozenset({"underdog.ohlcv"})
UTC_US = pd.DatetimeTZDtype("us", "UTC")
_BAR_COLUMNS = ("time", "open", "high", "low", "close", "volume", "coalesce(spread, 'NaN')")
_BAR_TYPES = ("timestamptz", "float8", "float8", "float8", "float8", "int8", "float8")
_UNIT_COLUMNS = ("time", "open_units", "high_units", "low_units", "close_units", "volume",
                 "coalesce(spread, 'NaN')", "price_scale")
_UNIT_TYPES = ("timestamptz", "int8", "int8", "int8", "int8", "int8", "float8", "int2")

# Latest value per kind; the key is (symbol) or (symbol, source). "As known now": ordered by
# event time, then by when it became known (macro revisions, restated scores).
LATEST: dict[str, str] = {
    "bar": "SELECT symbol, time, open, high, low, close, volume, spread, source,"
           " time + interval '1 minute' AS available_at"
           " FROM underdog.ohlcv_values WHERE symbol = %(symbol)s ORDER BY time DESC LIMIT 1",
    "sentiment": "SELECT symbol, source, item_id, time, available_at, sentiment, confidence,"
                 " label, model FROM underdog.sentiment_scores"
                 " WHERE symbol = %(symbol)s AND (%(source)s::text IS NULL OR source = %(source)s)"
                 " ORDER BY available_at DESC, time DESC LIMIT 1",
    "macro": "SELECT series_id AS symbol, time, value, realtime_start, available_at, name, units"
             " FROM underdog.macro_indicators WHERE series_id = %(symbol)s"
             " ORDER BY time DESC, realtime_start DESC LIMIT 1",
    "regime": "SELECT symbol, time, model_version, regime, confidence, p_trend, p_range,"
              " p_transition, available_at FROM underdog.regime_predictions"
              " WHERE symbol = %(symbol)s ORDER BY time DESC, available_at DESC LIMIT 1",
    "state": "SELECT * FROM underdog.state_vectors WHERE symbol = %(symbol)s"
             " AND feature_version = 1 ORDER BY time DESC LIMIT 1",
}


def bars(db: Database, symbol: str, start: datetime, end: datetime,
         timeframe: str = "1m") -> pd.DataFrame:
    """Bars of one symbol with `start <= time < end`, indexed by bar start (UTC).

    `available_at` is when each bar was known: its close. `BarPacks.bars` serves whole M1
    days of the same frame from Redis.
    """
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"timeframe must be one of {sorted(TIMEFRAMES)}, got {timeframe!r}")
    relation, length = TIMEFRAMES[timeframe]
    with db.reader() as conn:
        row = conn.execute(bars_query(relation), (symbol, start, end), binary=True,
                           prepare=True).fetchone()
    return bar_frame(bar_arrays(row, relation), length)


def bars_query(relation: str, *leading: str) -> str:
    """One row: the `leading` expressions, then every bar column as one binary array.

    Unordered aggregates (one pass, no sort): every array holds the rows in the same order,
    and `bar_arrays` sorts them by time.
    """
    columns = _UNIT_COLUMNS if relation in UNITS else _BAR_COLUMNS
    arrays = (f"array_send(array_agg({c}))" for c in columns)
    return (f"SELECT {', '.join([*leading, *arrays])} FROM {relation}"
            " WHERE symbol = %s AND time >= %s AND time < %s")


def bar_arrays(payloads: Sequence[bytes | None], relation: str) -> dict[str, np.ndarray]:
    """The arrays of `bars_query(relation)`, sorted by time: `time` in Unix microseconds
    (int64), `volume` int64, prices and spread float64, all native-endian."""
    units = relation in UNITS
    arrays = decode_arrays(payloads, _UNIT_TYPES if units else _BAR_TYPES)
    order = np.argsort(arrays[0], kind="stable")
    out = {name: array[order] for name, array in zip(("time", *BAR_FIELDS),
                                                      arrays[:len(_BAR_TYPES)], strict=True)}
    if units:  # the last array: price_scale
        scale = arrays[-1][order]
        for name in BAR_FIELDS[:4]:
            out[name] = from_units(out[name], scale)
    return out


def bar_frame(arrays: Mapping[str, np.ndarray], length: timedelta) -> pd.DataFrame:
    """The frame `bars` returns, from `bar_arrays`-shaped arrays (no copy of the prices)."""
    us = arrays["time"].view("M8[us]")
    data = {name: arrays[name] for name in BAR_FIELDS}
    data["available_at"] = pd.DatetimeIndex(us + np.timedelta64(length), dtype=UTC_US)
    return pd.DataFrame(data, index=pd.DatetimeIndex(us, dtype=UTC_US, name="time"), copy=False)


def latest(db: Database, kind: str, symbol: str, source: str | None = None) -> dict | None:
    """The newest row of a kind for a symbol (or series), or None. A latest value must be
    fresh: on a replica, one that has what the primary had (`Database.fresh_reader`)."""
    with db.fresh_reader() as conn:
        return latest_on(conn, kind, symbol, source)


def latest_on(conn: psycopg.Connection, kind: str, symbol: str,
              source: str | None = None) -> dict | None:
    """`latest` on a connection the caller holds (the streamer's own)."""
    if kind not in LATEST:
        raise ValueError(f"kind must be one of {sorted(LATEST)}, got {kind!r}")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LATEST[kind], {"symbol": symbol, "source": source}).fetchone()
