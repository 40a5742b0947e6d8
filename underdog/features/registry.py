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
    bars: pd.DataFrame  # index: bar start (UTC); open, high, low, close, volume, spread
    at: np.ndarray  # decision time per bar: its close, int64 ns
    scores: pd.DataFrame  # available_at (sorted), sentiment, confidence
    macro: pd.DataFrame  # series_id, time, available_at, value
    regimes: pd.DataFrame  # available_at (sorted), regime

    @cached_property
    def regime_one_hot(self) -> np.ndarray:
        return pit.regime_one_hot(self.at, pit.as_ns(self.regimes["available_at"]),
                                  self.regimes["regime"].to_numpy(dtype=object))

    @cached_property
    def macro_by_series(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """series -> (observation times, available_at, values), split once for all series."""
        out = {}
        for series, rows in self.macro.groupby("series_id", sort=False):
            out[str(series)] = (pit.as_ns(rows["time"]), pit.as_ns(rows["available_at"]),
                                rows["value"].to_numpy(dtype="float64", na_value=np.nan))
        return out


@dataclass(frozen=True)
class Feature:
    name: str
    definition: str
    depends_on: tuple[str, ...]
    compute: Callable[[FeatureContext], np.ndarray | pd.Series]


def _bar(fn: Callable[[pd.DataFrame], np.ndarray]) -> Callable[[FeatureContext], np.ndarray]:
    return lambda ctx: fn(ctx.bars)


def _sentiment(ctx: FeatureContext) -> np.ndarray:
    s = ctx.scores
    return pit.decayed_sentiment(
        ctx.at, pit.as_ns(s["available_at"]), s["sentiment"].to_numpy(dtype="float64"),
        s["confidence"].to_numpy(dtype="float64"),
    )


def _regime(i: int) -> Callable[[FeatureContext], np.ndarray]:
    return lambda ctx: ctx.regime_one_hot[:, i]


def _macro(series_id: str) -> Callable[[FeatureContext], np.ndarray]:
    def compute(ctx: FeatureContext) -> np.ndarray:
        empty = np.empty(0, dtype="int64")
        observed, available, value = ctx.macro_by_series.get(
            series_id, (empty, empty, np.empty(0)))
        return pit.latest_vintage(ctx.at, observed, available, value)

    return compute


BARS = ("ohlcv",)
FEATURES: tuple[Feature, ...] = (
    Feature("close", "bid close of the bar", BARS,
            lambda ctx: ctx.bars["close"].to_numpy(dtype="float64")),
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
