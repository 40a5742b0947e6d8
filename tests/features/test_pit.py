"""As-of joins: revisions and late news must not leak; decay weights by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underdog.features import pit

NS_DAY = 86_400_000_000_000


def ns(text: str) -> int:
    return pd.Timestamp(text, tz="UTC").value


def arr(*texts: str) -> np.ndarray:
    return np.array([ns(t) for t in texts], dtype="int64")


def test_a_revision_is_not_used_before_its_vintage_is_known() -> None:
    # VIX observed Mar 1 = 10 (first known Mar 2); revised to 12, known Mar 5.
    # Observation Mar 4 = 20, known Mar 6. A "." (missing) for Mar 5 known Mar 7.
    observed = arr("2024-03-01", "2024-03-01", "2024-03-04", "2024-03-05")
    available = arr("2024-03-02 04:00", "2024-03-05 04:00", "2024-03-06 04:00",
                    "2024-03-07 04:00")
    value = np.array([10.0, 12.0, 20.0, np.nan])
    at = arr("2024-03-01 12:00", "2024-03-02 04:00", "2024-03-05 03:59", "2024-03-05 04:00",
             "2024-03-06 05:00", "2024-03-08")
    got = pit.latest_vintage(at, observed, available, value, default=-1.0)
    assert got.tolist() == [-1.0, 10.0, 10.0, 12.0, 20.0, 20.0]


def test_an_old_observation_revised_late_does_not_replace_a_newer_observation() -> None:
    observed = arr("2024-03-04", "2024-03-01")
    available = arr("2024-03-05", "2024-03-06")  # Mar 1 restated after Mar 4 was published
    got = pit.latest_vintage(arr("2024-03-07"), observed, available, np.array([20.0, 11.0]))
    assert got.tolist() == [20.0]


def test_sentiment_weights_by_hand_and_a_late_item_waits() -> None:
    # Two items: +1 (conf 0.5) known 10:00, -1 (conf 1.0) known 11:00 (published 09:00).
    available = arr("2024-03-05 10:00", "2024-03-05 11:00")
    score, conf = np.array([1.0, -1.0]), np.array([0.5, 1.0])
    at = arr("2024-03-05 09:59", "2024-03-05 10:30", "2024-03-05 12:00",
             "2024-03-06 10:00", "2024-03-06 10:01")
    got = pit.decayed_sentiment(at, available, score, conf)
    w1, w2 = 0.5 * 2 ** (-2 / 2), 1.0 * 2 ** (-1 / 2)  # ages 2 h and 1 h at 12:00
    assert got[0] == 0.0  # nothing known yet
    assert got[1] == pytest.approx(1.0)  # only the first item is known at 10:30
    assert got[2] == pytest.approx((w1 - w2) / (w1 + w2), rel=1e-12)
    assert got[3] == pytest.approx(-1.0)  # the 10:00 item is exactly 24 h old: out
    assert got[4] == pytest.approx(-1.0)


def test_sentiment_is_the_same_whatever_the_span() -> None:
    rng = np.random.default_rng(1)
    available = np.sort(rng.integers(ns("2024-01-01"), ns("2024-12-31"), 5000))
    score, conf = rng.uniform(-1, 1, 5000), rng.uniform(0, 1, 5000)
    at = np.sort(rng.integers(ns("2024-01-02"), ns("2024-12-30"), 2000))
    full = pit.decayed_sentiment(at, available, score, conf)
    one_by_one = np.array([pit.decayed_sentiment(at[i:i + 1], available, score, conf)[0]
                           for i in range(0, 2000, 97)])
    assert np.allclose(full[::97], one_by_one, rtol=1e-12, atol=0)
    assert (np.abs(full) <= 1).all()


def test_regime_one_hot_defaults_and_staleness() -> None:
    available = arr("2024-03-05 10:15", "2024-03-05 10:30")
    regime = np.array(["trend", "range"], dtype=object)
    at = arr("2024-03-05 10:14", "2024-03-05 10:15", "2024-03-05 11:00", "2024-03-08 10:30",
             "2024-03-08 10:31")
    got = pit.regime_one_hot(at, available, regime)
    names = [pit.REGIMES[i] for i in got.argmax(axis=1)]
    assert names == ["transition", "trend", "range", "range", "transition"]
    assert (got.sum(axis=1) == 1).all()


def test_a_value_withdrawn_by_a_later_vintage_is_no_longer_used() -> None:
    # Mar 4 = 20 (known Mar 5), then FRED restates Mar 4 as "." (known Mar 6), then restores
    # it as 21 (known Mar 8). In between, the newest observation with a value is Mar 1.
    observed = arr("2024-03-01", "2024-03-04", "2024-03-04", "2024-03-04")
    available = arr("2024-03-02", "2024-03-05", "2024-03-06", "2024-03-08")
    value = np.array([10.0, 20.0, np.nan, 21.0])
    at = arr("2024-03-01", "2024-03-02", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08")
    got = pit.latest_vintage(at, observed, available, value, default=-1.0)
    assert got.tolist() == [-1.0, 10.0, 20.0, 10.0, 10.0, 21.0]


def test_both_paths_agree_when_nothing_is_withdrawn() -> None:
    rng = np.random.default_rng(7)
    observed = np.sort(rng.integers(0, 50, 400)) * NS_DAY + ns("2024-01-01")
    available = observed + rng.integers(1, 20, 400) * NS_DAY
    value = rng.normal(size=400)
    # A few "." rows for observations that never had a value: nothing is withdrawn.
    holes = rng.choice(400, 20, replace=False)
    value[holes] = np.nan
    observed[holes] = (60 + np.arange(20)) * NS_DAY + ns("2024-01-01")
    assert not np.isin(observed[holes], np.delete(observed, holes)).any()
    at = np.sort(rng.integers(ns("2024-01-01"), ns("2024-04-01"), 300))
    fast = pit.latest_vintage(at, observed, available, value, max_age=10**20)
    order = np.argsort(available, kind="stable")
    exact_answers, _ = pit._answers_with_withdrawals(observed[order], value[order], 0.0)
    j = np.searchsorted(available[order], at, side="right") - 1
    exact = np.where(j >= 0, exact_answers[np.maximum(j, 0)], 0.0)
    assert np.array_equal(fast, exact)


def test_an_observation_older_than_30_days_is_stale() -> None:
    observed, available = arr("2024-03-01"), arr("2024-03-02")
    at = arr("2024-03-31", "2024-03-31 00:01")
    got = pit.latest_vintage(at, observed, available, np.array([13.0]), default=0.0)
    assert got.tolist() == [13.0, 0.0]
