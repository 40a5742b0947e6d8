"""SEC EDGAR: company submissions (JSON) and Form 4 documents (XML), within SEC's fair-access rules.

- Every request declares a User-Agent naming the requester and a contact e-mail
  (UNDERDOG_SEC_USER_AGENT). SEC answers 403 to requests without one, so the client refuses
  to start without it (`EdgarConfigError`).
- At most 10 requests per second: one `RateLimiter` (a sliding one-second window) paces every
  request of a client, retries included.
- 429/5xx, timeouts and connection errors are retried with exponential backoff; if they
  persist, `EdgarUnavailable`. A 403 (blocked: no User-Agent or over the rate) or a 404 is
  `EdgarError` for that request.

Hosts: the submissions API is on data.sec.gov (`base_url`); filings and company_tickers.json
are on www.sec.gov (`archives_url`).

An entry of the submissions whose filingDate or acceptanceDateTime cannot be read is an
`UnreadableEntry` (`filings_and_unreadable`): its filing is reported, the others still load.
It is placed by its filingDate when that one reads, else it is reported in every window.

Two traps:
- `acceptanceDateTime` ends in "Z", but for many filers it is New York wall time with a "Z"
  appended. `accepted_at` reads the wall time as America/New_York: the later of the two
  readings (New York is behind UTC), so a filing is never taken as known before it was.
- `primaryDocument` of a Form 4 names the XSL-rendered HTML view (`xslF345X05/...xml`); the
  XML itself is the same file name without that folder.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from underdog.reference.endpoints import EDGAR_ARCHIVES_URL as DEFAULT_ARCHIVES_URL
from underdog.reference.endpoints import EDGAR_URL as DEFAULT_BASE_URL
from underdog.sources.http import (
    BACKOFF_S,
    TRIES,
    GaveUp,
    raise_transient,
    with_retries,
)

MAX_PER_SECOND = 10
FORM4 = ("4", "4/A")
FILER_ZONE = ZoneInfo("America/New_York")


class EdgarConfigError(ValueError):
    """The client cannot be used as configured (no User-Agent)."""


class EdgarError(RuntimeError):
    """SEC refused or does not have what was asked (403, 404, other 4xx)."""


class EdgarUnavailable(RuntimeError):
    """SEC did not answer usefully after retries."""


class RateLimiter:
    """At most `calls` acquisitions in any `period_s` seconds (sliding window), across threads.

    `clock` and `sleep` are injectable so that tests can run it on a fake clock.
    """

    def __init__(self, calls: int = MAX_PER_SECOND, period_s: float = 1.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.calls, self.period_s = calls, period_s
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:  # waiters queue here: the window is shared
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.period_s:
                    self._sent.popleft()
                if len(self._sent) < self.calls:
                    self._sent.append(now)
                    return
                self._sleep(self._sent[0] + self.period_s - now)


@dataclass(frozen=True)
class Filing:
    cik: str  # 10 digits
    accession: str  # 0000320193-24-000042
    form: str
    filing_date: date
    accepted_at: datetime  # UTC, conservative (module docstring)
    document: str  # the raw XML's file name inside the filing folder


@dataclass(frozen=True)
class UnreadableEntry:
    """A submissions entry whose dates cannot be read (e.g. filingDate 2024-02-30)."""

    cik: str
    accession: str
    form: str
    filing_date: date | None  # None: unreadable too
    error: str


def pad_cik(cik: str | int) -> str:
    digits = str(cik).strip()
    if not digits.isdigit():
        raise ValueError(f"a CIK is digits, got {cik!r}")
    return digits.zfill(10)


def accepted_at(text: str) -> datetime:
    """`acceptanceDateTime` -> UTC, its wall time read as New York time (module docstring)."""
    wall = datetime.fromisoformat(text.strip().removesuffix("Z")).replace(tzinfo=None)
    return wall.replace(tzinfo=FILER_ZONE).astimezone(UTC)


def raw_document(primary: str) -> str:
    """The XML file of a Form 4 whose primaryDocument may be its XSL-rendered view."""
    folder, _, name = primary.rpartition("/")
    return name if folder.startswith("xsl") else primary


class EdgarClient:
    def __init__(self, user_agent: str | None, *, base_url: str = DEFAULT_BASE_URL,
                 archives_url: str = DEFAULT_ARCHIVES_URL,
                 session: requests.Session | None = None, limiter: RateLimiter | None = None,
                 tries: int = TRIES, backoff_s: float = BACKOFF_S, timeout_s: float = 30.0) -> None:
        if not user_agent or "@" not in user_agent:
            raise EdgarConfigError(
                "UNDERDOG_SEC_USER_AGENT must name you and a contact e-mail, e.g. "
                f"'Underdog Research ops@example.com' (SEC fair access), got {user_agent!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.archives_url = archives_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": user_agent,
                                     "Accept-Encoding": "gzip, deflate"})
        self.limiter = limiter or RateLimiter()
        self.tries, self.backoff_s, self.timeout_s = tries, backoff_s, timeout_s

    # ------------------------------------------------------------ requests

    def submissions_url(self, cik: str) -> str:
        return f"{self.base_url}/submissions/CIK{pad_cik(cik)}.json"

    def submissions(self, cik: str) -> dict:
        return self._get(self.submissions_url(cik)).json()

    def ticker_ciks(self) -> dict[str, str]:
        """Ticker -> 10-digit CIK, from SEC's company_tickers.json."""
        table = self._get(f"{self.archives_url}/files/company_tickers.json").json()
        return {str(row["ticker"]).upper(): pad_cik(row["cik_str"]) for row in table.values()}

    def document_url(self, filing: Filing) -> str:
        folder = filing.accession.replace("-", "")
        return (f"{self.archives_url}/Archives/edgar/data/{int(filing.cik)}/{folder}/"
                f"{filing.document}")

    def document(self, filing: Filing) -> bytes:
        return self._get(self.document_url(filing)).content

    def filings(self, cik: str, start: datetime, end: datetime,
                forms: Iterable[str] = FORM4) -> list[Filing]:
        """Filings of `forms` accepted (conservatively, see accepted_at) in [start, end)."""
        return self.filings_and_unreadable(cik, start, end, forms)[0]

    def filings_and_unreadable(self, cik: str, start: datetime, end: datetime,
                               forms: Iterable[str] = FORM4,
                               ) -> tuple[list[Filing], list[UnreadableEntry]]:
        """`filings`, and the entries of `forms` of the window whose dates cannot be read."""
        wanted = set(forms)
        found, unreadable = [], []
        for entry in self._all_filings(cik, start, end):
            if entry.form not in wanted:
                continue
            if isinstance(entry, UnreadableEntry):
                day = entry.filing_date
                if day is None or start.date() <= day <= end.date():
                    unreadable.append(entry)
            elif start <= entry.accepted_at < end:
                found.append(entry)
        return sorted(found, key=lambda f: (f.accepted_at, f.accession)), unreadable

    def _all_filings(self, cik: str, start: datetime, end: datetime,
                     ) -> Iterator[Filing | UnreadableEntry]:
        body = self.submissions(cik)
        recent = body.get("filings", {}).get("recent", {})
        yield from _page_filings(pad_cik(cik), recent)
        dates = recent.get("filingDate") or []
        if dates and min(dates) <= start.date().isoformat():
            return  # the recent page reaches back past the window
        for page in body.get("filings", {}).get("files", []):
            if page["filingFrom"] <= end.date().isoformat() and \
                    page["filingTo"] >= (start.date() - timedelta(days=1)).isoformat():
                older = self._get(f"{self.base_url}/submissions/{page['name']}").json()
                yield from _page_filings(pad_cik(cik), older)

    # ------------------------------------------------------------ HTTP

    def _get(self, url: str) -> requests.Response:
        try:
            return with_retries(self._once, url, tries=self.tries, backoff_s=self.backoff_s)
        except GaveUp as exc:
            raise EdgarUnavailable(f"{url}: {exc}") from exc.cause

    def _once(self, url: str) -> requests.Response:
        self.limiter.acquire()
        response = self.session.get(url, timeout=self.timeout_s)
        raise_transient(response)
        status = response.status_code
        if status == 403:
            raise EdgarError(f"{url}: HTTP 403 (SEC blocks requests without a User-Agent "
                             "naming you and an e-mail, and clients above 10 requests/s)")
        if status != 200:
            raise EdgarError(f"{url}: HTTP {status} {response.reason}")
        return response


def _page_filings(cik: str, page: dict) -> Iterator[Filing | UnreadableEntry]:
    """Filings of one submissions page (parallel arrays, one entry per filing)."""
    columns = ("accessionNumber", "form", "filingDate", "acceptanceDateTime", "primaryDocument")
    for accession, form, filed, accepted, primary in zip(
        *(page.get(c, []) for c in columns), strict=True
    ):
        filing_date = _day(filed)
        try:
            when = accepted_at(accepted)
        except (TypeError, ValueError):
            when = None
        if filing_date is None or when is None:
            yield UnreadableEntry(cik, accession, form, filing_date,
                                  f"unreadable filingDate {filed!r} or acceptanceDateTime "
                                  f"{accepted!r}")
            continue
        yield Filing(cik, accession, form, filing_date, when, raw_document(primary))


def _day(text: object) -> date | None:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        return None
