"""The state vector's inputs of a window, read in one statement (`underdog.features`
computes the features; this module only knows the tables).

One row of binary arrays, decoded with numpy (`copy_binary.decode_arrays`): one round trip,
no Python object per value. Within a source the aggregates see the same rows in the same
(unspecified) order; bars are sorted here, facts are left unsorted (the features sort them).
- bars: the `warmup` bars before `start` (fewer if history is short: one index walk back),
  then the bars of the window;
- the facts known by `end` that some bar of the window may use, each only as far back as
  the caller's `*_from` says (its join's lookback); a vintage without a value (a
  withdrawal) comes as NaN; one regime prediction per time, from the newest model version
  that labelled it;
- series and regimes come as their 1-based position in `series` and `regimes` (0 for a
  regime outside them, which the table's check forbids): no text array to decode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from underdog.store.db import Database
from underdog.store.offline.copy_binary import decode_arrays

BAR_COLUMNS = ("open", "high", "low", "close", "volume", "spread")


def _agg(*expressions: str) -> str:
    return ", ".join(f"array_send(array_agg({e}))" for e in expressions)


_BARS_OF = ("SELECT time, " + ", ".join(BAR_COLUMNS)
            + " FROM underdog.ohlcv_values WHERE symbol = %(symbol)s")
INPUTS_SQL = f"""
SELECT * FROM
  (SELECT {_agg("time", *BAR_COLUMNS)} FROM (
     ({_BARS_OF} AND time < %(start)s ORDER BY time DESC LIMIT %(warmup)s)
     UNION ALL
     ({_BARS_OF} AND time >= %(start)s AND time < %(end)s)) b) bars,
  (SELECT {_agg("available_at", "sentiment", "confidence")}
     FROM underdog.sentiment_scores WHERE symbol = %(symbol)s
     AND available_at > %(scores_from)s AND available_at <= %(end)s) scores,
  (SELECT {_agg("array_position(%(series)s::text[], series_id)", "time", "available_at",
                "coalesce(value, 'NaN')")}
     FROM underdog.macro_indicators WHERE series_id = ANY(%(series)s::text[])
     AND available_at <= %(end)s AND time >= %(macro_from)s) macro,
  (SELECT {_agg("time", "available_at",
                "coalesce(array_position(%(regimes)s::text[], regime), 0)")} FROM (
     SELECT DISTINCT ON (time) time, available_at, regime FROM underdog.regime_predictions
      WHERE symbol = %(symbol)s AND available_at >= %(regimes_from)s
      AND available_at <= %(end)s ORDER BY time, model_version DESC) r) regimes
"""
_TYPES = (
    "timestamptz", "float8", "float8", "float8", "float8", "int8", "float8",  # bars
    "timestamptz", "float8", "float8",  # scores
    "int4", "timestamptz", "timestamptz", "float8",  # macro
    "timestamptz", "timestamptz", "int4",  # regimes
)


@dataclass(frozen=True)
class FeatureInputs:
    """INPUTS_SQL's row, decoded. Times: int64 microseconds since the epoch (UTC)."""

    bar_time: np.ndarray  # sorted
    bars: dict[str, np.ndarray]  # BAR_COLUMNS: volume int64, the others float64
    scores: tuple[np.ndarray, np.ndarray, np.ndarray]  # available_at, sentiment, confidence
    macro: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # series position, time,
    #                                                               available_at, value
    regimes: tuple[np.ndarray, np.ndarray, np.ndarray]  # time, available_at, regime position


def feature_inputs(db: Database, symbol: str, start: datetime, end: datetime, *,
                   warmup: int, scores_from: datetime, macro_from: datetime,
                   regimes_from: datetime, series: Sequence[str],
                   regimes: Sequence[str]) -> FeatureInputs:
    """The inputs of `symbol`'s bars in [start, end) (see the module docstring)."""
    params = {"symbol": symbol, "start": start, "end": end, "warmup": warmup,
              "scores_from": scores_from, "macro_from": macro_from,
              "regimes_from": regimes_from, "series": list(series), "regimes": list(regimes)}
    with db.reader() as conn:
        row = conn.execute(INPUTS_SQL, params, binary=True, prepare=True).fetchone()
    cols = decode_arrays(row, _TYPES)
    order = np.argsort(cols[0], kind="stable")
    return FeatureInputs(
        bar_time=cols[0][order],
        bars={name: cols[1 + i][order] for i, name in enumerate(BAR_COLUMNS)},
        scores=(cols[7], cols[8], cols[9]),
        macro=(cols[10], cols[11], cols[12], cols[13]),
        regimes=(cols[14], cols[15], cols[16]),
    )


def last_bar_time(db: Database, symbol: str) -> datetime | None:
    """The start of `symbol`'s newest bar in `ohlcv`, or None."""
    with db.reader() as conn:
        row = conn.execute("SELECT max(time) FROM underdog.ohlcv WHERE symbol = %s",
                           (symbol,)).fetchone()
    return row[0] if row else None
