"""FRED / ALFRED through fredapi: a series' info and every vintage of its observations.

fredapi (0.5.2) builds the request URLs from `root_url` and turns FRED's XML into frames.
Its one network call, `Fred.__fetch_data`, uses urllib with no timeout and folds the HTTP
status into a ValueError; `_Fred` replaces just that call with a `requests.Session` GET that
has a timeout, so 429/5xx/timeouts/connection errors are retried (tenacity) and FRED's own
error message (its `<error code=... message=...>` body) reaches the caller. The key is sent
as a query parameter and scrubbed from every error message.

Vintages: `get_series_all_releases` asks for the whole real-time period (1776-07-04 ..
9999-12-31) and gets one row per observation date and vintage (`realtime_start`), a new row
only when the value changed. A narrower real-time window would not do: FRED clips
`realtime_start` to the window's start, which would invent vintages. fredapi drops
`realtime_end`; `underdog.macro.vintages` derives it from the next vintage of the same observation.
FRED's "." (missing) is NaN here and NULL in the table, never 0.

`FIXTURE` holds a small set of FRED-shaped vintages written for this project (VIXCLS, DFF,
T10Y2Y, 2024-01-01 .. 2024-03-15) for the offline demo: `load_fixture` gives the same
`Vintages` as the client.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pandas as pd
import requests
from fredapi import Fred

from underdog.reference import fred_ids
from underdog.reference.endpoints import FRED_URL as DEFAULT_BASE_URL
from underdog.sources.http import (
    BACKOFF_S,
    TRIES,
    GaveUp,
    Transient,
    raise_transient,
    with_retries,
)

log = logging.getLogger(__name__)

FIXTURE = Path(__file__).parent / "fixtures" / "fred_sample.json"
MAX_ROWS = 100_000  # FRED's per-request limit; fredapi does not page past it
MISSING = "."
VINTAGE_COLUMNS = ["date", "realtime_start", "value"]


class FredUnavailable(RuntimeError):
    """FRED did not answer usefully (after retries): nothing may be written from it."""


class FredError(ValueError):
    """FRED refused the request (unknown series, bad key): retrying will not help."""


class NotInFixture(FredError):
    """The fixture has no such series (it holds a few): not an error of FRED's."""


@dataclass(frozen=True)
class SeriesInfo:
    series_id: str
    title: str
    units: str
    frequency: str  # FRED's frequency_short: D, W, BW, M, Q, SA, A
    last_updated: datetime  # tz-aware, in FRED's own offset (US Central)


@dataclass(frozen=True)
class Vintages:
    """A series' info and its observations: one row per (date, realtime_start), sorted;
    `date` and `realtime_start` as naive midnight timestamps, `value` float (NaN = ".")."""

    info: SeriesInfo
    observations: pd.DataFrame


class VintageSource(Protocol):
    label: str

    def info(self, series_id: str) -> SeriesInfo: ...

    def vintages(self, series_id: str) -> Vintages: ...


def parse_last_updated(text: str) -> datetime:
    """FRED's `2024-03-15 07:51:02-05` (offset in hours) as an aware datetime."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"last_updated without an offset: {text!r}")
    return moment


def _info(series_id: str, attributes: Mapping[str, str]) -> SeriesInfo:
    return SeriesInfo(
        series_id=str(attributes.get("id") or series_id),
        title=str(attributes.get("title") or ""),
        units=str(attributes.get("units") or ""),
        frequency=str(attributes.get("frequency_short") or ""),
        last_updated=parse_last_updated(str(attributes["last_updated"])),
    )


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "date": pd.to_datetime(frame["date"]).astype("datetime64[us]"),
        "realtime_start": pd.to_datetime(frame["realtime_start"]).astype("datetime64[us]"),
        "value": pd.to_numeric(frame["value"], errors="coerce").astype("float64"),
    })
    return out.sort_values(["date", "realtime_start"], kind="stable").reset_index(drop=True)


def empty_observations() -> pd.DataFrame:
    return _sorted(pd.DataFrame({c: [] for c in VINTAGE_COLUMNS}))


# ---------------------------------------------------------------- FRED


class FredClient:
    """Series info and all vintages from FRED (or a server speaking its XML at `base_url`)."""

    label = "fred"

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_BASE_URL,
                 session: requests.Session | None = None, tries: int = TRIES,
                 backoff_s: float = BACKOFF_S, timeout_s: float = 30.0) -> None:
        if not api_key:
            raise FredError("no FRED API key: set UNDERDOG_FRED_API_KEY")
        http = _Http(session or requests.Session(), api_key, tries, backoff_s, timeout_s)
        self._fred = _Fred(api_key, base_url, http)

    def info(self, series_id: str) -> SeriesInfo:
        series_id = _checked(series_id)
        return _info(series_id, self._fred.get_series_info(series_id).to_dict())

    def vintages(self, series_id: str) -> Vintages:
        info = self.info(series_id)
        frame = self._fred.get_series_all_releases(_checked(series_id))
        if len(frame) >= MAX_ROWS:
            log.warning("%s: %d rows, FRED's per-request limit: older vintages may be cut off",
                        series_id, len(frame))
        observations = _sorted(frame) if len(frame) else empty_observations()
        return Vintages(info, observations)


def _checked(series_id: str) -> str:
    """The id as it may go into a URL (fredapi does not encode it), else FredError."""
    try:
        return fred_ids.series_id(series_id)
    except ValueError as exc:
        raise FredError(str(exc)) from None


class _Fred(Fred):
    """fredapi's URL building and XML parsing over `_Http` (see the module docstring)."""

    def __init__(self, api_key: str, root_url: str, http: _Http) -> None:
        super().__init__(api_key=api_key)
        self.root_url = root_url.rstrip("/")
        self._http = http

    def _Fred__fetch_data(self, url: str) -> ET.Element:  # noqa: N802 (fredapi's private name)
        return self._http.xml(url)


