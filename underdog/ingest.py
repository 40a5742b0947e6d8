"""Backfill of market data: produce a window's bars and write them as one partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from underdog.sources.simulated import simulate_bars
from underdog.store.db import Database
from underdog.store.tables import OHLCV
from underdog.store.writers import WriteResult, replace_window


@dataclass
class BarBackfill:
    result: WriteResult
    bars: pd.DataFrame  # what was offered to the writer, all symbols


def simulated_bars(symbols: Sequence[str], start: datetime, end: datetime, *,
                   seed: int) -> pd.DataFrame:
    frames = [simulate_bars(s, start, end, seed=seed) for s in symbols]
    bars = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    bars["source"] = "simulated"
    return bars


def backfill_bars(db: Database, symbols: Sequence[str], start: datetime, end: datetime, *,
                  seed: int) -> BarBackfill:
    """Replace [start, end) of `ohlcv` for `symbols` with the simulated market's bars."""
    bars = simulated_bars(symbols, start, end, seed=seed)
    result = replace_window(db, OHLCV, bars, start=start, end=end, source="simulated",
                            only={"symbol": list(symbols)}, symbols=symbols)
    return BarBackfill(result, bars)
