"""The simulated market's M1 bars: the one roller (`underdog.market.bars`) over the
simulator's ticks (`underdog.sources.simulated`), which itself knows nothing of bars."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from underdog.market.bars import bars_from_ticks
from underdog.sources.simulated import NO_EDGE, Edge, simulate_ticks


def simulate_bars(symbol: str, start: datetime, end: datetime, *, seed: int = 0,
                  edge: Edge = NO_EDGE) -> pd.DataFrame:
    """M1 bars of the simulated ticks in [start, end) (see `bars_from_ticks`)."""
    return bars_from_ticks(simulate_ticks(symbol, start, end, seed=seed, edge=edge),
                           symbol=symbol)
