"""Regime classifier: trend / range / transition from a Gaussian HMM on 15-minute features.

Point in time, twice over:
- A model labelling day D is fitted on the 30 days strictly before D.
- Labels come from *filtered* state probabilities (the forward algorithm: data up to the
  bucket only), never from hmmlearn's `predict_proba`, which smooths with the future.
The filter for the buckets of day D starts fresh at D - 1 day, so a label depends on at
most two days of data, all of it known at the bucket's close.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from underdog.features.pit import REGIMES

BUCKET = timedelta(minutes=15)
TREND_BUCKETS = 8  # 2 hours of direction ...
VOL_BUCKETS = 32  # ... against 8 hours of volatility
FIT_WINDOW = timedelta(days=30)
FILTER_LEAD = timedelta(days=1)
MIN_FIT_ROWS = 500
FEATURES = ("trend_strength", "log_vol")


@dataclass(frozen=True)
class RegimeModel:
    version: str  # the first day it labels, e.g. "2024-03-05"
    startprob: list[float]
    transmat: list[list[float]]
    means: list[list[float]]
    covars: list[list[list[float]]]
    names: list[str]  # regime name of each hidden state
    train_start: str
    train_end: str
    log_likelihood: float
    rows: int

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RegimeModel:
        return cls(**data)


def bucket_features(bars: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Per closed 15-minute bucket (index: bucket start): |2 h return| in units of its
    expected size, and log volatility; only buckets that ended by `as_of`."""
    close = bars["close"].resample(BUCKET, label="left", closed="left").last().dropna()
    close = close[close.index + BUCKET <= pd.Timestamp(as_of)]
    returns = np.log(close).diff()
    vol = returns.rolling(VOL_BUCKETS).std()
    trend = returns.rolling(TREND_BUCKETS).sum().abs() / (vol * np.sqrt(TREND_BUCKETS))
    frame = pd.DataFrame({"trend_strength": trend, "log_vol": np.log(vol)})
    return frame.replace([np.inf, -np.inf], np.nan).dropna()


def _name_states(means: np.ndarray) -> list[str]:
    """transition = the most volatile state; of the other two, trend = the more directional,
    range = the less."""
    transition = int(np.argmax(means[:, 1]))
    rest = [i for i in range(len(means)) if i != transition]
    range_, trend = sorted(rest, key=lambda i: means[i, 0])
    names = [""] * len(means)
    names[trend], names[range_], names[transition] = "trend", "range", "transition"
    return names


def fit(features: pd.DataFrame, day: datetime, *, seed: int = 0) -> RegimeModel | None:
    """Fit the model that labels `day` on the buckets of the 30 days before it."""
    day = pd.Timestamp(day)
    train = features[(features.index >= day - FIT_WINDOW) & (features.index + BUCKET <= day)]
    if len(train) < MIN_FIT_ROWS:
        return None
    x = train[list(FEATURES)].to_numpy()
    hmm = GaussianHMM(n_components=3, covariance_type="full", n_iter=200, tol=1e-4,
                      random_state=seed).fit(x)
    return RegimeModel(
        version=day.date().isoformat(), startprob=hmm.startprob_.tolist(),
        transmat=hmm.transmat_.tolist(), means=hmm.means_.tolist(),
        covars=hmm.covars_.tolist(), names=_name_states(hmm.means_),
        train_start=train.index[0].isoformat(), train_end=(train.index[-1] + BUCKET).isoformat(),
        log_likelihood=float(hmm.score(x)), rows=len(train),
    )


def filtered_probabilities(model: RegimeModel, x: np.ndarray) -> np.ndarray:
    """P(state_t | x_1..x_t) for every t: the forward algorithm, normalized each step."""
    log_emission = np.column_stack([
        multivariate_normal(mean=m, cov=c, allow_singular=True).logpdf(x).reshape(-1)
        for m, c in zip(model.means, model.covars, strict=True)
    ])
    with np.errstate(divide="ignore"):  # a zero probability is log 0 = -inf, as it should be
        log_trans = np.log(np.asarray(model.transmat))
        log_start = np.log(np.asarray(model.startprob))
    out = np.empty_like(log_emission)
    alpha = log_start + log_emission[0]
    out[0] = alpha - logsumexp(alpha)
    for t in range(1, len(x)):
        alpha = logsumexp(out[t - 1][:, None] + log_trans, axis=0) + log_emission[t]
        out[t] = alpha - logsumexp(alpha)
    return np.exp(out)


def predict_day(model: RegimeModel, features: pd.DataFrame, day: datetime) -> pd.DataFrame:
    """`regime_predictions` rows (less symbol) for the buckets of UTC `day`."""
    day = pd.Timestamp(day)
    span = features[(features.index >= day - FILTER_LEAD) & (features.index < day + pd.Timedelta(
        days=1))]
    if span.empty:
        return pd.DataFrame(columns=["time", "available_at", "model_version", "regime",
                                     "confidence", "p_trend", "p_range", "p_transition",
                                     "features"])
    probs = filtered_probabilities(model, span[list(FEATURES)].to_numpy())
    by_name = {name: probs[:, model.names.index(name)] for name in REGIMES}
    best = np.argmax(probs, axis=1)
    frame = pd.DataFrame({
        "time": span.index, "available_at": span.index + BUCKET,
        "model_version": model.version,
        "regime": [model.names[i] for i in best], "confidence": probs.max(axis=1),
        **{f"p_{name}": p for name, p in by_name.items()},
        "features": [dict(zip(FEATURES, map(float, row), strict=True))
                     for row in span[list(FEATURES)].to_numpy()],
    })
    return frame[frame["time"] >= day].reset_index(drop=True)
