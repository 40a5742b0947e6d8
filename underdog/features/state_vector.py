"""The StateVectorBuilder: 14 features per symbol and closed M1 bar, offline and online.

Offline and online differ only in how much input they load: both load it with one
statement (`underdog.store.offline.feature_inputs`) as numpy arrays (`Inputs`) and compute
every feature of the registry (`compute`) over the bars (with their warm-up) and the
point-in-time inputs, for decision time t = the bar's close; no frame sits in between.
Offline, `build` returns the window's rows as a frame; online, `latest_values` one row.
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
)
from underdog.features.registry import (
    FEATURE_VERSION,
    FEATURES,
    MACRO_SERIES,
    Feature,
    FeatureContext,
)
from underdog.reference.schema import BAR, BAR_NS
from underdog.store.db import Database
from underdog.store.offline.feature_inputs import BAR_COLUMNS, feature_inputs
from underdog.store.offline.readers import UTC_US

_SERIES_IDS = np.array(["", *MACRO_SERIES.values()], dtype=object)
_REGIME_NAMES = np.array(["", *REGIMES], dtype=object)
_NO_TIMES = np.empty(0, dtype="int64")
_US = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Inputs:
    """What `build` needs for a window, as arrays. Times: int64 ns since the epoch (UTC).
    Bars are sorted by start; facts come in no particular order (`FeatureContext.of` sorts
    them)."""

    symbol: str
    times: pd.DatetimeIndex  # bar starts (UTC), sorted
    bars: dict[str, np.ndarray]  # BAR_COLUMNS: volume int64, the others float64
    scores: tuple[np.ndarray, np.ndarray, np.ndarray]  # available_at, sentiment, confidence
    macro: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # series_id, time,
    #                                                               available_at, value
    regimes: tuple[np.ndarray, np.ndarray, np.ndarray]  # time, available_at, regime

    @classmethod
    def of_bars(cls, symbol: str, bars: pd.DataFrame) -> Inputs:
        """Bars alone (indexed by start, BAR_COLUMNS), without sentiment, macro or regimes."""
        bars = bars.sort_index()
        none = np.empty(0)
        return cls(symbol, pd.DatetimeIndex(bars.index),
                   {c: bars[c].to_numpy() for c in BAR_COLUMNS},
                   (_NO_TIMES, none, none),
                   (np.empty(0, dtype=object), _NO_TIMES, _NO_TIMES, none),
                   (_NO_TIMES, _NO_TIMES, np.empty(0, dtype=object)))

    @property
    def closes_ns(self) -> np.ndarray:
        """Each bar's close (its decision time), in ns."""
        return self.times.as_unit("ns").asi8 + BAR_NS

    def context(self) -> FeatureContext:
        """The feature context of these bars, each decided at its close."""
        return FeatureContext.of(self.bars, self.closes_ns, scores=self.scores,
                                 macro=self.macro, regimes=self.regimes)

    def truncated(self, cutoff: datetime) -> Inputs:
        """Only what was known at `cutoff`: bars closed by then, facts available by then."""
        c = pd.Timestamp(cutoff).as_unit("ns").value
        bars = self.closes_ns <= c
        return replace(
            self,
            times=self.times[bars],
            bars={name: values[bars] for name, values in self.bars.items()},
            scores=_rows(self.scores, self.scores[0] <= c),
            macro=_rows(self.macro, self.macro[2] <= c),
            regimes=_rows(self.regimes, self.regimes[1] <= c),
        )


