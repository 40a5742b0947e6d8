"""The StateVectorBuilder: 14 features per symbol and closed M1 bar, offline and online.

Offline and online differ only in how much input they load: both call `build`, which
computes every feature of the registry over the bars (with their warm-up) and the
point-in-time inputs, for decision time t = the bar's close. `Inputs.truncated(c)` keeps
only what was known at c: the lookahead audit rebuilds from it and compares.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from underdog.features.indicators import WARMUP_BARS
from underdog.features.pit import MACRO_MAX_AGE_NS, REGIME_MAX_AGE_NS, SENTIMENT_LOOKBACK_NS
from underdog.features.registry import (
    FEATURE_VERSION,
    FEATURES,
    MACRO_SERIES,
    Feature,
    FeatureContext,
)
from underdog.store.db import Database
from underdog.store.readers import UTC_US
from underdog.store.readers import bars as read_bars

BAR = timedelta(minutes=1)


@dataclass(frozen=True)
class Inputs:
    symbol: str
    bars: pd.DataFrame  # index: bar start; open, high, low, close, volume, spread
    scores: pd.DataFrame  # available_at, sentiment, confidence
    macro: pd.DataFrame  # series_id, time, available_at, value
    regimes: pd.DataFrame  # time, available_at, regime

    def truncated(self, cutoff: datetime) -> Inputs:
        """Only what was known at `cutoff`: bars closed by then, facts available by then."""
        cutoff = pd.Timestamp(cutoff)
        return replace(
            self,
            bars=self.bars[self.bars.index + BAR <= cutoff],
            scores=self.scores[self.scores["available_at"] <= cutoff],
            macro=self.macro[self.macro["available_at"] <= cutoff],
            regimes=self.regimes[self.regimes["available_at"] <= cutoff],
        )


def build(inputs: Inputs, start: datetime, end: datetime,
          features: tuple[Feature, ...] = FEATURES, *, complete_only: bool = True) -> pd.DataFrame:
    """One row per bar with start <= time < end whose features are all defined.

    Bars before `start` in `inputs.bars` are warm-up only. Columns: the features in registry
    order, then `available_at` (the bar's close: when the row could first be used).
    `complete_only=False` keeps rows with undefined (NaN) features, for the audits.
    """
    bars = inputs.bars.sort_index()
    closes = bars.index + BAR
    ctx = FeatureContext(
        bars=bars,
        at=closes.as_unit("ns").asi8,
        scores=inputs.scores.sort_values("available_at", kind="stable"),
        macro=inputs.macro,
        regimes=inputs.regimes.sort_values("available_at", kind="stable"),
    )
    names = [f.name for f in features]
    values = np.empty((len(bars), len(features)))
    for j, feature in enumerate(features):
        values[:, j] = np.asarray(feature.compute(ctx), dtype="float64")
    starts = bars.index.as_unit("ns").asi8
    keep = (starts >= pd.Timestamp(start).value) & (starts < pd.Timestamp(end).value)
    if complete_only:
        keep &= np.isfinite(values).all(axis=1)
    frame = pd.DataFrame(values[keep], index=bars.index[keep], columns=names)
    frame["available_at"] = closes[keep]
    return frame


def _bars_with_warmup(db: Database, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Bars of [start, end) plus the WARMUP_BARS bars before start (fewer if history is short),
    in one read: an index walk back from `start` finds where the warm-up begins."""
    with db.reader() as conn:
        row = conn.execute(
            "SELECT min(time) FROM (SELECT time FROM underdog.ohlcv WHERE symbol = %s"
            " AND time < %s ORDER BY time DESC LIMIT %s) warmup",
            (symbol, start, WARMUP_BARS), prepare=True,
        ).fetchone()
    first = row[0] if row and row[0] is not None else start
    return read_bars(db, symbol, first, end).drop(columns="available_at")


def _frames(db: Database, queries: list[tuple[str, list[str]]],
            params: dict) -> list[pd.DataFrame]:
    """Run small queries in one round trip (a pipeline); each result as a frame."""
    with db.reader() as conn:
        with conn.pipeline():
            cursors = [conn.execute(sql, params) for sql, _ in queries]
        results = [cur.fetchall() for cur in cursors]
    frames = []
    for rows, (_, columns) in zip(results, queries, strict=True):
        values = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
        data = {}
        for column, column_values in zip(columns, values, strict=True):
            if column in ("time", "available_at"):  # sent as epoch microseconds: no parsing
                micros = np.asarray(column_values, dtype="int64")
                data[column] = pd.DatetimeIndex(micros.view("M8[us]"), dtype=UTC_US)
            elif column in ("series_id", "regime"):
                data[column] = np.asarray(column_values, dtype=object)
            else:  # numbers; a NULL value becomes NaN
                data[column] = np.asarray(column_values, dtype="float64")
        frames.append(pd.DataFrame(data))
    return frames


def _us(column: str) -> str:
    """A timestamptz column as Unix epoch microseconds (int8), under its own name."""
    return f"(extract(epoch FROM {column}) * 1000000)::int8 AS {column}"


SCORES_SQL = (
    f"SELECT {_us('available_at')}, sentiment, confidence FROM underdog.sentiment_scores"
    " WHERE symbol = %(symbol)s AND available_at > %(scores_from)s"
    " AND available_at <= %(end)s ORDER BY available_at"
)
MACRO_SQL = (
    f"SELECT series_id, {_us('time')}, {_us('available_at')}, value"
    " FROM underdog.macro_indicators"
    " WHERE series_id = ANY(%(series)s) AND available_at <= %(end)s"
    " AND time >= %(macro_from)s"
)
# One prediction per time: the newest model version that labelled it.
REGIMES_SQL = (
    f"SELECT DISTINCT ON (time) {_us('time')}, {_us('available_at')}, regime"
    " FROM underdog.regime_predictions"
    " WHERE symbol = %(symbol)s AND available_at >= %(regimes_from)s"
    " AND available_at <= %(end)s ORDER BY time, model_version DESC"
)


def load_inputs(db: Database, symbol: str, start: datetime, end: datetime) -> Inputs:
    """Everything `build` needs for bars in [start, end): bars, then one round trip."""
    first_decision = pd.Timestamp(start) + BAR
    params = {"symbol": symbol, "end": pd.Timestamp(end),
              "scores_from": first_decision - pd.Timedelta(SENTIMENT_LOOKBACK_NS, "ns"),
              "regimes_from": first_decision - pd.Timedelta(REGIME_MAX_AGE_NS, "ns"),
              # Older observations are stale for every bar of the window (pit.latest_vintage).
              "macro_from": first_decision - pd.Timedelta(MACRO_MAX_AGE_NS, "ns"),
              "series": list(MACRO_SERIES.values())}
    scores, macro, regimes = _frames(db, [
        (SCORES_SQL, ["available_at", "sentiment", "confidence"]),
        (MACRO_SQL, ["series_id", "time", "available_at", "value"]),
        (REGIMES_SQL, ["time", "available_at", "regime"]),
    ], params)
    bars = _bars_with_warmup(db, symbol, start, end)
    return Inputs(symbol, bars, scores, macro, regimes)


def training_frame(db: Database, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The 14 features of every closed M1 bar of `symbol` in [start, end)."""
    return build(load_inputs(db, symbol, start, end), start, end)


def as_rows(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """A built frame as `state_vectors` rows (feature_version 1)."""
    rows = frame.reset_index()
    rows.insert(0, "symbol", symbol)
    rows.insert(2, "feature_version", FEATURE_VERSION)
    return rows
