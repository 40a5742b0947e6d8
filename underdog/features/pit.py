"""Point-in-time joins: each value at decision time t uses only facts with available_at <= t.

Times are int64 nanoseconds since the Unix epoch (UTC) in sorted arrays; every join is a
`searchsorted` over `available_at`, so a whole year of bars joins in milliseconds and no
row is looked up one query at a time.
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
SENTIMENT_HALF_LIFE_NS = 2 * NS_PER_HOUR
SENTIMENT_LOOKBACK_NS = 24 * NS_PER_HOUR
REGIMES = ("trend", "range", "transition")
DEFAULT_REGIME = "transition"  # no model or no recent prediction: the uncommitted state
REGIME_MAX_AGE_NS = 3 * NS_PER_DAY  # older predictions are stale (a weekend is 2 days)
MACRO_MAX_AGE_NS = 30 * NS_PER_DAY  # the daily series: an observation a month old is stale


def as_ns(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """tz-aware times -> int64 ns since the epoch, UTC."""
    return pd.DatetimeIndex(times).tz_convert("UTC").as_unit("ns").asi8


def decayed_sentiment(at: np.ndarray, available_at: np.ndarray, score: np.ndarray,
                      confidence: np.ndarray) -> np.ndarray:
    """Confidence-weighted mean of scores with available_at in (t - 24 h, t], each weighted
    by 2^-(age / 2 h); 0 where there is none. Inputs sorted by available_at.

    Weights are computed relative to the UTC day of t (ages within +-12 half-lives), so the
    prefix sums stay far from overflow whatever the span; the ratio does not depend on it.
    """
    out = np.zeros(len(at))
    if len(at) == 0 or len(available_at) == 0:
        return out
    lo = np.searchsorted(available_at, at - SENTIMENT_LOOKBACK_NS, side="right")
    hi = np.searchsorted(available_at, at, side="right")
    day = at // NS_PER_DAY
    for d in np.unique(day):
        rows = np.flatnonzero(day == d)
        first, last = lo[rows[0]], hi[rows[-1]]
        if last <= first:
            continue
        weight = confidence[first:last] * np.exp2(
            (available_at[first:last] - d * NS_PER_DAY) / SENTIMENT_HALF_LIFE_NS
        )
        num = np.concatenate(([0.0], np.cumsum(weight * score[first:last])))
        den = np.concatenate(([0.0], np.cumsum(weight)))
        a, b = lo[rows] - first, hi[rows] - first
        total = den[b] - den[a]
        ok = (b > a) & (total > 0)
        out[rows[ok]] = (num[b] - num[a])[ok] / total[ok]
    return out


def latest_vintage(at: np.ndarray, observed: np.ndarray, available_at: np.ndarray,
                   value: np.ndarray, default: float = 0.0,
                   max_age: int = MACRO_MAX_AGE_NS) -> np.ndarray:
    """For each t, the newest observation whose newest vintage known at t has a value, in
    that vintage. A vintage without a value (a source's "missing", ".") withdraws its
    observation until a later vintage restores it; `default` where nothing is known yet or
    the observation is more than `max_age` older than t.
    """
    out = np.full(len(at), default, dtype="float64")
    if len(value) == 0 or len(at) == 0:
        return out
    order = np.argsort(available_at, kind="stable")
    observed, available_at, value = observed[order], available_at[order], value[order]
    missing = np.isnan(value)
    if missing.any() and np.isin(observed[missing], observed[~missing]).any():
        answers, chosen = _answers_with_withdrawals(observed, value, default)
    else:
        answers, chosen = _answers_without_withdrawals(observed, value, default)
    j = np.searchsorted(available_at, at, side="right") - 1
    known = j >= 0
    known[known] = at[known] - chosen[j[known]] <= max_age
    out[known] = answers[j[known]]
    return out


NONE = np.iinfo("int64").min // 2  # "no observation": older than any max_age allows


def _answers_without_withdrawals(observed: np.ndarray, value: np.ndarray,
                                 default: float) -> tuple[np.ndarray, np.ndarray]:
    """(answer, its observation time) after each row, in arrival order: the newest valid row
    so far, when no value is ever withdrawn."""
    keep = ~np.isnan(value)
    answers, chosen = np.full(len(value), default), np.full(len(value), NONE)
    if not keep.any():
        return answers, chosen
    obs, val, positions = observed[keep], value[keep], np.flatnonzero(keep)
    # Best row so far = greatest (observation time, position in arrival order).
    rank = np.unique(obs, return_inverse=True)[1].astype("int64")
    n = len(val)
    best = np.maximum.accumulate(rank * n + np.arange(n)) % n
    answers[positions], chosen[positions] = val[best], obs[best]
    # Rows without a value inherit the answer of the last valid row before them.
    last = np.maximum.accumulate(np.where(keep, np.arange(len(value)), -1))
    seen = last >= 0
    answers = np.where(seen, answers[np.maximum(last, 0)], default)
    chosen = np.where(seen, chosen[np.maximum(last, 0)], NONE)
    return answers, chosen


def _answers_with_withdrawals(observed: np.ndarray, value: np.ndarray,
                              default: float) -> tuple[np.ndarray, np.ndarray]:
    """(answer, its observation time) after each row (arrival order), when some rows
    withdraw values."""
    current: dict[int, float] = {}
    newest: list[int] = []  # max-heap of observations (negated) that may hold a value
    answers, chosen = np.full(len(value), default), np.full(len(value), NONE)
    for i, (obs, val) in enumerate(zip(observed.tolist(), value.tolist(), strict=True)):
        current[obs] = val
        if not np.isnan(val):
            heapq.heappush(newest, -obs)
        while newest and np.isnan(current[-newest[0]]):
            heapq.heappop(newest)  # withdrawn; pushed again if a later vintage restores it
        if newest:
            answers[i], chosen[i] = current[-newest[0]], -newest[0]
    return answers, chosen


def regime_one_hot(at: np.ndarray, available_at: np.ndarray, regime: np.ndarray) -> np.ndarray:
    """(n, 3) one-hot of the latest regime prediction known at each t (sorted inputs),
    if at most 3 days old; else the default regime."""
    labels = np.full(len(at), DEFAULT_REGIME, dtype=object)
    j = np.searchsorted(available_at, at, side="right") - 1
    known = j >= 0
    known[known] = at[known] - available_at[j[known]] <= REGIME_MAX_AGE_NS
    labels[known] = regime[j[known]]
    return np.stack([(labels == name).astype("float64") for name in REGIMES], axis=1)
