"""Alpha Vantage NEWS_SENTIMENT against a local server: its feed, its own scores, and its
rate limits sent as HTTP 200 bodies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.sources.json_server import Answer, Api, serve_api
from underdog.sources.alphavantage_news import fetch_news, pair_sentiment, published, query_url
from underdog.sources.documents import MissingCredentials, RateLimited, SourceUnavailable

START, END = datetime(2024, 3, 12, tzinfo=UTC), datetime(2024, 3, 13, tzinfo=UTC)
KEY = "AVKEY123"
FAST = {"tries": 3, "backoff_s": 0.01, "min_interval_s": 0.0}
DEFINITION = ("x <= -0.35: Bearish; -0.35 < x <= -0.15: Somewhat-Bearish; -0.15 < x < 0.15: "
              "Neutral; 0.15 <= x < 0.35: Somewhat_Bullish; x >= 0.35: Bullish")


def item(n: int, when: str = "20240312T083000", tickers: list[dict] | None = None) -> dict:
    return {
        "title": f"Euro slips after hotter US inflation print ({n})",
        "url": f"https://news.example.com/av/{n}", "time_published": when,
        "authors": ["Desk"], "summary": "The euro fell as US core CPI rose more than expected.",
        "banner_image": None, "source": "FX Wire", "category_within_source": "Markets",
        "source_domain": "news.example.com",
        "topics": [{"topic": "Economy - Monetary", "relevance_score": "0.9"}],
        "overall_sentiment_score": -0.21, "overall_sentiment_label": "Somewhat-Bearish",
        "ticker_sentiment": tickers if tickers is not None else [
            {"ticker": "FOREX:EUR", "relevance_score": "0.6", "ticker_sentiment_score": "-0.3",
             "ticker_sentiment_label": "Somewhat-Bearish"},
            {"ticker": "FOREX:USD", "relevance_score": "0.4", "ticker_sentiment_score": "0.25",
             "ticker_sentiment_label": "Somewhat-Bullish"},
            {"ticker": "COIN", "relevance_score": "0.1", "ticker_sentiment_score": "0.5",
             "ticker_sentiment_label": "Bullish"}]}


def feed(*items: dict) -> Answer:
    return Answer(200, {"items": str(len(items)), "sentiment_score_definition": DEFINITION,
                        "relevance_score_definition": "0 < x <= 1", "feed": list(items)})


@pytest.fixture
def api() -> Iterator[Api]:
    with serve_api() as served:
        yield served


def fetch(api: Api, **kwargs: object):
    return fetch_news(START, END, base_url=api.base_url,
                      **{"api_key": KEY, "currencies": ["EUR"], **FAST, **kwargs})


def test_the_feed_becomes_documents_with_alpha_vantages_scores(api: Api) -> None:
    api.route("/query", feed(item(1), item(2, "20240311T190000")))  # 23:00 UTC the day before
    [doc] = fetch(api)
    assert doc.source == "alphavantage" and doc.url == "https://news.example.com/av/1"
    assert doc.published_at == datetime(2024, 3, 12, 12, 30, tzinfo=UTC)  # 08:30 EDT
    assert [(t.currency, t.score, t.relevance) for t in doc.ticker_sentiment] == [
        ("EUR", -0.3, 0.6), ("USD", 0.25, 0.4)]
    [request] = api.calls("/query")
    assert request.query == {"function": "NEWS_SENTIMENT", "tickers": "FOREX:EUR",
                             "time_from": "20240311T2000", "time_to": "20240312T2000",
                             "sort": "LATEST", "limit": "1000", "apikey": KEY}


def test_one_request_per_currency_merged_by_url(api: Api) -> None:
    api.route("/query", feed(item(1), item(3)), feed(item(1), item(4)))
    docs = fetch(api, currencies=["EUR", "GBP"])
    assert sorted(d.url[-1] for d in docs) == ["1", "3", "4"]
    assert [r.query["tickers"] for r in api.calls("/query")] == ["FOREX:EUR", "FOREX:GBP"]


def test_pair_sentiment_is_base_minus_quote_weighted_by_relevance(api: Api) -> None:
    api.route("/query", feed(item(1)))
    [doc] = fetch(api)
    score, confidence, label = pair_sentiment(doc, "EURUSD")
    assert score == pytest.approx((0.6 * -0.3 - 0.4 * 0.25) / 1.0)
    assert (confidence, label) == (0.6, "negative")
    assert pair_sentiment(doc, "USDJPY")[0] == pytest.approx(0.25)  # a bullish dollar
    assert pair_sentiment(doc, "AUDNZD") is None


@pytest.mark.parametrize("body", [
    {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls "
             "per minute and 500 calls per day."},
    {"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 "
                    "requests per day. Please subscribe to any of the premium plans."},
])
def test_a_200_with_a_note_or_information_is_a_rate_limit_not_data(api: Api, body) -> None:
    api.route("/query", Answer(200, body))
    with pytest.raises(RateLimited, match="rate limit: Thank you"):
        fetch(api)
    assert len(api.calls("/query")) == 1


def test_no_articles_in_words_is_an_empty_feed(api: Api) -> None:
    api.route("/query", Answer(200, {"Information": "No articles found. Please adjust the "
                                                    "time range or refine the query."}))
    assert fetch(api) == []


def test_an_error_message_is_refused(api: Api) -> None:
    api.route("/query", Answer(200, {"Error Message": "Invalid API call. Please retry or "
                                                      "visit the documentation."}))
    with pytest.raises(SourceUnavailable, match="Invalid API call"):
        fetch(api)


def test_server_errors_are_retried(api: Api) -> None:
    api.route("/query", Answer(503, b"upstream unavailable"), feed(item(1)))
    assert len(fetch(api)) == 1


def test_no_key_means_skipped(api: Api) -> None:
    with pytest.raises(MissingCredentials, match="UNDERDOG_ALPHAVANTAGE_API_KEY"):
        fetch(api, api_key=None)


def test_times_and_base_urls() -> None:
    assert published("20240108T153000") == datetime(2024, 1, 8, 20, 30, tzinfo=UTC)  # EST
    assert query_url("https://www.alphavantage.co") == "https://www.alphavantage.co/query"
    assert query_url("http://127.0.0.1:9/query/") == "http://127.0.0.1:9/query"
