"""One call to fetch any text source's documents for a window, from the options."""

from __future__ import annotations

from datetime import datetime

from underdog.sentiment.options import SentimentOptions
from underdog.sentiment.tagging import search_query
from underdog.sources import alphavantage_news, fixture_news, gnews, newsapi, reddit
from underdog.sources.documents import Document


def fetch_documents(source: str, start: datetime, end: datetime, options: SentimentOptions,
                    *, kind: str | None = None) -> list[Document]:
    """Documents of `source` published in [start, end); raises the sources' SourceErrors."""
    if end <= start:
        return []
    retry = {"tries": options.tries, "backoff_s": options.backoff_s}
    spacing = {} if options.min_interval_s is None else {"min_interval_s": options.min_interval_s}
    if source == "fixture":
        return fixture_news.fetch_sample(start, end, kind=kind)
    if source == "newsapi":
        return newsapi.fetch_news(start, end, api_key=options.newsapi_api_key,
                                  query=search_query(options.symbols),
                                  base_url=options.newsapi_base_url, **retry)
    if source == "gnews":
        return gnews.fetch_news(start, end, api_key=options.gnews_api_key,
                                query=search_query(options.symbols),
                                base_url=options.gnews_base_url, **retry, **spacing)
    if source == "alphavantage":
        return alphavantage_news.fetch_news(
            start, end, api_key=options.alphavantage_api_key,
            currencies=currencies(options.symbols), base_url=options.alphavantage_base_url,
            **retry, **spacing)
    if source == "reddit":
        client = reddit.client(client_id=options.reddit_client_id,
                               client_secret=options.reddit_client_secret,
                               user_agent=options.reddit_user_agent,
                               base_url=options.reddit_base_url)
        return reddit.fetch_posts(start, end, reddit=client,
                                  subreddits=list(options.reddit_subreddits), **retry)
    raise ValueError(f"unknown sentiment source {source!r}")


def currencies(symbols: tuple[str, ...]) -> list[str]:
    """The non-USD currencies of the pairs (USD news is every pair's, see keywords.py)."""
    codes = [c for s in symbols if len(s) == 6 for c in (s[:3], s[3:])]
    return [c for c in dict.fromkeys(codes) if c != "USD"]