def _rows(columns: tuple[np.ndarray, ...], keep: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(column[keep] for column in columns)


def compute(ctx: FeatureContext, features: tuple[Feature, ...] = FEATURES) -> np.ndarray:
    """(bars, features) values: every feature of the registry, computed the one way."""
    values = np.empty((len(ctx.at), len(features)))
    for j, feature in enumerate(features):
        values[:, j] = np.asarray(feature.compute(ctx), dtype="float64")
    return values


def build(inputs: Inputs, start: datetime, end: datetime,
          features: tuple[Feature, ...] = FEATURES, *, complete_only: bool = True) -> pd.DataFrame:
    """One row per bar with start <= time < end whose features are all defined.

    Bars before `start` in `inputs` are warm-up only. Columns: the features in registry
    order, then `available_at` (the bar's close: when the row could first be used).
    `complete_only=False` keeps rows with undefined (NaN) features, for the audits
    (`complete` then drops them).
    """
    values = compute(inputs.context(), features)
    starts = inputs.times.as_unit("ns").asi8
    keep = (starts >= pd.Timestamp(start).value) & (starts < pd.Timestamp(end).value)
    if complete_only:
        keep &= np.isfinite(values).all(axis=1)
    frame = pd.DataFrame(values[keep], index=inputs.times[keep],
                         columns=[f.name for f in features])
    frame["available_at"] = inputs.times[keep] + BAR
    return frame


def complete(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a `build(..., complete_only=False)` frame whose features are all defined:
    what `build` returns by default."""
    values = frame.drop(columns="available_at").to_numpy(dtype="float64")
    return frame[np.isfinite(values).all(axis=1)]


def load_inputs(db: Database, symbol: str, start: datetime, end: datetime) -> Inputs:
    """Everything `build` needs for the bars in [start, end): the WARMUP_BARS bars before
    `start`, the window's bars and the facts known by `end` that one of them may use
    (each only as far back as its join looks: pit): one statement, one round trip."""
    first_decision = pd.Timestamp(start) + BAR
    a = feature_inputs(
        db, symbol, pd.Timestamp(start), pd.Timestamp(end), warmup=WARMUP_BARS,
        scores_from=first_decision - SENTIMENT_LOOKBACK_NS // 1000 * _US,
        regimes_from=first_decision - REGIME_MAX_AGE_NS // 1000 * _US,
        # Older observations are stale for every bar of the window (pit.latest_vintage).
        macro_from=first_decision - MACRO_MAX_AGE_NS // 1000 * _US,
        series=list(MACRO_SERIES.values()), regimes=list(REGIMES),
    )
    score_at, sentiment, confidence = a.scores
    series, observed, available, value = a.macro
    regime_time, regime_at, regime = a.regimes
    return Inputs(
        symbol, pd.DatetimeIndex(a.bar_time.view("M8[us]"), dtype=UTC_US, name="time"), a.bars,
        scores=(score_at * 1000, sentiment, confidence),
        macro=(_SERIES_IDS[series], observed * 1000, available * 1000, value),
        regimes=(regime_time * 1000, regime_at * 1000, _REGIME_NAMES[regime]),
    )


def latest_values(db: Database, symbol: str,
                  bar_time: datetime) -> tuple[datetime, np.ndarray] | None:
    """(bar start in UTC, features in registry order) of the bar starting at `bar_time`,
    from the WARMUP_BARS bars before it and the facts known at its close: the online path.
    The same features as `build`, on the same arrays. None without that bar, or without
    enough history for every feature."""
    inputs = load_inputs(db, symbol, bar_time, bar_time + BAR)
    if len(inputs.times) == 0 or inputs.times[-1] != pd.Timestamp(bar_time):
        return None
    values = compute(inputs.context())[-1]
    if not np.isfinite(values).all():
        return None
    return EPOCH + int(inputs.times.as_unit("us").asi8[-1]) * _US, values


def training_frame(db: Database, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The 14 features of every closed M1 bar of `symbol` in [start, end)."""
    return build(load_inputs(db, symbol, start, end), start, end)


def as_rows(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """A built frame as `state_vectors` rows (feature_version 1)."""
    rows = frame.reset_index()
    rows.insert(0, "symbol", symbol)
    rows.insert(2, "feature_version", FEATURE_VERSION)
    return rows
