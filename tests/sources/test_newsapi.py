"""NewsAPI source against a local server speaking /v2/everything's JSON, errors included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.sources.bi5_feed import closed_port
from tests.sources.json_server import Answer, Api, serve_api
from underdog.sources.documents import (
    MissingCredentials,
    RateLimited,
    SourceUnavailable,
    url_id,
)
from underdog.sources.newsapi import fetch_news

START, END = datetime(2024, 3, 8, tzinfo=UTC), datetime(2024, 3, 9, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef"
FAST = {"tries": 3, "backoff_s": 0.01}
PATH = "/v2/everything"


def article(n: int, published: str = "2024-03-08T14:03:00Z", **extra: object) -> dict:
    return {"source": {"id": None, "name": "FX Wire"}, "author": "Desk",
            "title": f"EUR/USD climbs to 1.09{n:02d} as dollar slips",
            "description": "The euro extended gains after US payroll revisions.",
            "url": f"https://news.example.com/fx/{n}", "urlToImage": None,
            "publishedAt": published,
            "content": "The euro rose on Friday after the jobs report… [+2211 chars]", **extra}


def ok(*articles: dict, total: int | None = None) -> Answer:
    return Answer(200, {"status": "ok", "totalResults": total or len(articles),
                        "articles": list(articles)})


def error(status: int, code: str, message: str, **headers: str) -> Answer:
    return Answer(status, {"status": "error", "code": code, "message": message}, headers)


@pytest.fixture
def api() -> Iterator[Api]:
    with serve_api() as served:
        yield served


def fetch(api: Api, **kwargs: object):
    return fetch_news(START, END, query='"EUR/USD" OR forex', base_url=f"{api.base_url}/v2",
                      **{"api_key": KEY, **FAST, **kwargs})


def test_articles_become_documents_and_the_request_is_the_documented_one(api: Api) -> None:
    removed = {**article(3), "title": "[Removed]", "description": "[Removed]"}
    api.route(PATH, ok(article(1), article(2, "2024-03-08T23:59:59Z"), removed,
                       article(4, "2024-03-09T00:00:00Z")))  # outside the window
    docs = fetch(api)
    assert [d.url for d in docs] == ["https://news.example.com/fx/1", "https://news.example.com/fx/2"]
    first = docs[0]
    assert first.source == "newsapi" and first.item_id == url_id(first.url)
    assert first.title == "EUR/USD climbs to 1.0901 as dollar slips"
    assert first.body == "The euro extended gains after US payroll revisions."
    assert first.published_at == datetime(2024, 3, 8, 14, 3, tzinfo=UTC)
    [request] = api.calls(PATH)
    assert request.headers["x-api-key"] == KEY and "apiKey" not in request.query
    assert request.query == {"q": '"EUR/USD" OR forex', "from": "2024-03-08T00:00:00Z",
                             "to": "2024-03-09T00:00:00Z", "language": "en",
                             "sortBy": "publishedAt", "pageSize": "100", "page": "1"}


def test_content_stands_in_for_a_missing_description_without_its_tail(api: Api) -> None:
    api.route(PATH, ok(article(1, description=None)))
    [doc] = fetch(api)
    assert doc.body == "The euro rose on Friday after the jobs report"


def test_pages_until_the_total_and_keeps_them_when_the_plan_stops_paging(api: Api) -> None:
    page = [article(n) for n in range(100)]
    api.route(PATH, ok(*page, total=250),
              error(426, "maximumResultsReached", "You have requested too many results."))
    docs = fetch(api)
    assert len(docs) == 100
    assert [r.query["page"] for r in api.calls(PATH)] == ["1", "2"]


def test_a_429_is_retried_after_its_retry_after(api: Api) -> None:
    api.route(PATH, error(429, "rateLimited", "You have made too many requests.",
                          **{"Retry-After": "0"}), ok(article(1)))
    assert len(fetch(api)) == 1
    assert len(api.calls(PATH)) == 2


def test_a_persistent_429_is_a_rate_limit(api: Api) -> None:
    api.route(PATH, error(429, "rateLimited", "You have made too many requests recently."))
    with pytest.raises(RateLimited, match="too many requests"):
        fetch(api)
    assert len(api.calls(PATH)) == 3


def test_a_long_retry_after_gives_up_at_once(api: Api) -> None:
    api.route(PATH, error(429, "rateLimited", "Slow down.", **{"Retry-After": "3600"}))
    with pytest.raises(RateLimited, match="retry after 3600"):
        fetch(api)
    assert len(api.calls(PATH)) == 1


def test_server_errors_are_retried_then_reported(api: Api) -> None:
    api.route(PATH, error(500, "unexpectedError", "Something went wrong."), ok(article(1)))
    assert len(fetch(api)) == 1
    api.route(PATH, Answer(503, b"<html>Service Unavailable</html>"))
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        fetch(api)


def test_a_refused_key_is_not_retried_and_says_why(api: Api) -> None:
    api.route(PATH, error(401, "apiKeyInvalid", "Your API key is invalid or incorrect."))
    with pytest.raises(SourceUnavailable, match="apiKeyInvalid: Your API key is invalid"):
        fetch(api)
    assert len(api.calls(PATH)) == 1


@pytest.mark.parametrize("key", [KEY, f"{KEY}\n", f" {KEY}"])  # as pasted from a file
def test_the_key_never_reaches_an_error_message(api: Api, key: str) -> None:
    """The X-Api-Key header's value: echoed by a gateway's refusal, or shown by requests
    when it refuses to send a header value with whitespace in it."""
    api.route(PATH, error(401, "apiKeyInvalid", f"X-Api-Key {key.strip()} is not valid here"))
    with pytest.raises(SourceUnavailable) as raised:
        fetch(api, api_key=key)
    assert KEY not in str(raised.value) and "***" in str(raised.value)


def test_no_key_means_skipped_without_a_request(api: Api) -> None:
    with pytest.raises(MissingCredentials, match="UNDERDOG_NEWSAPI_API_KEY"):
        fetch(api, api_key=None)
    assert api.requests == []


def test_an_unreachable_host_is_unavailable() -> None:
    with pytest.raises(SourceUnavailable, match="ConnectionError"):
        fetch_news(START, END, api_key=KEY, query="forex",
                   base_url=f"http://127.0.0.1:{closed_port()}/v2", tries=2, backoff_s=0.01)
