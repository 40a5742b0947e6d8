"""What every text source returns, and the one way they call an HTTP JSON API.

A `Document` is a news article or a post as fetched: the source's own id, its text, and
when it was published (UTC). Sources never score or tag; the pipeline does.

Errors say what the caller should do with the source:
- `MissingCredentials`: not configured; skip it with that message, run the others.
- `RateLimited`: the API said "not now" (429 after retries, a quota body); skip it this run.
- `SourceUnavailable`: no usable answer after retries (5xx, timeouts) or a refusal (401...).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
import tenacity

from underdog.redaction import redact

MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After ends this run's attempts: the next run retries


class SourceError(RuntimeError):
    """A source could not deliver this run; the message says why."""


class MissingCredentials(SourceError):
    """The source has no credentials configured: it is skipped."""


class RateLimited(SourceError):
    """The API refused for now (rate limit or quota): skipped until the next run."""


class SourceUnavailable(SourceError):
    """No usable answer after retries, or the API refused the request."""


@dataclass(frozen=True)
class TickerSentiment:
    """A source's own score of one currency in a document (Alpha Vantage's ticker_sentiment)."""

    currency: str  # ISO code, e.g. EUR
    score: float  # the source's scale (Alpha Vantage: about -1 bearish .. 1 bullish)
    relevance: float  # 0..1


@dataclass(frozen=True)
class Document:
    source: str  # newsapi | gnews | alphavantage | reddit | fixture
    item_id: str  # unique within the source
    title: str
    body: str
    published_at: datetime  # tz-aware UTC
    url: str | None = None
    ticker_sentiment: tuple[TickerSentiment, ...] = field(default=(), compare=False)

    @property
    def text(self) -> str:
        """What is scored and tagged: the title, then the body."""
        title, body = self.title.strip(), self.body.strip()
        if not body or body == title:
            return title
        if not title:
            return body
        return f"{title}{'' if title[-1] in '.!?:' else '.'} {body}"

    @property
    def content_hash(self) -> str:
        """sha256 of the text, case- and whitespace-normalized: reposts hash the same."""
        normal = " ".join(self.text.lower().split())
        return hashlib.sha256(normal.encode()).hexdigest()


def url_id(url: str) -> str:
    """A stable id for sources whose items have none but their URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def parse_time(value: str) -> datetime:
    """An ISO 8601 time ("...Z" or with an offset) as tz-aware UTC."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time without a timezone: {value!r}")
    return moment.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    """2024-03-08T14:03:00Z: the form every one of these APIs accepts."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_TAGS = re.compile(r"<[^>]+>")


def clean(text: str | None) -> str:
    """Plain text: no HTML tags, no NewsAPI-style "[+1234 chars]" tail, single spaces."""
    text = _TAGS.sub(" ", text or "")
    text = re.sub(r"\s*(?:…|\.\.\.)?\s*\[\+\d+ chars\]\s*$", "", text)
    return " ".join(text.split())


# ---------------------------------------------------------------- HTTP


class _Transient(Exception):
    """Worth another attempt: 429, 5xx (with the server's Retry-After, if any)."""

    def __init__(self, message: str, *, status: int, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass
class JsonApi:
    """GET JSON from one API with retries and a minimum spacing between requests.

    `refusal(status, body)` turns an API's error body into a message (None: not an error);
    `rate_limit(body)` recognises a rate limit sent as a normal answer (Alpha Vantage).
    `secret` (the key, in the query string or a header) is masked in every error message:
    requests puts the URL, and a header value it refuses, in its exception texts.
    """

    name: str
    session: requests.Session
    tries: int = 5
    backoff_s: float = 0.5
    timeout_s: float = 30.0
    min_interval_s: float = 0.0
    refusal: Callable[[int, object], str | None] = lambda status, body: None
    rate_limit: Callable[[object], str | None] = lambda body: None
    secret: str = ""
    _last: float = field(default=0.0, init=False)

    def get(self, url: str, params: Mapping[str, object],
            headers: Mapping[str, str] | None = None) -> object:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            stop=tenacity.stop_after_attempt(self.tries),
            wait=self._wait,
            reraise=True,
        )
        try:
            return retrying(self._get, url, params, headers or {})
        except _Transient as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            kind = RateLimited if exc.status == 429 else SourceUnavailable
            raise kind(self._mask(f"{self.name}: {exc} after {attempts} attempt(s)")) from None
        except requests.RequestException as exc:
            message = f"{self.name}: {type(exc).__name__}: {exc}"
            raise SourceUnavailable(self._mask(message)) from None
        except SourceError as exc:
            raise type(exc)(self._mask(str(exc))) from None

    def _mask(self, text: str) -> str:
        # Stripped too: requests shows a key with a stray newline as its repr ('key\\n').
        return redact(text, {self.secret, self.secret.strip()} - {""})

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = tenacity.wait_exponential_jitter(multiplier=self.backoff_s, max=30,
                                                   jitter=self.backoff_s)(state)
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after_s", None)
        return max(backoff, after) if after is not None else backoff

    def _get(self, url: str, params: Mapping[str, object], headers: Mapping[str, str]) -> object:
        self._space()
        response = self.session.get(url, params=dict(params), headers=dict(headers),
                                    timeout=self.timeout_s)
        body = _json(response)
        status = response.status_code
        if status == 429 or status >= 500:
            message = f"HTTP {status} {_brief(self.refusal(status, body), response)}"
            after = _retry_after(response)
            if after is not None and after > MAX_RETRY_AFTER_S:
                raise RateLimited(f"{self.name}: {message}, retry after {after:.0f} s")
            raise _Transient(message, status=status, retry_after_s=after)
        refused = self.refusal(status, body)
        if refused is not None or status >= 400:
            raise SourceUnavailable(f"{self.name}: HTTP {status}: {_brief(refused, response)}")
        if body is None:
            raise SourceUnavailable(f"{self.name}: HTTP {status} without a JSON body")
        limited = self.rate_limit(body)
        if limited is not None:
            raise RateLimited(f"{self.name}: {limited}")
        return body

    def _space(self) -> None:
        """Keep `min_interval_s` between requests (the APIs' per-second limits)."""
        wait = self._last + self.min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _brief(message: str | None, response: requests.Response) -> str:
    return message or response.reason or response.text[:200]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:  # an HTTP date: rare for these APIs; fall back to the backoff
        return None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Transient | requests.Timeout | requests.ConnectionError
                      | requests.exceptions.ChunkedEncodingError)
