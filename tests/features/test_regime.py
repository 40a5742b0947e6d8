"""Regime HMM: filtered (forward-only) labels, fitted strictly before the labelled day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hmmlearn.hmm import GaussianHMM

from underdog.features import regime
from underdog.market.simulated import simulate_bars

DAY = datetime(2024, 3, 12, tzinfo=UTC)


def _model() -> regime.RegimeModel:
    """A hand-made 3-state model: calm, directional, wild."""
    return regime.RegimeModel(
        version="test", startprob=[1 / 3] * 3,
        transmat=[[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]],
        means=[[0.5, -8.0], [2.0, -7.5], [0.7, -6.0]],
        covars=[np.eye(2).tolist() * 1, (np.eye(2) * 0.1).tolist(), np.eye(2).tolist()],
        names=["range", "trend", "transition"], train_start="", train_end="",
        log_likelihood=0.0, rows=0,
    )


def _series() -> np.ndarray:
    rng = np.random.default_rng(3)
    calm = rng.normal([0.5, -8.0], 0.3, (40, 2))
    trend = rng.normal([2.0, -7.5], 0.3, (40, 2))
    wild = rng.normal([0.7, -6.0], 0.3, (40, 2))
    return np.vstack([calm, trend, wild, calm])


def _forward(model: regime.RegimeModel, x: np.ndarray) -> np.ndarray:
    """The forward algorithm written out plainly: the reference for the filter."""
    from scipy.stats import multivariate_normal

    def emit(row):
        return np.array([multivariate_normal(m, c).pdf(row)
                         for m, c in zip(model.means, model.covars, strict=True)])

    alpha = np.array(model.startprob) * emit(x[0])
    out = [alpha / alpha.sum()]
    for row in x[1:]:
        alpha = (out[-1] @ np.array(model.transmat)) * emit(row)
        out.append(alpha / alpha.sum())
    return np.array(out)


def test_filtered_probabilities_are_the_forward_algorithm() -> None:
    model, x = _model(), _series()
    assert np.allclose(regime.filtered_probabilities(model, x), _forward(model, x), atol=1e-12)


def test_a_label_never_changes_when_the_future_arrives() -> None:
    model, x = _model(), _series()
    full = regime.filtered_probabilities(model, x)
    for t in (0, 39, 40, 41, 79, 80, 159):
        assert np.allclose(regime.filtered_probabilities(model, x[: t + 1])[-1], full[t],
                           atol=1e-14)


def test_smoothed_probabilities_would_leak_and_are_not_used() -> None:
    model, x = _model(), _series()
    hmm = GaussianHMM(n_components=3, covariance_type="full")
    hmm.startprob_, hmm.transmat_ = np.array(model.startprob), np.array(model.transmat)
    hmm.means_, hmm.covars_ = np.array(model.means), np.array(model.covars)
    smoothed = hmm.predict_proba(x)  # forward-backward: uses x after t
    filtered = regime.filtered_probabilities(model, x)
    assert np.abs(smoothed - filtered).max() > 0.1  # they differ where the future matters
    # Change only the future: smoothed probabilities at t move, filtered ones do not.
    t = 39
    x2 = x.copy()
    x2[t + 1:] = x[0]
    assert np.allclose(regime.filtered_probabilities(model, x2)[t], filtered[t], atol=1e-14)
    assert not np.allclose(hmm.predict_proba(x2)[t], smoothed[t], atol=1e-3)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return simulate_bars("EURUSD", DAY - timedelta(days=36), DAY + timedelta(days=1), seed=5)


def test_fit_uses_only_the_30_days_before_the_day(history: pd.DataFrame) -> None:
    bars = history.set_index("time")
    features = regime.bucket_features(bars, as_of=DAY + timedelta(days=1))
    model = regime.fit(features, DAY)
    assert model is not None and sorted(model.names) == ["range", "transition", "trend"]
    assert pd.Timestamp(model.train_end) <= DAY
    assert pd.Timestamp(model.train_start) >= DAY - regime.FIT_WINDOW
    # Changing the labelled day's own data (or later) cannot change the model.
    cut = regime.bucket_features(bars[bars.index < DAY], as_of=DAY)
    assert regime.fit(cut, DAY) == model
    assert regime.RegimeModel.from_json(model.to_json()) == model


def test_day_labels_equal_labels_from_data_known_at_each_bucket(history: pd.DataFrame) -> None:
    bars = history.set_index("time")
    model = regime.fit(regime.bucket_features(bars, as_of=DAY), DAY)
    full = regime.predict_day(model, regime.bucket_features(bars, as_of=DAY + timedelta(days=1)),
                              DAY)
    assert len(full) == 96 and (full["available_at"] == full["time"] + regime.BUCKET).all()
    for cutoff in (DAY + timedelta(hours=3), DAY + timedelta(hours=14, minutes=15)):
        known = bars[bars.index + timedelta(minutes=1) <= cutoff]
        part = regime.predict_day(model, regime.bucket_features(known, as_of=cutoff), DAY)
        expected = full[full["available_at"] <= cutoff].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expected)


def test_too_little_history_gives_no_model(history: pd.DataFrame) -> None:
    bars = history.set_index("time")
    recent = bars[bars.index >= DAY - timedelta(days=3)]
    assert regime.fit(regime.bucket_features(recent, as_of=DAY), DAY) is None
