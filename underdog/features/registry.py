"""The feature registry: the state vector's features, in order, with what each depends on.

A feature is a function of a `FeatureContext` (the bars with their warm-up, the decision
time of each bar, and the point-in-time inputs) returning one float per bar. The offline
builder, the online updater and the audits all compute features only through this list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from underdog.features import indicators as ind
from underdog.features import pit

FEATURE_VERSION = 1
MACRO_SERIES = {"vix": "VIXCLS", "fed_funds": "DFF", "yield_curve": "T10Y2Y"}


@dataclass
class FeatureContext:
    """What features read: the bars and the point-in-time facts, as numpy arrays.

    Times are int64 nanoseconds since the epoch (UTC). Build it with `FeatureContext.of`,
    which orders the facts the way the joins of `pit` need; the offline builder (frames of
    a whole window) and the online update (arrays of the last bars) both go through it.
    """

    bars: ind.Bars  # sorted by bar start: open, high, low, close, volume, spread
    at: np.ndarray  # decision time per bar: its close
    # (available_at, sentiment, confidence), by available_at
    scores: tuple[np.ndarray, np.ndarray, np.ndarray]
    # series -> (observation time, available_at, value; NaN = no value in that vintage)
    macro: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    # (available_at, regime), by available_at then by the predicted time
    regimes: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, bars: ind.Bars, at: np.ndarray, *,
           scores: tuple[np.ndarray, np.ndarray, np.ndarray],
           macro: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
           regimes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> FeatureContext:
        """From facts in any order: scores (available_at, sentiment, confidence); macro
        (series_id, time, available_at, value); regimes (time, available_at, regime)."""
        score_at, sentiment, confidence = scores
        order = np.argsort(score_at, kind="stable")
        series, observed, available, value = macro
        by_series = {}
        for name in dict.fromkeys(series.tolist()):  # each series once, in order of arrival
            rows = series == name
            by_series[str(name)] = (observed[rows], available[rows], value[rows])
        regime_time, regime_at, regime = regimes
        by_arrival = np.lexsort((regime_time, regime_at))
        return cls(bars=bars, at=at,
                   scores=(score_at[order], sentiment[order], confidence[order]),
                   macro=by_series, regimes=(regime_at[by_arrival], regime[by_arrival]))

    @cached_property
    def regime_one_hot(self) -> np.ndarray:
        return pit.regime_one_hot(self.at, *self.regimes)


@dataclass(frozen=True)
class Feature:
    name: str
    definition: str
    depends_on: tuple[str, ...]
    compute: Callable[[FeatureContext], np.ndarray | pd.Series]


def _bar(fn: Callable[[ind.Bars], np.ndarray]) -> Callable[[FeatureContext], np.ndarray]:
    return lambda ctx: fn(ctx.bars)


def _sentiment(ctx: FeatureContext) -> np.ndarray:
    return pit.decayed_sentiment(ctx.at, *ctx.scores)


def _regime(i: int) -> Callable[[FeatureContext], np.ndarray]:
    return lambda ctx: ctx.regime_one_hot[:, i]


def _macro(series_id: str) -> Callable[[FeatureContext], np.ndarray]:
    def compute(ctx: FeatureContext) -> np.ndarray:
        empty = np.empty(0, dtype="int64")
        observed, available, value = ctx.macro.get(series_id, (empty, empty, np.empty(0)))
        return pit.latest_vintage(ctx.at, observed, available, value)

    return compute


BARS = ("ohlcv",)
FEATURES: tuple[Feature, ...] = (
    Feature("close", "bid close of the bar", BARS,
            lambda ctx: ind.column(ctx.bars, "close")),
    Feature("log_return", "ln(close_t / close_t-1)", BARS, _bar(ind.log_return)),
    Feature("atr_pct", "ATR(14) / close", BARS, _bar(ind.atr_pct)),
    Feature("macd_hist_pct", "MACD(12, 26, 9) histogram / close", BARS, _bar(ind.macd_hist_pct)),
    Feature("rsi", "RSI(14) / 100", BARS, _bar(ind.rsi)),
    Feature("bb_width", "(upper - lower) / middle of Bollinger(20, 2)", BARS,
            _bar(ind.bb_width)),
    Feature("sentiment", "confidence-weighted mean of scores with available_at in "
            "(t - 24 h, t], decayed with a 2 h half-life; 0 if none",
            ("sentiment_scores",), _sentiment),
    *(Feature(f"regime_{name}", f"1 if the latest regime known at t (at most 3 days old) is "
              f"'{name}' (default: transition)", ("regime_predictions",), _regime(i))
      for i, name in enumerate(pit.REGIMES)),
    *(Feature(name, f"{series}: newest observation in its newest vintage known at t "
              "(at most 30 days old); 0 before any", ("macro_indicators",), _macro(series))
      for name, series in MACRO_SERIES.items()),
    Feature("volume_ratio", "tick volume / mean tick volume of the previous 20 bars", BARS,
            _bar(ind.volume_ratio)),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def describe() -> list[dict[str, str]]:
    """The registry as rows (asset metadata, `underdog features list`)."""
    return [{"#": str(i), "name": f.name, "definition": f.definition,
             "depends_on": ", ".join(f.depends_on)} for i, f in enumerate(FEATURES)]
