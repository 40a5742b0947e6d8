"""How bars are stored: prices as integers the columnstore compresses to about a byte each.

A validated bar's open/high/low/close become `open_units` .. `close_units` at one
`price_scale` per symbol and batch (the instrument's digits, more if a price needs them), as
ticks' prices do (underdog.store.offline.tick_storage). `volume`, `spread` (a mean of tick
spreads, on no decimal grid) and `source` are stored as they come. The view
`underdog.ohlcv_values` (revision 0012) gives the very doubles written back. A bar with a
price no scale carries exactly (more than 15 decimals) is rejected with its reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from underdog.store.offline.decimals import MAX_SCALE, to_units
from underdog.store.offline.tick_storage import batch_scales, digit_floors
from underdog.store.tables import OHLCV

PRICES = ("open", "high", "low", "close")


def encode_bars(good: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(stored rows in OHLCV.stored column order, reason per row or None).

    `good` is `validate(...).good` for OHLCV: prices finite and positive.
    """
    codes, uniques = pd.factorize(good["symbol"])
    prices = {c: good[c].to_numpy(dtype="float64") for c in PRICES}
    scale, bad = batch_scales(prices, codes, digit_floors(pd.Index(uniques)), len(uniques))
    stored = pd.DataFrame({
        "symbol": good["symbol"].to_numpy(),
        "price_scale": scale,
        **{f"{c}_units": to_units(v, scale) for c, v in prices.items()},
        "volume": good["volume"].to_numpy(dtype="int64"),
        "spread": good["spread"].to_numpy(dtype="float64"),
        "source": good["source"].to_numpy(),
    })
    stored.insert(1, "time", good["time"].reset_index(drop=True))
    reasons = np.full(len(good), None, dtype=object)
    reasons[bad] = f"a price has more than {MAX_SCALE} decimals"
    return stored[[c.name for c in OHLCV.stored_columns]], reasons
