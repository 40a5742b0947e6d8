"""The StateVectorBuilder: 14 features per symbol and closed M1 bar, offline and online.

Offline and online differ only in how much input they load: both load it with one
statement (`load_arrays`) and compute every feature of the registry (`compute`) over the
bars (with their warm-up) and the point-in-time inputs, for decision time t = the bar's
close. Offline, `build` works on frames (`Inputs`) that the audits can cut; online,
`latest_values` works on the decoded arrays.
`Inputs.truncated(c)` keeps only what was known at c: the lookahead audit rebuilds from it
and compares.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from underdog.features.indicators import WARMUP_BARS
from underdog.features.pit import (
    MACRO_MAX_AGE_NS,
    REGIME_MAX_AGE_NS,
    REGIMES,
    SENTIMENT_LOOKBACK_NS,
    as_ns,
)
from underdog.features.registry import (
    FEATURE_VERSION,
    FEATURES,
    MACRO_SERIES,
    Feature,
    FeatureContext,
)
from underdog.schema import BAR, BAR_US
from underdog.store.db import Database
from underdog.store.offline.copy_binary import PG_EPOCH_US, decode_array
from underdog.store.offline.readers import UTC_US


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


def compute(ctx: FeatureContext, features: tuple[Feature, ...] = FEATURES) -> np.ndarray:
    """(bars, features) values: every feature of the registry, computed the one way."""
    values = np.empty((len(ctx.at), len(features)))
    for j, feature in enumerate(features):
        values[:, j] = np.asarray(feature.compute(ctx), dtype="float64")
    return values


def build(inputs: Inputs, start: datetime, end: datetime,
          features: tuple[Feature, ...] = FEATURES, *, complete_only: bool = True) -> pd.DataFrame:
    """One row per bar with start <= time < end whose features are all defined.

    Bars before `start` in `inputs.bars` are warm-up only. Columns: the features in registry
    order, then `available_at` (the bar's close: when the row could first be used).
    `complete_only=False` keeps rows with undefined (NaN) features, for the audits.
    """
    bars = inputs.bars.sort_index()
    closes = bars.index + BAR
    scores, macro, regimes = inputs.scores, inputs.macro, inputs.regimes
    ctx = FeatureContext.of(
        bars, closes.as_unit("ns").asi8,
        scores=(as_ns(scores["available_at"]), _floats(scores["sentiment"]),
                _floats(scores["confidence"])),
        macro=(macro["series_id"].to_numpy(dtype=object), as_ns(macro["time"]),
               as_ns(macro["available_at"]), _floats(macro["value"])),
        regimes=(as_ns(regimes["time"]), as_ns(regimes["available_at"]),
                 regimes["regime"].to_numpy(dtype=object)),
    )
    values = compute(ctx, features)
    names = [f.name for f in features]
    starts = bars.index.as_unit("ns").asi8
    keep = (starts >= pd.Timestamp(start).value) & (starts < pd.Timestamp(end).value)
    if complete_only:
        keep &= np.isfinite(values).all(axis=1)
    frame = pd.DataFrame(values[keep], index=bars.index[keep], columns=names)
    frame["available_at"] = closes[keep]
    return frame


def _floats(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _agg(*expressions: str) -> str:
    return ", ".join(f"array_send(array_agg({e}))" for e in expressions)


BAR_COLUMNS = ("open", "high", "low", "close", "volume", "spread")
_BARS_OF = ("SELECT time, " + ", ".join(BAR_COLUMNS)
            + " FROM underdog.ohlcv WHERE symbol = %(symbol)s")
# Everything `build` needs for the bars of [start, end), in one statement returning one row
# of binary arrays: one round trip, no Python object per value. Within a source, the
# aggregates see the same rows in the same (unspecified) order; sorting happens after.
# - bars: the WARMUP_BARS bars before `start` (fewer if history is short: one index walk
#   back), then the bars of the window;
# - the facts known by `end` that some bar of the window may use, each only as far back as
#   its join looks (pit: sentiment lookback, macro and regime staleness); a vintage without
#   a value (a withdrawal) comes as NaN; one regime prediction per time, from the newest
#   model version that labelled it;
# - series and regimes come as their position in %(series)s and %(regimes)s (1-based; 0 for
#   a regime outside REGIMES, which the table's check forbids): no text array to decode.
INPUTS_SQL = f"""
SELECT * FROM
  (SELECT {_agg("time", *BAR_COLUMNS)} FROM (
     ({_BARS_OF} AND time < %(start)s ORDER BY time DESC LIMIT {WARMUP_BARS})
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
_INPUT_TYPES = (
    "timestamptz", "float8", "float8", "float8", "float8", "int8", "float8",  # bars
    "timestamptz", "float8", "float8",  # scores
    "int4", "timestamptz", "timestamptz", "float8",  # macro
    "timestamptz", "timestamptz", "int4",  # regimes
)
_SERIES_IDS = np.array(["", *MACRO_SERIES.values()], dtype=object)
_REGIME_NAMES = np.array(["", *REGIMES], dtype=object)
_US = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class InputArrays:
    """INPUTS_SQL's row, decoded. Times: int64 microseconds since the epoch (UTC). Bars are
    sorted by time; facts come in no particular order (`FeatureContext.of` sorts them)."""

    bar_time: np.ndarray
    bars: dict[str, np.ndarray]  # BAR_COLUMNS: volume int64, the others float64
    scores: tuple[np.ndarray, np.ndarray, np.ndarray]  # available_at, sentiment, confidence
    macro: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # series, time, avail., value
    regimes: tuple[np.ndarray, np.ndarray, np.ndarray]  # time, available_at, regime

    def context(self) -> FeatureContext:
        """The feature context of these bars, each decided at its close."""
        score_at, sentiment, confidence = self.scores
        series, observed, available, value = self.macro
        regime_time, regime_at, regime = self.regimes
        return FeatureContext.of(
            self.bars, (self.bar_time + BAR_US) * 1000,  # ns, as FeatureContext wants
            scores=(score_at * 1000, sentiment, confidence),
            macro=(series, observed * 1000, available * 1000, value),
            regimes=(regime_time * 1000, regime_at * 1000, regime),
        )


def load_arrays(db: Database, symbol: str, start: datetime, end: datetime) -> InputArrays:
    """The inputs of the bars in [start, end) (INPUTS_SQL): one statement, one round trip."""
    first_decision = start + BAR
    params = {
        "symbol": symbol, "start": start, "end": end,
        "scores_from": first_decision - SENTIMENT_LOOKBACK_NS // 1000 * _US,
        "regimes_from": first_decision - REGIME_MAX_AGE_NS // 1000 * _US,
        # Older observations are stale for every bar of the window (pit.latest_vintage).
        "macro_from": first_decision - MACRO_MAX_AGE_NS // 1000 * _US,
        "series": list(MACRO_SERIES.values()), "regimes": list(REGIMES),
    }
    with db.reader() as conn:
        row = conn.execute(INPUTS_SQL, params, binary=True, prepare=True).fetchone()
    cols = []
    for payload, pgtype in zip(row, _INPUT_TYPES, strict=True):
        values = decode_array(payload, pgtype)
        if pgtype == "timestamptz":
            cols.append(values.astype("int64") + PG_EPOCH_US)
        elif pgtype == "int8":
            cols.append(values.astype("int64"))
        elif pgtype == "int4":
            cols.append(values.astype("intp"))
        else:
            cols.append(values.astype("float64"))
    order = np.argsort(cols[0], kind="stable")
    return InputArrays(
        bar_time=cols[0][order],
        bars={name: cols[1 + i][order] for i, name in enumerate(BAR_COLUMNS)},
        scores=(cols[7], cols[8], cols[9]),
        macro=(_SERIES_IDS[cols[10]], cols[11], cols[12], cols[13]),
        regimes=(cols[14], cols[15], _REGIME_NAMES[cols[16]]),
    )


def _times(us: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(us.view("M8[us]"), dtype=UTC_US)


def load_inputs(db: Database, symbol: str, start: datetime, end: datetime) -> Inputs:
    """Everything `build` needs for bars in [start, end), as frames: one round trip."""
    a = load_arrays(db, symbol, pd.Timestamp(start), pd.Timestamp(end))
    bars = pd.DataFrame(a.bars, index=_times(a.bar_time).rename("time"), copy=False)
    score_at, sentiment, confidence = a.scores
    by_arrival = np.argsort(score_at, kind="stable")
    scores = pd.DataFrame({"available_at": _times(score_at[by_arrival]),
                           "sentiment": sentiment[by_arrival],
                           "confidence": confidence[by_arrival]})
    series, observed, available, value = a.macro
    macro = pd.DataFrame({"series_id": series, "time": _times(observed),
                          "available_at": _times(available), "value": value})
    regime_time, regime_at, regime = a.regimes
    by_time = np.argsort(regime_time, kind="stable")
    regimes = pd.DataFrame({"time": _times(regime_time[by_time]),
                            "available_at": _times(regime_at[by_time]),
                            "regime": regime[by_time]})
    return Inputs(symbol, bars, scores, macro, regimes)


def latest_values(db: Database, symbol: str,
                  bar_time: datetime) -> tuple[datetime, np.ndarray] | None:
    """(bar start in UTC, features in registry order) of the bar starting at `bar_time`,
    from the WARMUP_BARS bars before it and the facts known at its close: the online path.
    The same features as `build`, on arrays (one row is not worth a frame). None without
    that bar, or without enough history for every feature."""
    a = load_arrays(db, symbol, bar_time, bar_time + BAR)
    if len(a.bar_time) == 0 or a.bar_time[-1] != pd.Timestamp(bar_time).value // 1000:
        return None
    values = compute(a.context())[-1]
    if not np.isfinite(values).all():
        return None
    return EPOCH + int(a.bar_time[-1]) * _US, values


def training_frame(db: Database, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The 14 features of every closed M1 bar of `symbol` in [start, end)."""
    return build(load_inputs(db, symbol, start, end), start, end)


def as_rows(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """A built frame as `state_vectors` rows (feature_version 1)."""
    rows = frame.reset_index()
    rows.insert(0, "symbol", symbol)
    rows.insert(2, "feature_version", FEATURE_VERSION)
    return rows
