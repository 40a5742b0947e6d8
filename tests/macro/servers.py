"""Local stand-ins for FRED, SEC EDGAR and Alpha Vantage, speaking their wire formats.

Written from the services' documented formats, independently of the clients under test:
- FRED: `series` (a `<seriess>` of one `<series .../>`) and `series/observations` (an
  `<observations>` of `<observation realtime_start realtime_end date value/>`), with FRED's
  real-time semantics (rows whose real-time period meets the asked one, clipped to it; the
  default period is "today") and its `<error code message/>` bodies.
- EDGAR: submissions JSON (columnar `filings.recent` and older `files` pages),
  company_tickers.json and the archives' documents; 403 without a User-Agent, as SEC does.
- Alpha Vantage: `/query?function=INSIDER_TRANSACTIONS` JSON, and whatever body a test queues
  (e.g. the 200 {"Note": ...} rate-limit notice).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import quoteattr

from tests.helpers import QuietHandler, serving

Answer = tuple[int, bytes] | tuple[int, bytes, float]  # status, body[, delay_s]


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class Stub:
    """Answers come from `route`, unless answers were queued for the path (given first)."""

    base_url: str
    route: Callable[[Request], Answer]
    requests: list[Request] = field(default_factory=list)
    _queued: dict[str, list[Answer]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._queued.setdefault(path, []).extend(answers)

    def hits(self, path: str) -> int:
        return sum(r.path == path for r in self.requests)

    def answer(self, request: Request) -> tuple[int, bytes, float]:
        with self._lock:
            self.requests.append(request)
            queued = self._queued.get(request.path)
            answer = queued.pop(0) if queued else None
        answer = answer or self.route(request)
        return (*answer, 0.0) if len(answer) == 2 else answer  # type: ignore[return-value]


@contextmanager
def serve(route: Callable[[Request], Answer]) -> Iterator[Stub]:
    """A threaded HTTP server on 127.0.0.1 and a random port, for the test's duration."""
    stub: Stub

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            parts = urlsplit(self.path)
            request = Request(parts.path, dict(parse_qsl(parts.query)), dict(self.headers),
                              time.monotonic())
            status, body, delay = stub.answer(request)
            time.sleep(delay)
            self.reply(status, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda request, address: None  # a client that timed out hung up
    stub = Stub(f"http://127.0.0.1:{server.server_address[1]}", route)
    with serving(server):
        yield stub


# ---------------------------------------------------------------- FRED

FRED_KEY = "fred-test-key-0123456789abcdef"
FRED_PREFIX = "/fred"


def fred_error(code: int, message: str) -> Answer:
    body = f'<?xml version="1.0" encoding="utf-8" ?>\n<error code="{code}" ' \
           f"message={quoteattr(message)}/>"
    return code, body.encode()


class FredServer:
    """FRED for the series given in the fixture's shape (info + observation records)."""

    def __init__(self, series: dict[str, dict], today: date = date(2024, 3, 15)) -> None:
        self.series = series
        self.today = today.isoformat()

    def route(self, request: Request) -> Answer:
        q = request.query
        if q.get("api_key") != FRED_KEY:
            return fred_error(400, "Bad Request.  The value for variable api_key is not "
                                   "registered.  Read https://fred.stlouisfed.org/docs/api/"
                                   "api_key.html for more information.")
        body = self.series.get(q.get("series_id", ""))
        if body is None:
            return fred_error(400, "Bad Request.  The series does not exist.")
        if request.path == f"{FRED_PREFIX}/series":
            return 200, self._info(body["info"])
        if request.path == f"{FRED_PREFIX}/series/observations":
            return 200, self._observations(body["observations"], q)
        return fred_error(404, "Not Found.")

    def _info(self, info: dict[str, str]) -> bytes:
        attributes = {"realtime_start": self.today, "realtime_end": self.today,
                      "observation_start": "2023-12-27", "observation_end": "2024-03-14",
                      "seasonal_adjustment_short": "NSA", "popularity": "80",
                      "notes": "Written for the tests & such <not FRED's>.", **info}
        series = " ".join(f"{k}={quoteattr(v)}" for k, v in attributes.items())
        return (f'<?xml version="1.0" encoding="utf-8" ?>\n<seriess realtime_start='
                f'"{self.today}" realtime_end="{self.today}">\n  <series {series}/>\n'
                "</seriess>\n").encode()

    def _observations(self, records: list[dict[str, str]], q: dict[str, str]) -> bytes:
        start, end = q.get("realtime_start", self.today), q.get("realtime_end", self.today)
        first, last = q.get("observation_start", "0001-01-01"), q.get("observation_end",
                                                                      "9999-12-31")
        rows = [
            {"realtime_start": max(r["realtime_start"], start),
             "realtime_end": min(r["realtime_end"], end), "date": r["date"], "value": r["value"]}
            for r in records
            if r["realtime_start"] <= end and r["realtime_end"] >= start
            and first <= r["date"] <= last
        ]
        lines = [f"  <observation realtime_start=\"{r['realtime_start']}\" realtime_end="
                 f"\"{r['realtime_end']}\" date=\"{r['date']}\" value=\"{r['value']}\"/>"
                 for r in rows]
        head = (f'<observations realtime_start="{start}" realtime_end="{end}" '
                f'observation_start="{first}" observation_end="{last}" units="lin" '
                f'output_type="1" file_type="xml" order_by="observation_date" sort_order="asc" '
                f'count="{len(rows)}" offset="0" limit="100000">')
        return "\n".join(['<?xml version="1.0" encoding="utf-8" ?>', head, *lines,
                          "</observations>", ""]).encode()


# ---------------------------------------------------------------- EDGAR

EDGAR_UA = "Underdog Tests tests@example.com"


@dataclass
class EdgarServer:
    submissions: dict[str, dict]  # path -> JSON body (/submissions/CIK##########.json, pages)
    documents: dict[str, bytes]  # /Archives/edgar/data/<cik>/<folder>/<file> -> body
    tickers: dict[str, dict] = field(default_factory=dict)

    def route(self, request: Request) -> Answer:
        if not request.headers.get("User-Agent", "").strip():
            return 403, b"<html><body>Your Request Originates from an Undeclared Automated " \
                        b"Tool</body></html>"
        if request.path in self.submissions:
            return 200, json.dumps(self.submissions[request.path]).encode()
        if request.path == "/files/company_tickers.json":
            return 200, json.dumps(self.tickers).encode()
        if request.path in self.documents:
            return 200, self.documents[request.path]
        return 404, b"<html><body>Not Found</body></html>"


def filings_page(*filings: dict[str, str]) -> dict[str, list[str]]:
    """A columnar page of submissions, as EDGAR lays it out (one list per field)."""
    fields = ("accessionNumber", "filingDate", "reportDate", "acceptanceDateTime", "act",
              "form", "fileNumber", "filmNumber", "items", "size", "isXBRL", "isInlineXBRL",
              "primaryDocument", "primaryDocDescription")
    defaults = {"reportDate": "", "act": "", "fileNumber": "", "filmNumber": "", "items": "",
                "size": 4242, "isXBRL": 0, "isInlineXBRL": 0, "primaryDocDescription": "FORM 4"}
    return {f: [{**defaults, **row}.get(f, "") for row in filings] for f in fields}


# ---------------------------------------------------------------- Alpha Vantage

AV_KEY = "av-test-key-XYZ"


@dataclass
class AlphaVantageServer:
    data: dict[str, list[dict[str, str]]]  # ticker -> INSIDER_TRANSACTIONS rows

    def route(self, request: Request) -> Answer:
        q = request.query
        if q.get("apikey") != AV_KEY:
            return 200, json.dumps({"Error Message": "the parameter apikey is invalid or "
                                                     "missing."}).encode()
        if request.path != "/query" or q.get("function") != "INSIDER_TRANSACTIONS":
            return 200, json.dumps({"Error Message": "This API function does not exist."}
                                   ).encode()
        rows = self.data.get(q.get("symbol", ""))
        if rows is None:
            return 200, json.dumps({"Error Message": "Invalid API call."}).encode()
        return 200, json.dumps({"data": rows}).encode()


RATE_NOTE = {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 "
                     "calls per minute and 100 calls per day."}
RATE_INFORMATION = {"Information": "Thank you for using Alpha Vantage! Our standard API rate "
                                   "limit is 25 requests per day."}
