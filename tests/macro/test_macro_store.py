"""Vintages into PostgreSQL and Redis: idempotent windows, the as-of reader across revisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import table_checksum
from underdog.features import pit
from underdog.macro.vintages import (
    fetch_and_write,
    freshness,
    macro_asof,
    vintage_overlaps,
    vintage_rows,
)
from underdog.sources.fred import FixtureSource, SeriesInfo, Vintages, vintages_from_records
from underdog.store.db import Database
from underdog.store.offline.writers import upsert
from underdog.store.online.cache import LatestCache
from underdog.store.tables import MACRO_INDICATORS

FIXTURE_SERIES = ["VIXCLS", "DFF", "T10Y2Y"]
ALL_PUBLISHED = date(2024, 3, 16)
US = timedelta(microseconds=1)


class Source:
    """A vintage source of hand-written records (the FRED client's interface)."""

    label = "test"

    def __init__(self, records: dict[str, list[tuple[str, str, str]]]) -> None:
        info = {"title": "Test", "units": "Percent", "frequency_short": "D",
                "last_updated": "2024-03-08 08:00:00-06"}
        self.data = {s: vintages_from_records(s, {**info, "id": s}, [
            {"date": d, "realtime_start": rs, "value": v} for d, rs, v in rows])
            for s, rows in records.items()}

    def info(self, series_id: str) -> SeriesInfo:
        return self.data[series_id].info

    def vintages(self, series_id: str) -> Vintages:
        return self.data[series_id]


# VIX observed Mar 1 = 10 (published Mar 2), revised to 12 (Mar 5); Mar 4 = 20 (Mar 6);
# Mar 5 "." (Mar 7), then 21 (Mar 8).
REVISED = Source({"TEST": [("2024-03-01", "2024-03-02", "10"), ("2024-03-01", "2024-03-05", "12"),
                           ("2024-03-04", "2024-03-06", "20"), ("2024-03-05", "2024-03-07", "."),
                           ("2024-03-05", "2024-03-08", "21")]})


def write(db: Database, source: object, first: date | None, end: date,
          series: list[str] | None = None, cache: LatestCache | None = None):
    names = series or (list(source.data) if isinstance(source, Source) else FIXTURE_SERIES)
    return fetch_and_write(db, names, first, end, source=source, label=source.label,
                           cache=cache)


def value_at(db: Database, text: str, **kwargs: bool) -> float | None:
    row = macro_asof(db, "TEST", pd.Timestamp(text, tz="UTC").to_pydatetime(), **kwargs)
    return None if row is None else row["value"]


def test_a_revision_is_not_known_before_the_end_of_its_publication_day(db: Database) -> None:
    write(db, REVISED, None, date(2024, 3, 9))
    # available_at = next midnight in New York = 05:00 UTC (EST)
    assert value_at(db, "2024-03-03 04:59:59.999999") is None
    assert value_at(db, "2024-03-03 05:00") == 10.0
    assert value_at(db, "2024-03-06 04:59:59.999999") == 10.0  # the revision came out Mar 5
    assert value_at(db, "2024-03-06 05:00") == 12.0
    assert value_at(db, "2024-03-07 05:00") == 20.0
    assert value_at(db, "2024-03-08 05:00") == 20.0  # Mar 5 is "." : the value before it
    assert value_at(db, "2024-03-08 05:00", skip_missing=False) is None
    assert value_at(db, "2024-03-09 05:00") == 21.0


def test_a_value_withdrawn_as_missing_is_not_used(db: Database) -> None:
    source = Source({"TEST": [("2024-03-01", "2024-03-02", "10"), ("2024-03-04", "2024-03-05",
                                                                   "20"),
                              ("2024-03-04", "2024-03-06", ".")]})
    write(db, source, None, date(2024, 3, 9))
    assert value_at(db, "2024-03-06 05:00") == 20.0
    assert value_at(db, "2024-03-07 05:00") == 10.0  # Mar 4 now reads ".": fall back to Mar 1
    row = macro_asof(db, "TEST", datetime(2024, 3, 7, 5, tzinfo=UTC), skip_missing=False)
    assert row["value"] is None and row["realtime_start"] == date(2024, 3, 6)


def test_the_as_of_reader_agrees_with_the_state_vector_join_at_every_release(
    db: Database,
) -> None:
    write(db, FixtureSource(), None, ALL_PUBLISHED)
    for series_id in FIXTURE_SERIES:
        rows = vintage_rows(FixtureSource().vintages(series_id))
        times = np.unique(pit.as_ns(rows["available_at"]))
        at = np.concatenate([times - 1000, times])  # 1 us before each release, and at it
        expected = pit.latest_vintage(at, pit.as_ns(rows["time"]),
                                      pit.as_ns(rows["available_at"]),
                                      rows["value"].to_numpy(dtype="float64"), default=np.nan)
        for t, want in zip(pd.to_datetime(at, utc=True), expected, strict=True):
            row = macro_asof(db, series_id, t.to_pydatetime())
            got = np.nan if row is None else row["value"]
            assert got == want or (np.isnan(got) and np.isnan(want)), (series_id, t)
            assert row is None or row["available_at"] <= t  # never a value from the future


def test_windows_in_any_split_give_the_same_table_and_reruns_change_nothing(
    db: Database,
) -> None:
    write(db, FixtureSource(), None, ALL_PUBLISHED)
    whole = table_checksum(db, "macro_indicators")
    assert whole[0] == 60 + 80 + 58  # every vintage of the fixture
    write(db, FixtureSource(), None, ALL_PUBLISHED)
    assert table_checksum(db, "macro_indicators") == whole
    with db.connection() as conn:
        conn.execute("TRUNCATE underdog.macro_indicators")
    cuts = [None, date(2024, 1, 1), date(2024, 1, 30), date(2024, 2, 16), date(2024, 3, 12),
            ALL_PUBLISHED]
    for first, end in reversed(list(zip(cuts, cuts[1:], strict=False))):  # out of order
        write(db, FixtureSource(), first, end)
    assert table_checksum(db, "macro_indicators") == whole
    assert vintage_overlaps(db, FIXTURE_SERIES) == {}


def test_a_window_writes_only_what_its_days_published(db: Database) -> None:
    run = write(db, FixtureSource(), date(2024, 3, 12), date(2024, 3, 13))
    with db.connection() as conn:
        rows = conn.execute("SELECT series_id, time::date, realtime_start, realtime_end, value"
                            " FROM underdog.macro_indicators ORDER BY 1, 2, 3").fetchall()
    vix = [r for r in rows if r[0] == "VIXCLS"]
    assert vix == [("VIXCLS", date(2024, 3, 8), date(2024, 3, 11), date(2024, 3, 11), 13.86),
                   ("VIXCLS", date(2024, 3, 8), date(2024, 3, 12), None, 13.73),
                   ("VIXCLS", date(2024, 3, 11), date(2024, 3, 12), None, 14.06)]
    assert {s.series_id: s.revisions for s in run.series} == {"VIXCLS": 1, "DFF": 0,
                                                              "T10Y2Y": 0}


def test_the_latest_value_goes_to_redis_and_a_revision_replaces_it(
    db: Database, redis_prefix: str
) -> None:
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}_macro", ttl_s=3600)
    cache.clear()
    write(db, REVISED, None, date(2024, 3, 8), cache=cache)
    assert cache.get("macro", "TEST")["value"] is None  # Mar 5's "." is the latest row
    write(db, REVISED, date(2024, 3, 8), date(2024, 3, 9), cache=cache)
    cached = cache.get("macro", "TEST")
    assert cached["value"] == 21.0 and cached["realtime_start"] == date(2024, 3, 8)
    assert cached["time"] == datetime(2024, 3, 5, tzinfo=UTC)
    assert 3500 < cache.client.ttl(cache.key("macro", "TEST")) <= 3600
    cache.clear()


