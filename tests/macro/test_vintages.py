"""Vintages -> rows: available_at, realtime_end, and which rows a publication window owns."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from underdog.macro.vintages import available_at, published_in, revisions, vintage_rows
from underdog.sources.fred import FIXTURE, FixtureSource, vintages_from_records
from underdog.store.tables import MACRO_INDICATORS

INFO = {"id": "TEST", "title": "Test series", "units": "Percent", "frequency_short": "D",
        "last_updated": "2024-03-07 08:00:00-06"}


def series(*records: tuple[str, str, str]) -> pd.DataFrame:
    """(date, realtime_start, value) records -> rows."""
    observations = [{"date": d, "realtime_start": rs, "value": v} for d, rs, v in records]
    return vintage_rows(vintages_from_records("TEST", INFO, observations))


@pytest.mark.parametrize(("published", "known"), [
    ("2024-03-05", "2024-03-06T05:00:00Z"),  # EST: the next midnight in New York
    ("2024-03-10", "2024-03-11T04:00:00Z"),  # DST began that night: EDT
    ("2024-11-02", "2024-11-03T04:00:00Z"),
    ("2024-11-03", "2024-11-04T05:00:00Z"),
    ("2023-12-31", "2024-01-01T05:00:00Z"),
])
def test_a_vintage_is_known_at_the_end_of_its_day_in_new_york(published: str,
                                                              known: str) -> None:
    got = available_at(pd.Series([pd.Timestamp(published)]))
    assert got.iloc[0] == pd.Timestamp(known)
    assert str(got.dtype) == "datetime64[us, UTC]"


def test_rows_have_the_table_columns_a_derived_realtime_end_and_null_for_missing() -> None:
    rows = series(("2024-03-01", "2024-03-04", "."), ("2024-03-01", "2024-03-05", "4.5"),
                  ("2024-03-01", "2024-03-08", "4.6"), ("2024-03-04", "2024-03-05", "4.4"))
    assert list(rows.columns) == MACRO_INDICATORS.column_names
    assert rows["realtime_end"].dt.strftime("%Y-%m-%d").fillna("open").tolist() == [
        "2024-03-04", "2024-03-07", "open", "open"]
    assert pd.isna(rows["value"].iloc[0]) and rows["value"].iloc[1:].tolist() == [4.5, 4.6, 4.4]
    assert rows["time"].iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert (rows["name"] == "Test series").all() and (rows["units"] == "Percent").all()
    assert revisions(rows).tolist() == [False, True, True, False]


def test_the_derived_realtime_end_matches_what_fred_wrote_in_the_fixture() -> None:
    document = json.loads(FIXTURE.read_text())["series"]
    for series_id, body in document.items():
        rows = vintage_rows(FixtureSource().vintages(series_id))
        written = sorted((r["date"], r["realtime_start"], r["realtime_end"])
                         for r in body["observations"])
        derived = sorted(zip(rows["time"].dt.strftime("%Y-%m-%d"),
                             rows["realtime_start"].dt.strftime("%Y-%m-%d"),
                             rows["realtime_end"].dt.strftime("%Y-%m-%d").fillna("9999-12-31"),
                             strict=True))
        assert derived == written, series_id


ROWS = (("2024-03-01", "2024-03-04", "1"), ("2024-03-01", "2024-03-06", "2"),
        ("2024-03-04", "2024-03-05", "3"), ("2024-03-05", "2024-03-06", "4"),
        ("2024-02-28", "2024-02-29", "5"))


def owned(first: date | None, end: date) -> list[tuple[str, str]]:
    rows = series(*ROWS)
    picked = rows[published_in(rows, first, end)]
    return sorted(zip(picked["time"].dt.strftime("%m-%d"),
                      picked["realtime_start"].dt.strftime("%m-%d"), strict=True))


def test_a_day_owns_the_vintages_it_published_and_closed() -> None:
    # Mar 6 published Mar 1's revision and Mar 5's value, and closed Mar 1's first vintage.
    assert owned(date(2024, 3, 6), date(2024, 3, 7)) == [("03-01", "03-04"), ("03-01", "03-06"),
                                                        ("03-05", "03-06")]
    assert owned(date(2024, 3, 5), date(2024, 3, 6)) == [("03-04", "03-05")]
    assert owned(date(2024, 3, 7), date(2024, 3, 8)) == []


def test_the_first_window_owns_everything_earlier_and_windows_cover_every_vintage() -> None:
    assert owned(None, date(2024, 3, 1)) == [("02-28", "02-29")]
    days = pd.date_range("2024-02-25", "2024-03-10").date
    union = set(owned(None, days[0]))
    for day in days:
        union |= set(owned(day, day + pd.Timedelta(days=1)))
    assert union == set(owned(None, date(2024, 3, 11)))
    assert len(union) == len(ROWS)


def test_observations_older_than_the_retention_are_left_out() -> None:
    rows = series(("2018-01-02", "2018-01-03", "1"), ("2019-03-20", "2019-03-21", "2"),
                  ("2024-03-01", "2024-03-04", "3"))
    picked = rows[published_in(rows, None, date(2024, 3, 15))]
    assert picked["time"].dt.year.tolist() == [2019, 2024]
