"""Gaps in stored bars: minutes inside trading hours without a bar (the `ohlcv` check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from underdog.market.hours import trading_minutes
from underdog.reference.schema import BAR
from underdog.store.db import Database
from underdog.store.offline.readers import bars


@dataclass
class GapReport:
    expected_minutes: int
    missing_minutes: int
    largest_gap_minutes: int
    first_missing: str | None


def bar_gaps(db: Database, symbol: str, start: datetime, end: datetime) -> GapReport:
    """Minutes inside trading hours that have no bar, and the longest run of them."""
    expected = trading_minutes(start, end)
    present = bars(db, symbol, start, end).index
    missing = expected.difference(present)
    if missing.empty:
        return GapReport(len(expected), 0, 0, None)
    runs = np.split(np.arange(len(missing)), np.flatnonzero(_breaks(missing)) + 1)
    return GapReport(len(expected), len(missing), max(len(r) for r in runs),
                     missing[0].isoformat())


def _breaks(minutes: pd.DatetimeIndex) -> np.ndarray:
    """True where the next missing minute does not directly follow this one."""
    return np.diff(minutes) != pd.Timedelta(BAR)
