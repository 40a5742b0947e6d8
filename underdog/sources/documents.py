"""What every text source returns, and the errors it raises (HTTP: `underdog.sources.http`).

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
from dataclasses import dataclass, field
from datetime import UTC, datetime


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
