"""Sharpe ratios with intervals, the deflated Sharpe ratio, folds and the rule baselines."""

from __future__ import annotations

import numpy as np
import pytest

from underdog.agent.baselines import ma_crossover_positions, oracle_positions
from underdog.agent.data import walk_forward, walk_forward_folds
from underdog.agent.performance import BARS_PER_YEAR
from underdog.agent.stats import (
    NS_PER_DAY,
    SharpeEstimate,
    deflated_sharpe,
    lo_standard_error,
    sharpe_estimate,
)
from underdog.agent.train import Trained

MINUTE_NS = 60 * 10**9
START_NS = 1_709_510_400 * 10**9  # 2024-03-04 00:00 UTC


def minutes(n: int) -> np.ndarray:
    return START_NS + np.arange(n, dtype="int64") * MINUTE_NS


def test_sharpe_is_annualized_for_24x5_minutes_with_lo_interval_on_short_windows() -> None:
    rng = np.random.default_rng(0)
    returns = rng.normal(1e-5, 1e-4, 2 * 1440)
    est = sharpe_estimate(returns, minutes(len(returns)))
    per_bar = returns.mean() / returns.std()
    assert est.sharpe == pytest.approx(per_bar * np.sqrt(260 * 1440))
    assert BARS_PER_YEAR == 260 * 1440 and est.days == pytest.approx(2.0)
    se = lo_standard_error(per_bar, len(returns)) * np.sqrt(BARS_PER_YEAR)
    assert est.method == "Lo standard error"
    assert (est.low, est.high) == pytest.approx((est.sharpe - 1.96 * se, est.sharpe + 1.96 * se),
                                                rel=1e-3)


def test_bootstrap_over_days_on_long_windows_covers_the_truth() -> None:
    rng = np.random.default_rng(1)
    true_per_bar = 0.01
    returns = rng.normal(true_per_bar * 1e-4, 1e-4, 30 * 1440)
    est = sharpe_estimate(returns, minutes(len(returns)))
    assert est.method == "bootstrap over 30 days"
    assert est.low < true_per_bar * np.sqrt(BARS_PER_YEAR) < est.high
    # Whole days resampled: a day-level common shock widens the interval vs iid bars.
    shocks = np.repeat(rng.normal(0, 3e-5, 30), 1440)
    wide = sharpe_estimate(returns + shocks, minutes(len(returns)))
    assert wide.high - wide.low > 1.5 * (est.high - est.low)


def test_deflated_sharpe_falls_with_the_number_of_trials() -> None:
    rng = np.random.default_rng(2)
    returns = rng.normal(0.01, 1.0, 20_000)
    one = deflated_sharpe(returns, np.array([0.01]))
    few = deflated_sharpe(returns, rng.normal(0, 0.007, 3))
    many = deflated_sharpe(returns, rng.normal(0, 0.007, 200))
    assert one > 0.9 and one > few > many
    assert deflated_sharpe(np.zeros(100), np.array([0.0])) == 0.0


def test_folds_expand_and_test_after_their_training_with_gaps() -> None:
    folds = walk_forward_folds(10_000, 3, 0.4, 0.1, purge=60, embargo=30)
    assert len(folds) == 3
    tests = [f.test for f in folds]
    for fold in folds:
        assert fold.train.start == 0
        assert fold.validation.start - fold.train.stop == 90
        assert fold.train.stop < fold.validation.stop < fold.test.start
    assert folds[0].train.stop < folds[1].train.stop < folds[2].train.stop
    assert all(a.stop <= b.start for a, b in zip(tests, tests[1:], strict=False))
    assert tests[-1].stop == 10_000 and folds[1].train.stop > tests[0].start
    assert walk_forward_folds(5000, 1, 0.6, 0.2, 60) == [walk_forward(5000, 0.6, 0.2, 60)]
    with pytest.raises(ValueError, match="too few"):
        walk_forward_folds(300, 3, 0.5, 0.2, purge=60)


def test_oracle_holds_between_thresholds_and_ma_crossover_follows_the_trend() -> None:
    signal = np.array([0.0, 2.0, 1.0, -1.0, -1.6, 0.2, 1.6])
    np.testing.assert_array_equal(oracle_positions(signal, 1.5), [0, 1, 1, 1, -1, -1, 1])
    up = np.linspace(1.0, 1.1, 200)
    positions = ma_crossover_positions(np.r_[up, up[::-1]])
    assert positions[:59].sum() == 0 and positions[100] == 1.0 and positions[-1] == -1.0
    assert NS_PER_DAY == 86_400 * 10**9


def test_deployable_needs_the_whole_interval_above_flat() -> None:
    def trained(low: float) -> Trained:
        validation = {"td3": {"total_return": 0.01}, "flat": {"total_return": 0.0}}
        return Trained(None, None, None, None, None, validation, 1.0,
                       SharpeEstimate(3.0, low, 7.0, "Lo standard error", 1440, 1.0))

    assert not trained(-1.0).deployable  # beats flat on the point estimate only
    assert trained(0.5).deployable is True