@dataclass(frozen=True)
class _Http:
    session: requests.Session
    api_key: str = field(repr=False)
    tries: int
    backoff_s: float
    timeout_s: float

    def xml(self, url: str) -> ET.Element:
        try:
            return with_retries(self._get, url, tries=self.tries, backoff_s=self.backoff_s)
        except GaveUp as exc:
            # `from None`: the original exception's text carries the URL with the key.
            raise FredUnavailable(self._scrub(f"{_where(url)}: {exc}")) from None

    def _get(self, url: str) -> ET.Element:
        response = self.session.get(url, params={"api_key": self.api_key},
                                    timeout=self.timeout_s)
        raise_transient(response, _message(response.content))
        status = response.status_code
        if status != 200:
            raise FredError(self._scrub(f"{_where(url)}: HTTP {status}"
                                        f"{_message(response.content)}"))
        try:
            return ET.fromstring(response.content)  # noqa: S314 (see _message)
        except ET.ParseError as exc:  # a proxy's or a maintenance page
            raise Transient(f"HTTP 200 with a body that is not XML: {exc}") from None

    def _scrub(self, text: str) -> str:
        return text.replace(self.api_key, "***")


def _message(body: bytes) -> str:
    """FRED's `<error code=".." message=".."/>` text, if the body is one.

    ElementTree resolves no external entities, and expat >= 2.4.1 bounds entity expansion.
    """
    try:
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return ""
    message = root.get("message")
    return f": {message}" if root.tag == "error" and message else ""


def _where(url: str) -> str:
    """The request without its host (FRED's path and query: which series, which call)."""
    return url.split("://", 1)[-1].split("/", 1)[-1]


# ---------------------------------------------------------------- fixture


class FixtureSource:
    """The bundled FRED-shaped sample (see the module docstring)."""

    label = "fixture"

    def __init__(self, path: Path = FIXTURE) -> None:
        self.path = path
        self._series = load_fixture(path)

    @property
    def series(self) -> Sequence[str]:
        return list(self._series)

    def info(self, series_id: str) -> SeriesInfo:
        return self.vintages(series_id).info

    def vintages(self, series_id: str) -> Vintages:
        if series_id not in self._series:
            raise NotInFixture(f"{series_id} is not in the fixture {self.path.name} "
                            f"(it has {', '.join(self._series)})")
        return self._series[series_id]


def load_fixture(path: Path = FIXTURE) -> dict[str, Vintages]:
    """series id -> Vintages, from FRED-shaped JSON: per series `info` (FRED's series
    attributes) and `observations` (realtime_start, realtime_end, date, value as strings)."""
    document = json.loads(path.read_text())
    return {series_id: vintages_from_records(series_id, body["info"], body["observations"])
            for series_id, body in document["series"].items()}


def vintages_from_records(series_id: str, info: Mapping[str, str],
                          observations: Sequence[Mapping[str, str]]) -> Vintages:
    """Vintages from FRED's observation records (values as FRED writes them, "." missing)."""
    frame = pd.DataFrame(list(observations), columns=["date", "realtime_start", "value"])
    frame["value"] = [float("nan") if v == MISSING else float(v) for v in frame["value"]]
    return Vintages(_info(series_id, info), _sorted(frame))