def test_a_source_that_lacks_a_series_or_is_skipped_writes_nothing_for_it(
    db: Database,
) -> None:
    run = fetch_and_write(db, ["VIXCLS", "UNRATE"], None, ALL_PUBLISHED,
                          source=FixtureSource(), label="fixture")
    assert run.not_in_source == ["UNRATE"] and [s.series_id for s in run.series] == ["VIXCLS"]
    skipped = fetch_and_write(db, ["DFF"], None, ALL_PUBLISHED, source=None,
                              label="skipped: no key")
    assert skipped.skipped and skipped.series == [] and skipped.written == 0


def test_overlapping_or_open_superseded_vintages_are_found(db: Database) -> None:
    rows = vintage_rows(REVISED.vintages("TEST"))
    rows.loc[0, "realtime_end"] = pd.NaT  # Mar 1's first vintage left open under the revision
    rows.loc[3, "realtime_end"] = pd.Timestamp("2024-03-09")  # ends after the next began
    upsert(db, MACRO_INDICATORS, rows, source="test")
    assert vintage_overlaps(db, ["TEST"]) == {"TEST": 2}
    assert vintage_overlaps(db, ["OTHER"]) == {}


def test_freshness_is_the_age_of_the_newest_published_observation(db: Database) -> None:
    write(db, FixtureSource(), None, ALL_PUBLISHED)
    fresh = freshness(db, "VIXCLS", date(2024, 3, 13))
    assert (fresh.newest_observation, fresh.age_days, fresh.fresh) == ("2024-03-11", 2.0, True)
    stale = freshness(db, "VIXCLS", date(2024, 4, 1))
    assert stale.age_days == 18.0 and not stale.fresh
    assert freshness(db, "CPIAUCSL", date(2024, 4, 1), "M").newest_observation == ""
    assert freshness(db, "CPIAUCSL", date(2024, 4, 1), "M").max_age_days == 80


def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        macro_asof(db, "VIXCLS", datetime(2024, 3, 1))  # noqa: DTZ001
