"""GNews source against a local server speaking /api/v4/search's JSON, errors included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.sources.json_server import Answer, Api, serve_api
from underdog.sources.documents import MissingCredentials, RateLimited, SourceUnavailable
from underdog.sources.gnews import fetch_news

START, END = datetime(2024, 3, 11, tzinfo=UTC), datetime(2024, 3, 12, tzinfo=UTC)
KEY = "gnews-secret-key-123"
FAST = {"tries": 3, "backoff_s": 0.01, "min_interval_s": 0.0}
PATH = "/api/v4/search"


def article(n: int, published: str = "2024-03-11T09:30:00Z", **extra: object) -> dict:
    return {"id": f"a1b2c3{n:04d}", "title": f"Sterling hits seven-month high near 1.29{n:02d}",
            "description": "The pound rallied as stronger earnings growth pushed back BoE cuts.",
            "content": "LONDON, March 11 - The pound rallied on Monday... [1841 chars]",
            "url": f"https://news.example.com/gbp/{n}", "image": None,
            "publishedAt": published, "lang": "en",
            "source": {"id": "fxw", "name": "FX Wire", "url": "https://news.example.com"},
            **extra}


def ok(*articles: dict, total: int | None = None) -> Answer:
    return Answer(200, {"totalArticles": total or len(articles), "articles": list(articles)})


@pytest.fixture
def api() -> Iterator[Api]:
    with serve_api() as served:
        yield served


def fetch(api: Api, **kwargs: object):
    return fetch_news(START, END, query='"GBP/USD" OR forex', base_url=f"{api.base_url}/api/v4",
                      **{"api_key": KEY, **FAST, **kwargs})


def test_articles_become_documents_and_the_request_is_the_documented_one(api: Api) -> None:
    api.route(PATH, ok(article(1), article(2, "2024-03-10T23:59:00Z")))
    [doc] = fetch(api)
    assert (doc.source, doc.item_id) == ("gnews", "a1b2c30001")
    assert doc.title == "Sterling hits seven-month high near 1.2901"
    assert doc.body.startswith("The pound rallied")
    assert doc.published_at == datetime(2024, 3, 11, 9, 30, tzinfo=UTC)
    [request] = api.calls(PATH)
    assert request.query == {"q": '"GBP/USD" OR forex', "lang": "en", "max": "10",
                             "from": "2024-03-11T00:00:00Z", "to": "2024-03-12T00:00:00Z",
                             "sortby": "publishedAt", "apikey": KEY}


def test_an_article_without_an_id_is_known_by_its_url(api: Api) -> None:
    api.route(PATH, ok(article(1, id=None)))
    [doc] = fetch(api)
    assert len(doc.item_id) == 32 and doc.item_id != "None"


def test_paid_plans_page_with_the_page_parameter(api: Api) -> None:
    api.route(PATH, ok(*[article(n) for n in range(10)], total=15),
              ok(*[article(n) for n in range(10, 15)], total=15))
    assert len(fetch(api, max_pages=3)) == 15
    first, second = api.calls(PATH)
    assert "page" not in first.query and second.query["page"] == "2"


def test_the_daily_quota_is_a_rate_limit_not_retried(api: Api) -> None:
    api.route(PATH, Answer(403, {"errors": [
        "You have reached your request limit for today, the next reset will be tomorrow "
        "at midnight UTC."]}))
    with pytest.raises(RateLimited, match="request limit for today"):
        fetch(api)
    assert len(api.calls(PATH)) == 1


def test_too_many_requests_is_retried(api: Api) -> None:
    api.route(PATH, Answer(429, {"errors": ["Too many requests, please slow down."]}),
              ok(article(1)))
    assert len(fetch(api)) == 1
    api.route(PATH, Answer(429, {"errors": ["Too many requests, please slow down."]}))
    with pytest.raises(RateLimited, match="slow down"):
        fetch(api)


def test_a_bad_key_says_so_and_the_key_never_appears_in_errors(api: Api) -> None:
    api.route(PATH, Answer(401, {"errors": {"apikey": "Your API key is invalid."}}))
    with pytest.raises(SourceUnavailable, match="Your API key is invalid") as caught:
        fetch(api)
    assert KEY not in str(caught.value)
    api.route(PATH, Answer(502, b"Bad Gateway"))
    with pytest.raises(SourceUnavailable) as caught:
        fetch(api)
    assert KEY not in str(caught.value)


def test_no_key_means_skipped(api: Api) -> None:
    with pytest.raises(MissingCredentials, match="UNDERDOG_GNEWS_API_KEY"):
        fetch(api, api_key="")
    assert api.requests == []


def test_an_unreachable_host_does_not_leak_the_key_from_the_url() -> None:
    from tests.sources.bi5_feed import closed_port

    with pytest.raises(SourceUnavailable, match="ConnectionError") as caught:
        fetch_news(START, END, api_key=KEY, query="forex", tries=1,
                   base_url=f"http://127.0.0.1:{closed_port()}/api/v4")
    assert KEY not in str(caught.value) and "apikey=***" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
