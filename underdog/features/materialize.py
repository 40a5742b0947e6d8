"""What the feature assets run: fit and store regime models, label regimes, build vectors.

Each function works on one symbol and a window of whole UTC days, reads only data known
before what it produces, and writes its window idempotently; given a cache, it then reloads
the cached values of what it rewrote (`LatestCache.refresh_tables`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from underdog.features import regime
from underdog.features.audits import StateAudit, audit_state
from underdog.features.state_vector import Inputs, as_rows, build, complete, load_inputs
from underdog.store.db import Database
from underdog.store.models import load_model, save_model
from underdog.store.offline.readers import bars
from underdog.store.offline.validation import known_by, write_moment
from underdog.store.offline.writers import WriteResult, no_rows, replace_window
from underdog.store.online.cache import LatestCache
from underdog.store.tables import REGIME_PREDICTIONS, STATE_VECTORS

DAY = timedelta(days=1)
# Bars before a bucket that its features need: 32 buckets of volatility, across a weekend.
FEATURE_LEAD = timedelta(days=4)


def model_name(symbol: str) -> str:
    return f"regime_hmm:{symbol}"


def days(start: datetime, end: datetime) -> list[pd.Timestamp]:
    return list(pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D",
                              inclusive="left"))


def fit_regime_model(db: Database, symbol: str, day: datetime) -> regime.RegimeModel | None:
    """Fit (on the 30 days before `day`) and store the model that labels `day`."""
    day = pd.Timestamp(day)
    history = bars(db, symbol, day - regime.FIT_WINDOW - FEATURE_LEAD, day)
    model = regime.fit(regime.bucket_features(history, as_of=day), day)
    if model is not None:
        save_model(db, model_name(symbol), model.version, model.to_json(),
                   train_start=pd.Timestamp(model.train_start),
                   train_end=pd.Timestamp(model.train_end),
                   metrics={"log_likelihood": model.log_likelihood, "rows": model.rows})
    return model


def fit_regime_models(db: Database, symbols: list[str], start: datetime,
                      end: datetime) -> dict[str, regime.RegimeModel | None]:
    """`fit_regime_model` for every symbol and day of [start, end), keyed "SYMBOL day"
    (None: too little history to fit)."""
    return {f"{symbol} {day.date()}": fit_regime_model(db, symbol, day)
            for symbol in symbols for day in days(start, end)}


def load_regime_model(db: Database, symbol: str, day: datetime) -> regime.RegimeModel | None:
    params = load_model(db, model_name(symbol), pd.Timestamp(day).date().isoformat())
    return regime.RegimeModel.from_json(params) if params else None


def label_regimes(db: Database, symbol: str, day: datetime,
                  model: regime.RegimeModel) -> pd.DataFrame:
    """Filtered regime labels for the 15-minute buckets of `day` (from bars up to each)."""
    day = pd.Timestamp(day)
    history = bars(db, symbol, day - regime.FILTER_LEAD - FEATURE_LEAD, day + DAY)
    features = regime.bucket_features(history, as_of=day + DAY)
    rows = regime.predict_day(model, features, day)
    rows.insert(0, "symbol", symbol)
    return rows


@dataclass
class RegimeRun:
    models: int
    result: WriteResult
    missing_models: list[str]


def regime_predictions(db: Database, symbols: list[str], start: datetime,
                       end: datetime, *, cache: LatestCache | None = None,
                       now: datetime | None = None) -> RegimeRun:
    """Label every day of [start, end) with its stored model; replace the window (up to
    `now` for a day still open: a bucket is labelled once it closed)."""
    now = write_moment(now)
    frames, missing = [], []
    for symbol in symbols:
        for day in days(start, end):
            model = load_regime_model(db, symbol, day)
            if model is None:
                missing.append(f"{symbol} {day.date()}")
                continue
            frames.append(label_regimes(db, symbol, day, model))
    rows = pd.concat(frames, ignore_index=True) if frames else no_rows(REGIME_PREDICTIONS)
    result = replace_window(db, REGIME_PREDICTIONS, known_by(rows, now), start=start, end=end,
                            source="regime_hmm", only={"symbol": symbols}, symbols=symbols,
                            now=now)
    if cache is not None:
        cache.refresh_tables([REGIME_PREDICTIONS.name], symbols)
    return RegimeRun(len(frames), result, missing)


@dataclass
class BuiltVectors:
    """One symbol's window, built once: what is written and what the audits compare."""

    inputs: Inputs
    full: pd.DataFrame  # every bar of the window, undefined features kept (lookahead audit)
    frame: pd.DataFrame  # the complete rows: what `state_vectors` writes


def build_vectors(db: Database, symbol: str, start: datetime, end: datetime) -> BuiltVectors:
    inputs = load_inputs(db, symbol, start, end)
    full = build(inputs, start, end, complete_only=False)
    return BuiltVectors(inputs, full, complete(full))


def state_vectors(db: Database, symbols: list[str], start: datetime,
                  end: datetime, *, cache: LatestCache | None = None,
                  now: datetime | None = None) -> WriteResult:
    """Build and store feature_version 1 vectors of [start, end) for `symbols` (up to `now`
    for a day still open: a vector is known at its bar's close)."""
    built = {s: build_vectors(db, s, start, end) for s in symbols}
    return _write_vectors(db, built, start, end, cache=cache, now=now)


@dataclass
class StateVectorRun:
    result: WriteResult
    audits: dict[str, StateAudit]  # per symbol, of the very frames written


def audited_state_vectors(db: Database, symbols: list[str], start: datetime,
                          end: datetime, *, cache: LatestCache | None = None,
                          now: datetime | None = None) -> StateVectorRun:
    """`state_vectors`, then the lookahead, parity and sanity audits of what it built (the
    window is built once: the audits read the frames written)."""
    built = {s: build_vectors(db, s, start, end) for s in symbols}
    result = _write_vectors(db, built, start, end, cache=cache, now=now)
    audits = {s: audit_state(db, s, b.inputs, b.full, b.frame, start, end)
              for s, b in built.items()}
    return StateVectorRun(result, audits)


def _write_vectors(db: Database, built: dict[str, BuiltVectors], start: datetime,
                   end: datetime, *, cache: LatestCache | None,
                   now: datetime | None) -> WriteResult:
    now = write_moment(now)
    symbols = list(built)
    frames = [as_rows(b.frame, s) for s, b in built.items()]
    rows = pd.concat(frames, ignore_index=True) if frames else no_rows(STATE_VECTORS)
    result = replace_window(db, STATE_VECTORS, known_by(rows, now), start=start, end=end,
                            source="state_vector_builder", only={"symbol": symbols},
                            symbols=symbols, now=now)
    if cache is not None:
        cache.refresh_tables([STATE_VECTORS.name], symbols)
    return result
