"""Alpha Vantage NEWS_SENTIMENT: news about a currency, with Alpha Vantage's own scores.

Wire format: GET <base>/query?function=NEWS_SENTIMENT&tickers=FOREX:EUR&time_from=
20240308T0000&time_to=20240309T0000&sort=LATEST&limit=1000&apikey=. 200: {"items": "n",
"sentiment_score_definition": ..., "feed": [{"title", "url", "time_published":
"20240308T140300", "summary", "source", "overall_sentiment_score", "overall_sentiment_label",
"ticker_sentiment": [{"ticker": "FOREX:EUR", "relevance_score": "0.41",
"ticker_sentiment_score": "0.23", "ticker_sentiment_label": "Somewhat-Bullish"}]}]}.
A rate limit or quota comes as HTTP 200 with {"Note": ...} or {"Information": ...}: that is
a rate limit, not an empty feed. A bad request is 200 with {"Error Message": ...}.

`time_published` carries no zone. It is read as US/Eastern, Alpha Vantage's zone elsewhere:
if it were UTC, Eastern makes each item look 4-5 h later than it was (late, never early),
whereas reading Eastern times as UTC would date items before they were published.

Alpha Vantage's own scores are kept as a separate source (`alphavantage_native`): per pair,
the relevance-weighted score of the base currency minus that of the quote currency (a bullish
dollar is a bearish EUR/USD).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests

from underdog.reference.endpoints import ALPHAVANTAGE_URL as DEFAULT_BASE_URL
from underdog.sources.documents import (
    Document,
    MissingCredentials,
    SourceUnavailable,
    TickerSentiment,
    clean,
    url_id,
)
from underdog.sources.http import BACKOFF_S, TRIES, JsonApi

SOURCE = "alphavantage"
NATIVE_SOURCE = "alphavantage_native"
NATIVE_MODEL = "alphavantage-news-sentiment"
EASTERN = ZoneInfo("America/New_York")
LIMIT = 1000  # the API's maximum per request
MIN_INTERVAL_S = 1.0
# Alpha Vantage's label bands: <= -0.35 bearish, -0.15 somewhat, +-0.15 neutral, ...
NEUTRAL_BAND = 0.15


def _rate_limit(body: object) -> str | None:
    if isinstance(body, dict) and "feed" not in body and not _no_articles(body):
        for key in ("Note", "Information"):
            if key in body:
                return f"rate limit: {body[key]}"
    return None


def _no_articles(body: dict) -> bool:
    """An empty result told in words ("No articles found ...") rather than an empty feed."""
    return "no articles" in str(body.get("Information", "")).lower()


def _refusal(status: int, body: object) -> str | None:
    if isinstance(body, dict) and "Error Message" in body:
        return str(body["Error Message"])
    return None


def query_url(base_url: str) -> str:
    """<base>/query, whether the setting names the host or the /query endpoint itself."""
    base = base_url.rstrip("/")
    return base if base.endswith("/query") else f"{base}/query"


def fetch_news(
    start: datetime,
    end: datetime,
    *,
    api_key: str | None,
    currencies: list[str],
    base_url: str = DEFAULT_BASE_URL,
    session: requests.Session | None = None,
    tries: int = TRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = 30.0,
    min_interval_s: float = MIN_INTERVAL_S,
) -> list[Document]:
    """Articles about any of `currencies` (ISO codes) published in [start, end): one request
    per currency (`tickers` lists are an AND in this API), merged by URL."""
    if not api_key:
        raise MissingCredentials("alphavantage: UNDERDOG_ALPHAVANTAGE_API_KEY is not set")
    api = JsonApi("alphavantage", session or requests.Session(), tries=tries,
                  backoff_s=backoff_s, timeout_s=timeout_s, min_interval_s=min_interval_s,
                  refusal=_refusal, rate_limit=_rate_limit, secret=api_key)
    documents: dict[str, Document] = {}
    for currency in currencies:
        body = api.get(query_url(base_url), {
            "function": "NEWS_SENTIMENT", "tickers": f"FOREX:{currency}",
            "time_from": _av_time(start), "time_to": _av_time(end), "sort": "LATEST",
            "limit": LIMIT, "apikey": api_key,
        })
        for item in _feed(body):
            document = _document(item)
            if document is not None and start <= document.published_at < end:
                documents.setdefault(document.item_id, document)
    return sorted(documents.values(), key=lambda d: d.published_at, reverse=True)


def _feed(body: object) -> list[dict]:
    if isinstance(body, dict) and isinstance(body.get("feed"), list):
        return body["feed"]
    if isinstance(body, dict) and _no_articles(body):
        return []
    raise SourceUnavailable(f"alphavantage: unexpected answer {str(body)[:200]}")


def _av_time(moment: datetime) -> str:
    return moment.astimezone(EASTERN).strftime("%Y%m%dT%H%M")


def published(value: str) -> datetime:
    """"20240308T140300" (US/Eastern, see the module docstring) as UTC."""
    return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=EASTERN).astimezone(UTC)


def _document(item: dict) -> Document | None:
    url = item.get("url")
    if not url or not item.get("time_published"):
        return None
    tickers = tuple(
        TickerSentiment(t["ticker"].removeprefix("FOREX:"), float(t["ticker_sentiment_score"]),
                        float(t["relevance_score"]))
        for t in item.get("ticker_sentiment") or [] if str(t.get("ticker", "")).startswith(
            "FOREX:")
    )
    return Document(source=SOURCE, item_id=url_id(url), title=clean(item.get("title")),
                    body=clean(item.get("summary")), published_at=published(
                        item["time_published"]), url=url, ticker_sentiment=tickers)


def pair_sentiment(document: Document, symbol: str) -> tuple[float, float, str] | None:
    """Alpha Vantage's view of a pair from its currency scores: (score in [-1, 1], confidence =
    the larger relevance, label), or None if it scored neither currency of the pair."""
    scores = {t.currency: t for t in document.ticker_sentiment}
    base, quote = scores.get(symbol[:3]), scores.get(symbol[3:6])
    parts = [(t.score * sign, t.relevance) for t, sign in ((base, 1.0), (quote, -1.0)) if t]
    weight = sum(r for _, r in parts)
    if not parts or weight <= 0:
        return None
    score = max(-1.0, min(1.0, sum(s * r for s, r in parts) / weight))
    label = "neutral" if abs(score) < NEUTRAL_BAND else ("positive" if score > 0 else "negative")
    return score, min(1.0, max(r for _, r in parts)), label
