"""NewsAPI (newsapi.org) `/v2/everything`: articles matching a query, newest first.

Wire format: GET <base>/everything?q=&from=&to=&language=en&sortBy=publishedAt&pageSize=
&page=, key in the `X-Api-Key` header. 200: {"status": "ok", "totalResults": n, "articles":
[{"source": {"id", "name"}, "author", "title", "description", "url", "urlToImage",
"publishedAt": "2024-03-08T14:03:00Z", "content": "... [+1234 chars]"}]}. Errors: {"status":
"error", "code": "rateLimited" | "apiKeyInvalid" | "maximumResultsReached" | ..., "message"}
with 429, 401, 426, 400. Articles have no id: the URL's hash is used. Deleted articles come
back as "[Removed]" and are dropped.

Written against the REST API with requests (the `newsapi-python` client hard-codes its host,
so it cannot be pointed at another base URL without patching its module constants).
"""

from __future__ import annotations

from datetime import datetime

import requests

from underdog.reference.endpoints import NEWSAPI_URL as DEFAULT_BASE_URL
from underdog.sources.documents import (
    Document,
    MissingCredentials,
    SourceUnavailable,
    clean,
    iso_z,
    parse_time,
    url_id,
)
from underdog.sources.http import BACKOFF_S, TRIES, JsonApi

SOURCE = "newsapi"
PAGE_SIZE = 100  # the API's maximum
REMOVED = "[Removed]"


def _refusal(status: int, body: object) -> str | None:
    if isinstance(body, dict) and body.get("status") == "error":
        return f"{body.get('code')}: {body.get('message')}"
    return None


def fetch_news(
    start: datetime,
    end: datetime,
    *,
    api_key: str | None,
    query: str,
    base_url: str = DEFAULT_BASE_URL,
    session: requests.Session | None = None,
    max_pages: int = 3,
    tries: int = TRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = 30.0,
) -> list[Document]:
    """Articles published in [start, end) that match `query`, newest first."""
    if not api_key:
        raise MissingCredentials("newsapi: UNDERDOG_NEWSAPI_API_KEY is not set")
    api = JsonApi("newsapi", session or requests.Session(), tries=tries, backoff_s=backoff_s,
                  timeout_s=timeout_s, refusal=_refusal, secret=api_key)
    params = {"q": query, "from": iso_z(start), "to": iso_z(end), "language": "en",
              "sortBy": "publishedAt", "pageSize": PAGE_SIZE}
    documents: list[Document] = []
    for page in range(1, max_pages + 1):
        body = _page(api, base_url, params, page, api_key)
        if body is None:
            break
        articles = body.get("articles") or []
        documents += [d for a in articles if (d := _document(a)) is not None]
        if len(articles) < PAGE_SIZE or page * PAGE_SIZE >= int(body.get("totalResults", 0)):
            break
    return [d for d in documents if start <= d.published_at < end]


def _page(api: JsonApi, base_url: str, params: dict, page: int, api_key: str) -> dict | None:
    try:
        body = api.get(f"{base_url.rstrip('/')}/everything", {**params, "page": page},
                       headers={"X-Api-Key": api_key})
    except SourceUnavailable as exc:
        # The developer plan stops at 100 results with 426: keep what the earlier pages gave.
        if page > 1 and "maximumResultsReached" in str(exc):
            return None
        raise
    if not isinstance(body, dict) or body.get("status") != "ok":
        raise SourceUnavailable(f"newsapi: unexpected answer {str(body)[:200]}")
    return body


def _document(article: dict) -> Document | None:
    title, url = clean(article.get("title")), article.get("url")
    if not url or not article.get("publishedAt") or title == REMOVED:
        return None
    body = clean(article.get("description")) or clean(article.get("content"))
    return Document(source=SOURCE, item_id=url_id(url), title=title, body=body,
                    published_at=parse_time(article["publishedAt"]), url=url)
