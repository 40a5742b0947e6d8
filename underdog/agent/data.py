"""The agent's market data: state vectors with their bar's spread, as arrays, split by time.

Read once from the database; the environment then steps over plain arrays (no query per step).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from underdog.features.registry import FEATURE_NAMES, FEATURE_VERSION
from underdog.reference.schema import BAR
from underdog.store.db import Database
from underdog.store.offline.vectors import vectors_with_spread


@dataclass(frozen=True)
class MarketData:
    symbol: str
    times: np.ndarray  # bar start, datetime64[ns, UTC] as int64 ns, ascending
    features: np.ndarray  # (n, 14) state vector, FEATURE_NAMES order
    close: np.ndarray  # bid close of the bar: the price a decision at t trades at
    spread: np.ndarray  # the bar's average spread, in price units

    def __post_init__(self) -> None:
        # Nanoseconds since the epoch: any time after 1973 is > 1e17 (pandas may hand out us).
        if len(self.times) and int(self.times[0]) < 10**17:
            raise ValueError("MarketData.times must be int64 nanoseconds since the epoch")

    def __len__(self) -> int:
        return len(self.times)

    def window(self, rows: slice) -> MarketData:
        return MarketData(self.symbol, self.times[rows], self.features[rows], self.close[rows],
                          self.spread[rows])

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.times, utc=True))

    def span(self) -> tuple[datetime, datetime]:
        """[first bar, last bar's close) as aware datetimes."""
        idx = self.index
        return idx[0].to_pydatetime(), (idx[-1] + BAR).to_pydatetime()


def load_market(db: Database, symbol: str, start: datetime | None = None,
                end: datetime | None = None) -> MarketData:
    """State vectors of `symbol` in [start, end) joined with their bars' spreads."""
    rows = vectors_with_spread(db, symbol, FEATURE_NAMES, FEATURE_VERSION, start, end)
    if not rows:
        raise LookupError(f"no state vectors for {symbol} in [{start}, {end}): materialize "
                          "state_vectors first")
    times = pd.DatetimeIndex([r[0] for r in rows]).tz_convert("UTC").as_unit("ns").asi8
    values = np.array([r[1:] for r in rows], dtype="float64")
    return MarketData(symbol, times, values[:, :-1].copy(), values[:, 0].copy(),
                      values[:, -1].copy())


@dataclass(frozen=True)
class Split:
    """Row ranges of one walk-forward split: train < validation < test, purge gaps between."""

    train: slice
    validation: slice
    test: slice

    def as_dict(self, data: MarketData) -> dict[str, list[str]]:
        out = {}
        for name in ("train", "validation", "test"):
            part = data.window(getattr(self, name))
            first, end = part.span()
            out[name] = [first.isoformat(), end.isoformat()]
        return out


def walk_forward(n: int, train: float, validation: float, purge: int) -> Split:
    """Split n time-ordered rows; each window keeps at least 2 rows (a step needs two bars)."""
    usable = n - 2 * purge
    a = int(usable * train)
    b = a + int(usable * validation)
    split = Split(slice(0, a), slice(a + purge, b + purge), slice(b + 2 * purge, n))
    for name in ("train", "validation", "test"):
        part = getattr(split, name)
        if part.stop - part.start < 2:
            raise ValueError(f"{n} bars are too few for a {name} window (purge {purge} bars); "
                             "use a longer data window or a shorter purge")
    return split


def walk_forward_folds(n: int, folds: int, train: float, validation: float, purge: int,
                       embargo: int = 0) -> list[Split]:
    """`folds` expanding-window splits of n time-ordered rows.

    The first `train` share of the rows trains fold 1; the rest is cut into `folds` equal
    segments, each a validation window (`validation` / (1 - train) of the segment) then a
    test window. Fold i trains on everything before its segment, so each fold is trained and
    tested on its own and its test rows come after all of its training rows. Between
    consecutive windows `purge` rows (indicator look-backs) plus `embargo` rows (serial
    correlation of returns) are dropped. One fold is `walk_forward`'s split.
    """
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    if folds == 1 and embargo == 0:
        return [walk_forward(n, train, validation, purge)]
    gap = purge + embargo
    first = int(n * train)
    segment = (n - first) // folds
    val_rows = int(segment * validation / (1.0 - train))
    splits = []
    for i in range(folds):
        start = first + i * segment
        stop = n if i == folds - 1 else start + segment
        split = Split(slice(0, start - gap), slice(start, start + val_rows - gap),
                      slice(start + val_rows, stop))
        for name in ("train", "validation", "test"):
            part = getattr(split, name)
            if part.stop - part.start < 2:
                raise ValueError(f"{n} bars are too few for {folds} folds' {name} windows "
                                 f"(gaps of {gap} bars)")
        splits.append(split)
    return splits
