"""How ticks are stored: integers the columnstore compresses to a few bytes a tick.

A validated tick (bid, ask, volumes as float64, available_at) becomes:
- `bid_units`, `ask_units` at `price_scale` decimals, one scale per symbol and batch (the
  instrument's digits, more if a price needs them): a random walk of small integer steps;
- `bid_volume_units`, `ask_volume_units` at `volume_scale` (NULL stays NULL);
- `available_lag_us`: available_at - time in microseconds (0 for a backfill, the receive
  lag for a live tick): a constant or a small number instead of a second timestamp.
The view `underdog.tick_values` (revision 0010) turns them back into the very doubles and
timestamps written (see underdog.store.offline.decimals). A value no scale can carry exactly (more
than 15 decimals) is rejected with its reason instead of being rounded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from underdog.reference.instruments import INSTRUMENTS
from underdog.store.offline.decimals import MAX_SCALE, round_trips, smallest_scales, to_units
from underdog.store.tables import TICKS


def _group_scale(codes: np.ndarray, row_scales: np.ndarray, groups: int) -> np.ndarray:
    """Per row, the largest scale in its group (-1 rows do not count)."""
    best = np.full(groups, -1, dtype=np.int16)
    np.maximum.at(best, codes, row_scales)
    return best[codes]


def digit_floors(uniques: pd.Index) -> np.ndarray:
    return np.array([min(INSTRUMENTS[s].digits, MAX_SCALE) if s in INSTRUMENTS else 0
                     for s in uniques], dtype=np.int16)


def batch_scales(values: dict[str, np.ndarray], codes: np.ndarray, floors: np.ndarray,
            groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale per row, rows a value of which does not round-trip at that scale)."""
    row_scale = np.full(len(codes), -1, dtype=np.int16)
    for array in values.values():
        row_scale = np.maximum(row_scale, smallest_scales(array, 0))
    scale = np.maximum(_group_scale(codes, row_scale, groups), floors[codes]).clip(0)
    bad = np.zeros(len(codes), dtype=bool)
    for array in values.values():
        bad |= ~np.isnan(array) & ~round_trips(array, scale)
    return scale, bad


def _nullable_units(values: np.ndarray, scale: np.ndarray) -> pd.arrays.IntegerArray:
    units = pd.array(to_units(values, scale), dtype="Int64")
    units[np.isnan(values)] = pd.NA
    return units


def encode_ticks(good: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(stored rows in TICKS.stored column order, reason per row or None).

    `good` is `validate(...).good` for TICKS: times UTC, prices finite and positive.
    """
    codes, uniques = pd.factorize(good["symbol"])
    groups, floors = len(uniques), digit_floors(pd.Index(uniques))
    prices = {c: good[c].to_numpy(dtype="float64") for c in ("bid", "ask")}
    volumes = {c: good[c].to_numpy(dtype="float64", na_value=np.nan)
               for c in ("bid_volume", "ask_volume")}
    price_scale, bad_price = batch_scales(prices, codes, floors, groups)
    volume_scale, bad_volume = batch_scales(volumes, codes, np.zeros_like(floors), groups)
    time_us = pd.DatetimeIndex(good["time"]).as_unit("us").asi8
    lag = pd.DatetimeIndex(good["available_at"]).as_unit("us").asi8 - time_us
    stored = pd.DataFrame({
        "symbol": good["symbol"].to_numpy(),
        "seq": good["seq"].to_numpy(dtype="int64"),
        "price_scale": price_scale,
        "bid_units": to_units(prices["bid"], price_scale),
        "ask_units": to_units(prices["ask"], price_scale),
        "volume_scale": volume_scale,
        **{f"{c}_units": _nullable_units(v, volume_scale) for c, v in volumes.items()},
        "available_lag_us": lag,
    })
    stored.insert(1, "time", good["time"].reset_index(drop=True))
    reasons = np.full(len(good), None, dtype=object)
    reasons[bad_volume] = f"a volume has more than {MAX_SCALE} decimals"
    reasons[bad_price] = f"bid or ask has more than {MAX_SCALE} decimals"
    return stored[[c.name for c in TICKS.stored_columns]], reasons
