"""Macro indicators: FRED vintages -> `macro_indicators` rows -> PostgreSQL and Redis; as-of reads.

Point in time. A vintage is known from its `realtime_start` (the day FRED published it), never
from its observation date. FRED gives a day, not a time, so `available_at` is the end of that
day in US Eastern time (the next midnight in New York, in UTC): conservative, a value is never
used before the day it came out has ended. `realtime_end` is the day before the next vintage
of the same observation (NULL: still current). "." stays NULL.

Which rows a window writes. A vintage belongs to the day it was published: a run for the
days [first, end) upserts, by the key (series_id, time, realtime_start), every vintage
published in them, and the vintage each of those superseded (its `realtime_end` closes that
day). Published vintages never change, so rerunning a window rewrites the same rows, windows
that overlap cannot duplicate a vintage, and a revision published later lands in the window
of its own day, without touching the observation's earlier vintages. Windowing by
observation time instead would leave a day's partition empty when it runs (FRED publishes
a day's value the next day, a month's weeks later) and miss every later revision. The first
partition (`first` None) also takes everything published before it. Observations older than
`HISTORY` (the table's retention) before the window's end are not stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from underdog.sources.fred import (
    FixtureSource,
    FredClient,
    FredError,
    NotInFixture,
    Vintages,
    VintageSource,
)
from underdog.sources.http import BACKOFF_S, TRIES
from underdog.store.db import Database
from underdog.store.offline.macro import newest_observation, overlapping_vintages, vintage_asof
from underdog.store.offline.readers import latest
from underdog.store.offline.writers import WriteResult, upsert
from underdog.store.online.cache import LatestCache
from underdog.store.tables import MACRO_INDICATORS

log = logging.getLogger(__name__)

RELEASE_ZONE = ZoneInfo("America/New_York")
HISTORY = pd.DateOffset(years=5)  # = retention of macro_indicators (migration 0001)
SOURCES = ("auto", "fixture", "fred")
# Largest age of the newest observation before a series is stale, by FRED frequency_short.
MAX_AGE_DAYS = {"D": 7, "W": 14, "BW": 21, "M": 80, "Q": 200, "SA": 380, "A": 740}


class MacroFetchError(RuntimeError):
    """Some series could not be fetched; the others were written."""


# ---------------------------------------------------------------- rows


def available_at(realtime_start: pd.Series) -> pd.Series:
    """End of each publication day in US Eastern (the next midnight there), as UTC."""
    next_day = pd.to_datetime(realtime_start).astype("datetime64[us]") + pd.Timedelta(days=1)
    return next_day.dt.tz_localize(RELEASE_ZONE).dt.tz_convert("UTC")


def vintage_rows(vintages: Vintages) -> pd.DataFrame:
    """All vintages of a series as `macro_indicators` rows (realtime_end derived)."""
    obs = vintages.observations
    following = obs.groupby("date", sort=False)["realtime_start"].shift(-1)
    info = vintages.info
    return pd.DataFrame({
        "series_id": info.series_id,
        "time": obs["date"].dt.tz_localize("UTC"),
        "realtime_start": obs["realtime_start"],
        "realtime_end": following - pd.Timedelta(days=1),
        "value": obs["value"],
        "name": info.title or None,
        "units": info.units or None,
        "available_at": available_at(obs["realtime_start"]),
    }, columns=MACRO_INDICATORS.column_names)


def published_in(rows: pd.DataFrame, first: date | None, end: date) -> pd.Series:
    """Mask of the rows releases on days [first, end) created or closed (module docstring)."""
    lo = pd.Timestamp(first) if first else pd.Timestamp.min
    hi = pd.Timestamp(end)
    start = rows["realtime_start"]
    closed_on = rows["realtime_end"] + pd.Timedelta(days=1)
    created = (start >= lo) & (start < hi)
    closed = closed_on.notna() & (closed_on >= lo) & (closed_on < hi)
    recent = rows["time"] >= pd.Timestamp(end, tz="UTC") - HISTORY
    return (created | closed) & recent


def revisions(rows: pd.DataFrame) -> pd.Series:
    """Mask of the rows that are not the first vintage of their observation."""
    return rows["realtime_start"] > rows.groupby("time")["realtime_start"].transform("min")


# ---------------------------------------------------------------- sources


def choose_source(mode: str, *, api_key: str | None, base_url: str, tries: int = TRIES,
                  backoff_s: float = BACKOFF_S) -> tuple[VintageSource | None, str]:
    """(source, label): FRED with a key; the fixture for "fixture", or for "auto" without a
    key; None (label says why) for "fred" without a key."""
    if mode not in SOURCES:
        raise ValueError(f"macro source must be one of {', '.join(SOURCES)}, got {mode!r}")
    if mode == "fixture" or (mode == "auto" and not api_key):
        return FixtureSource(), "fixture"
    if not api_key:
        return None, "skipped: UNDERDOG_FRED_API_KEY is not set (UNDERDOG_MACRO_SOURCE=fred)"
    return FredClient(api_key, base_url=base_url, tries=tries, backoff_s=backoff_s), "fred"


# ---------------------------------------------------------------- fetch -> write


@dataclass
class SeriesRun:
    series_id: str
    written: int = 0
    rejected: int = 0
    revisions: int = 0  # rows written that revise an earlier vintage of their observation
    missing: int = 0  # rows written whose value is "." (NULL)
    frequency: str = ""
    last_updated: str = ""
    first_observation: str = ""
    last_observation: str = ""
    cached: bool = False
    error: str | None = None


@dataclass
class MacroRun:
    source: str  # "fred", "fixture" or "skipped: <why>"
    first: date | None
    end: date
    requested: list[str] = field(default_factory=list)
    series: list[SeriesRun] = field(default_factory=list)
    not_in_source: list[str] = field(default_factory=list)  # series the fixture lacks

    @property
    def skipped(self) -> bool:
        return self.source.startswith("skipped")

    @property
    def written(self) -> int:
        return sum(s.written for s in self.series)

    @property
    def errors(self) -> dict[str, str]:
        return {s.series_id: s.error for s in self.series if s.error}


def fetch_and_write(db: Database, series: Sequence[str], first: date | None, end: date, *,
                    source: VintageSource | None, label: str,
                    cache: LatestCache | None = None) -> MacroRun:
    """Fetch each series' vintages, write those published in [first, end), publish the
    latest value to the cache. A series FRED refuses is reported and the others still load;
    FRED unreachable (FredUnavailable) raises: nothing half-known is written for it."""
    run = MacroRun(label, first, end, requested=list(series))
    if source is None:
        log.warning("macro_indicators: %s", label)
        return run
    for series_id in series:
        try:
            vintages = source.vintages(series_id)
        except NotInFixture:
            run.not_in_source.append(series_id)
            continue
        except FredError as exc:
            run.series.append(SeriesRun(series_id, error=str(exc)))
            continue
        run.series.append(_write_series(db, vintages, first, end, source.label, cache))
    return run


def _write_series(db: Database, vintages: Vintages, first: date | None, end: date,
                  label: str, cache: LatestCache | None) -> SeriesRun:
    info = vintages.info
    every = vintage_rows(vintages)
    window = published_in(every, first, end)
    rows = every[window].reset_index(drop=True)
    result: WriteResult = upsert(db, MACRO_INDICATORS, rows, source=f"{label}:{info.series_id}")
    run = SeriesRun(
        info.series_id, written=result.written, rejected=result.rejected,
        revisions=int(revisions(every)[window].sum()), missing=int(rows["value"].isna().sum()),
        frequency=info.frequency, last_updated=info.last_updated.isoformat(),
        first_observation=_day(rows["time"].min()), last_observation=_day(rows["time"].max()),
    )
    if cache is not None and result.written:
        run.cached = publish_latest(db, cache, info.series_id)
    return run


def _day(moment: pd.Timestamp) -> str:
    return "" if pd.isna(moment) else moment.date().isoformat()


def publish_latest(db: Database, cache: LatestCache, series_id: str) -> bool:
    """Replace the series' cached value with its latest row (what the cache's read-through
    would load). A revision keeps its observation time, which newer-wins would skip, so the
    key is replaced in one step (`LatestCache.refresh`): no reader sees it missing."""
    return cache.refresh("macro", [series_id],
                         load=lambda kind, key, source: latest(db, kind, key, source))


# ---------------------------------------------------------------- reads and audits


def macro_asof(db: Database, series_id: str, at: datetime, *,
               skip_missing: bool = True) -> dict | None:
    """The newest observation of `series_id` known at `at`, in its newest vintage known at
    `at` (available_at <= at); None if nothing was known yet.

    skip_missing: an observation whose newest known vintage is "." is passed over for the
    one before it (the value a model can use); False returns it, value None.
    """
    if at.tzinfo is None or at.tzinfo.utcoffset(at) is None:
        raise ValueError(f"at must be timezone-aware, got naive {at!r}")
    return vintage_asof(db, series_id, at, skip_missing=skip_missing)


def vintage_overlaps(db: Database, series: Sequence[str]) -> dict[str, int]:
    """Per series, vintages that end before they start, or that are still open (or end too
    late) when the next vintage of the same observation starts. {} when all are ordered."""
    return overlapping_vintages(db, series)


@dataclass(frozen=True)
class Freshness:
    series_id: str
    newest_observation: str  # "" when none
    age_days: float | None
    max_age_days: int

    @property
    def fresh(self) -> bool:
        return self.age_days is not None and self.age_days <= self.max_age_days


def freshness(db: Database, series_id: str, end: date, frequency: str = "D") -> Freshness:
    """Age at `end` of the newest observation published before `end`."""
    limit = MAX_AGE_DAYS.get(frequency or "D", MAX_AGE_DAYS["D"])
    newest = newest_observation(db, series_id, end)
    if newest is None:
        return Freshness(series_id, "", None, limit)
    at = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
    age = (at - newest) / timedelta(days=1)
    return Freshness(series_id, newest.date().isoformat(), round(age, 2), limit)


@dataclass(frozen=True)
class WindowAudit:
    """What the macro_indicators checks and metadata look at after a run."""

    series: list[str]  # the series checked: those fetched, else those requested
    fresh: list[Freshness]
    overlaps: dict[str, int]  # vintage_overlaps of `series`
    known: list[dict]  # per fetched series, its macro_asof row at the window's end


def audit_window(db: Database, run: MacroRun, end: datetime) -> WindowAudit:
    """Freshness and vintage order of the run's series at `end`, and the value of each a
    model could use then (newest observation, newest vintage)."""
    frequency = {s.series_id: s.frequency for s in run.series}
    series = list(frequency) or run.requested
    fresh = [freshness(db, s, end.date(), frequency.get(s, "D")) for s in series]
    known = [row for s in run.series if (row := macro_asof(db, s.series_id, end)) is not None]
    return WindowAudit(series, fresh, vintage_overlaps(db, series), known)
