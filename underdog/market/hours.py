"""The FX trading week in UTC.

The market is closed from Friday 22:00 UTC until Sunday 22:00 UTC and open at every other
instant. Deliberate simplifications: no holidays (Christmas and New Year trade like any other
day) and no daylight-saving shift (the real close moves between 21:00 and 22:00 UTC with New
York DST; here it is always 22:00 UTC).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

_MINUTES_PER_DAY = 1440
# Minute of the week (Monday 00:00 = 0) at which the weekend starts and ends.
WEEKEND_START_MINUTE = 4 * _MINUTES_PER_DAY + 22 * 60  # Friday 22:00
WEEKEND_END_MINUTE = 6 * _MINUTES_PER_DAY + 22 * 60  # Sunday 22:00


def _require_aware(value: datetime, name: str) -> pd.Timestamp:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return pd.Timestamp(value).tz_convert("UTC")


def is_open(times: pd.DatetimeIndex) -> np.ndarray:
    """Whether the market is open at each of `times` (bool array, same length).

    The weekend interval is half-open: Friday 21:59:59.999 is open, Friday 22:00 closed,
    Sunday 21:59:59.999 closed, Sunday 22:00 open. Naive times raise ValueError.
    """
    index = pd.DatetimeIndex(times)
    if index.tz is None:
        raise ValueError("times must be timezone-aware (UTC); got naive datetimes")
    utc = index.tz_convert("UTC")
    # Floor to the minute: the weekend boundaries are whole minutes.
    minute_of_week = (
        utc.day_of_week.to_numpy() * _MINUTES_PER_DAY
        + utc.hour.to_numpy() * 60
        + utc.minute.to_numpy()
    )
    weekend = (minute_of_week >= WEEKEND_START_MINUTE) & (minute_of_week < WEEKEND_END_MINUTE)
    return np.asarray(~weekend, dtype=bool)


def trading_minutes(start: datetime, end: datetime) -> pd.DatetimeIndex:
    """Starts of the open minutes within [start, end), as a UTC DatetimeIndex (ns).

    A minute counts if its start lies in [start, end); `start` not on a minute boundary
    therefore excludes the minute it falls in. Naive datetimes raise ValueError.
    """
    first = _require_aware(start, "start").ceil("min")
    stop = _require_aware(end, "end")
    if stop <= first:
        return pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")
    minutes = pd.date_range(first, stop, freq="min", inclusive="left", unit="ns")
    return minutes[is_open(minutes)]
