"""Readers for the serving path. They run on the read-only reader pool.

`bars` fetches a window as a binary COPY and decodes it with numpy: no Python object per
value, which is what keeps a one-day read of M1 bars around a millisecond.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from psycopg.rows import dict_row

from underdog.store.copy_binary import PG_EPOCH_US, decode_fixed
from underdog.store.db import Database

BAR_FIELDS = ("open", "high", "low", "close", "volume", "spread")
TIMEFRAMES: dict[str, tuple[str, timedelta]] = {
    "1m": ("underdog.ohlcv", timedelta(minutes=1)),
    "1h": ("underdog.ohlcv_1h", timedelta(hours=1)),
    "1d": ("underdog.ohlcv_1d", timedelta(days=1)),
}
_BAR_TYPES = ("timestamptz", "float8", "float8", "float8", "float8", "int8", "float8")

# Latest value per kind; the key is (symbol) or (symbol, source). "As known now": ordered by
# event time, then by when it became known (macro revisions, restated scores).
LATEST: dict[str, str] = {
    "bar": "SELECT symbol, time, open, high, low, close, volume, spread, source,"
           " time + interval '1 minute' AS available_at"
           " FROM underdog.ohlcv WHERE symbol = %(symbol)s ORDER BY time DESC LIMIT 1",
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

    `available_at` is when each bar was known: its close.
    """
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"timeframe must be one of {sorted(TIMEFRAMES)}, got {timeframe!r}")
    relation, length = TIMEFRAMES[timeframe]
    query = (
        "COPY (SELECT time, open, high, low, close, volume, coalesce(spread, 'NaN')"
        f" FROM {relation} WHERE symbol = %s AND time >= %s AND time < %s ORDER BY time)"
        " TO STDOUT (FORMAT BINARY)"
    )
    with db.reader() as conn, conn.cursor() as cur:
        with cur.copy(query, (symbol, start, end)) as copy:
            payload = b"".join(bytes(block) for block in copy)
        conn.rollback()  # end the read-only transaction the COPY opened
    rows = decode_fixed(payload, _BAR_TYPES)
    index = pd.DatetimeIndex(
        pd.to_datetime(rows["c0"].astype("int64") + PG_EPOCH_US, unit="us", utc=True),
        name="time",
    )
    frame = pd.DataFrame(
        {name: rows[f"c{i + 1}"].astype("int64" if name == "volume" else "float64")
         for i, name in enumerate(BAR_FIELDS)},
        index=index,
    )
    frame["available_at"] = index + length
    return frame


def latest(db: Database, kind: str, symbol: str, source: str | None = None) -> dict | None:
    """The newest row of a kind for a symbol (or series), or None."""
    if kind not in LATEST:
        raise ValueError(f"kind must be one of {sorted(LATEST)}, got {kind!r}")
    with db.reader() as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(LATEST[kind], {"symbol": symbol, "source": source}).fetchone()
        conn.rollback()
    return row
