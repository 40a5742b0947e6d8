"""GNews (gnews.io) `/api/v4/search`: its REST API (the PyPI `gnews` package is an unrelated
Google News scraper).

Wire format: GET <base>/search?q=&lang=en&max=&from=&to=&sortby=publishedAt[&page=]&apikey=.
200: {"totalArticles": n, "articles": [{"id"?, "title", "description", "content", "url",
"image", "publishedAt": "2024-03-08T14:03:00Z", "source": {"name", "url"}}]}. Errors:
{"errors": [...]} (or an object of field -> message) with 400, 401, 403 (the daily quota:
a rate limit until midnight UTC, not worth retrying), 429 (too many requests per second),
5xx. `page` is a paid-plan parameter: it is sent only from the second page on.
"""

from __future__ import annotations

from datetime import datetime

import requests

from underdog.reference.endpoints import GNEWS_URL as DEFAULT_BASE_URL
from underdog.sources.documents import (
    Document,
    MissingCredentials,
    RateLimited,
    SourceUnavailable,
    clean,
    iso_z,
    parse_time,
    url_id,
)
from underdog.sources.http import BACKOFF_S, TRIES, JsonApi

SOURCE = "gnews"
MIN_INTERVAL_S = 1.0  # the free plan allows one request per second


def _errors(body: object) -> str | None:
    if isinstance(body, dict) and body.get("errors"):
        errors = body["errors"]
        return "; ".join(errors.values() if isinstance(errors, dict) else map(str, errors))
    return None


def _refusal(status: int, body: object) -> str | None:
    return _errors(body) if status >= 400 else None


def fetch_news(
    start: datetime,
    end: datetime,
    *,
    api_key: str | None,
    query: str,
    base_url: str = DEFAULT_BASE_URL,
    session: requests.Session | None = None,
    page_size: int = 10,
    max_pages: int = 1,
    tries: int = TRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = 30.0,
    min_interval_s: float = MIN_INTERVAL_S,
) -> list[Document]:
    """Articles published in [start, end) that match `query`, newest first.

    `page_size` is the plan's `max` (10 on the free plan, up to 100 on paid ones).
    """
    if not api_key:
        raise MissingCredentials("gnews: UNDERDOG_GNEWS_API_KEY is not set")
    api = JsonApi("gnews", session or requests.Session(), tries=tries, backoff_s=backoff_s,
                  timeout_s=timeout_s, min_interval_s=min_interval_s, refusal=_refusal,
                  secret=api_key)
    params: dict[str, object] = {"q": query, "lang": "en", "max": page_size,
                                 "from": iso_z(start), "to": iso_z(end),
                                 "sortby": "publishedAt", "apikey": api_key}
    documents: list[Document] = []
    for page in range(1, max_pages + 1):
        body = _page(api, base_url, params if page == 1 else {**params, "page": page})
        articles = body.get("articles") or []
        documents += [d for a in articles if (d := _document(a)) is not None]
        if len(articles) < page_size or page * page_size >= int(body.get("totalArticles", 0)):
            break
    return [d for d in documents if start <= d.published_at < end]


def _page(api: JsonApi, base_url: str, params: dict[str, object]) -> dict:
    try:
        body = api.get(f"{base_url.rstrip('/')}/search", params)
    except SourceUnavailable as exc:
        if "HTTP 403" in str(exc):  # the daily quota: over until midnight UTC
            raise RateLimited(str(exc)) from exc
        raise
    if not isinstance(body, dict) or "articles" not in body:
        raise SourceUnavailable(f"gnews: unexpected answer {str(body)[:200]}")
    return body


def _document(article: dict) -> Document | None:
    url = article.get("url")
    if not url or not article.get("publishedAt"):
        return None
    body = clean(article.get("description")) or clean(article.get("content"))
    return Document(source=SOURCE, item_id=str(article.get("id") or url_id(url)),
                    title=clean(article.get("title")), body=body,
                    published_at=parse_time(article["publishedAt"]), url=url)
