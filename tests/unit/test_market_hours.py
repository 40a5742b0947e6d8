from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from underdog.market.hours import is_open, trading_minutes

# The week of Monday 2024-03-04 .. Sunday 2024-03-10.
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)
FRIDAY = MONDAY + timedelta(days=4)
SATURDAY = MONDAY + timedelta(days=5)
SUNDAY = MONDAY + timedelta(days=6)


def _open_at(*stamps: str) -> list[bool]:
    return is_open(
        pd.DatetimeIndex(pd.to_datetime(list(stamps), utc=True, format="ISO8601"))
    ).tolist()


def test_weekend_boundaries_are_half_open() -> None:
    assert _open_at(
        "2024-03-08 21:59:59.999",  # Friday, last instant open
        "2024-03-08 22:00:00",  # Friday close
        "2024-03-09 12:00:00",  # Saturday
        "2024-03-10 21:59:59.999",  # Sunday, still closed
        "2024-03-10 22:00:00",  # Sunday open
        "2024-03-11 00:00:00",  # Monday midnight
        "2024-03-06 22:30:00",  # a Wednesday evening
    ) == [True, False, False, False, True, True, True]


def test_is_open_returns_a_bool_array_of_the_same_length() -> None:
    times = pd.date_range(MONDAY, periods=10_080, freq="min")
    result = is_open(times)
    assert isinstance(result, np.ndarray)
    assert result.dtype == bool
    assert result.shape == (10_080,)
    assert int(result.sum()) == 5 * 1440  # 120 open hours a week


def test_is_open_on_empty_index() -> None:
    assert is_open(pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")).shape == (0,)


def test_is_open_converts_other_time_zones_to_utc() -> None:
    # Friday 23:30 in Athens (UTC+2 in March) is 21:30 UTC: open; 00:30 Saturday is closed.
    athens = pd.DatetimeIndex(
        [
            pd.Timestamp("2024-03-08 23:30", tz="Europe/Athens"),
            pd.Timestamp("2024-03-09 00:30", tz="Europe/Athens"),
        ]
    )
    assert is_open(athens).tolist() == [True, False]


def test_is_open_rejects_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(pd.DatetimeIndex([pd.Timestamp("2024-03-05 10:00")]))


@pytest.mark.parametrize(
    ("day", "expected"),
    [(MONDAY, 1440), (FRIDAY, 22 * 60), (SATURDAY, 0), (SUNDAY, 2 * 60)],
)
def test_trading_minutes_per_day(day: datetime, expected: int) -> None:
    minutes = trading_minutes(day, day + timedelta(days=1))
    assert len(minutes) == expected
    assert str(minutes.tz) == "UTC"


def test_trading_minutes_around_the_weekend() -> None:
    minutes = trading_minutes(FRIDAY + timedelta(hours=21), SUNDAY + timedelta(hours=23))
    expected = [FRIDAY + timedelta(hours=21, minutes=m) for m in range(60)] + [
        SUNDAY + timedelta(hours=22, minutes=m) for m in range(60)
    ]
    assert list(minutes) == [pd.Timestamp(t) for t in expected]


def test_trading_minutes_interval_is_start_inclusive_end_exclusive() -> None:
    start = MONDAY + timedelta(hours=10)
    minutes = trading_minutes(start, start + timedelta(minutes=3))
    assert list(minutes) == [pd.Timestamp(start + timedelta(minutes=m)) for m in range(3)]


def test_trading_minutes_skip_a_minute_whose_start_precedes_start() -> None:
    start = MONDAY + timedelta(hours=10, seconds=30)
    minutes = trading_minutes(start, MONDAY + timedelta(hours=10, minutes=2, seconds=1))
    assert list(minutes) == [
        pd.Timestamp(MONDAY + timedelta(hours=10, minutes=1)),
        pd.Timestamp(MONDAY + timedelta(hours=10, minutes=2)),
    ]


def test_trading_minutes_empty_when_end_not_after_start() -> None:
    assert len(trading_minutes(MONDAY, MONDAY)) == 0
    assert len(trading_minutes(MONDAY, MONDAY - timedelta(hours=1))) == 0


def test_trading_minutes_accept_other_time_zones() -> None:
    new_york = timezone(timedelta(hours=-5))
    start = datetime(2024, 3, 4, 5, 0, tzinfo=new_york)  # 10:00 UTC
    minutes = trading_minutes(start, start + timedelta(minutes=1))
    assert list(minutes) == [pd.Timestamp("2024-03-04 10:00", tz="UTC")]


@pytest.mark.parametrize("which", ["start", "end"])
def test_trading_minutes_reject_naive_datetimes(which: str) -> None:
    naive, aware = datetime(2024, 3, 4, 10), MONDAY + timedelta(hours=12)
    start, end = (naive, aware) if which == "start" else (MONDAY, naive)
    with pytest.raises(ValueError, match=which):
        trading_minutes(start, end)
