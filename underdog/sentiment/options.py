"""Everything a sentiment run needs to know, built from the settings (secrets included, so an
instance is never logged or put in metadata: its repr masks them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from underdog.config import Settings
from underdog.sentiment.tagging import Tagger, tagger

API_SOURCES = ("newsapi", "gnews", "alphavantage", "reddit")
NEWS_SOURCES = ("newsapi", "gnews", "alphavantage", "fixture")
POST_SOURCES = ("reddit", "fixture")
ALL_SOURCES = (*API_SOURCES, "fixture")


@dataclass(frozen=True)
class SentimentOptions:
    symbols: tuple[str, ...]
    sources: tuple[str, ...] = ("auto",)
    newsapi_api_key: str | None = field(default=None, repr=False)
    newsapi_base_url: str = "https://newsapi.org/v2"
    gnews_api_key: str | None = field(default=None, repr=False)
    gnews_base_url: str = "https://gnews.io/api/v4"
    alphavantage_api_key: str | None = field(default=None, repr=False)
    alphavantage_base_url: str = "https://www.alphavantage.co"
    reddit_client_id: str | None = field(default=None, repr=False)
    reddit_client_secret: str | None = field(default=None, repr=False)
    reddit_user_agent: str = "python:underdog-feature-store:v0.1 (FX sentiment)"
    reddit_subreddits: tuple[str, ...] = ("forex", "Forexstrategy", "economics")
    reddit_base_url: str | None = None
    keywords_file: str = ""
    poll_delay_s: int = 900
    finbert_model: str = "ProsusAI/finbert"
    finbert_quantize: bool = False
    # Retries and request spacing; tests make them small.
    tries: int = 5
    backoff_s: float = 0.5
    min_interval_s: float | None = None  # None: each API's own default

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SentimentOptions:
        def secret(value) -> str | None:
            return value.get_secret_value() if value is not None else None

        values = dict(
            symbols=tuple(settings.symbols), sources=tuple(settings.sentiment_sources),
            newsapi_api_key=secret(settings.newsapi_api_key),
            newsapi_base_url=settings.newsapi_base_url,
            gnews_api_key=secret(settings.gnews_api_key), gnews_base_url=settings.gnews_base_url,
            alphavantage_api_key=secret(settings.alphavantage_api_key),
            alphavantage_base_url=settings.alphavantage_base_url,
            reddit_client_id=settings.reddit_client_id,
            reddit_client_secret=secret(settings.reddit_client_secret),
            reddit_user_agent=settings.reddit_user_agent,
            reddit_subreddits=tuple(settings.reddit_subreddits),
            reddit_base_url=settings.reddit_base_url,
            keywords_file=settings.sentiment_keywords_file,
            poll_delay_s=settings.sentiment_poll_delay_s, finbert_model=settings.finbert_model,
            finbert_quantize=settings.finbert_quantize,
        )
        return cls(**{**values, **overrides})  # type: ignore[arg-type]

    @property
    def poll_delay(self) -> timedelta:
        return timedelta(seconds=self.poll_delay_s)

    def tagger(self) -> Tagger:
        return self._tagger

    @cached_property
    def _tagger(self) -> Tagger:
        return tagger(self.keywords_file or None)

    def has_credentials(self, source: str) -> bool:
        return {
            "newsapi": bool(self.newsapi_api_key), "gnews": bool(self.gnews_api_key),
            "alphavantage": bool(self.alphavantage_api_key),
            "reddit": bool(self.reddit_client_id and self.reddit_client_secret),
            "fixture": True,
        }[source]

    def resolved_sources(self, kind: str | None = None) -> list[str]:
        """The sources to run, restricted to those of `kind` (news, post). "auto": every API
        (one without credentials is then skipped with a message), and the fixture when no API
        has credentials."""
        requested = [s.lower() for s in self.sources if s.strip()] or ["auto"]
        unknown = sorted(set(requested) - {"auto", *ALL_SOURCES})
        if unknown:
            raise ValueError(f"unknown sentiment sources {unknown}; use auto or "
                             f"{', '.join(ALL_SOURCES)}")
        if "auto" in requested:
            configured = any(self.has_credentials(s) for s in API_SOURCES)
            requested = [*API_SOURCES] if configured else [*API_SOURCES, "fixture"]
        allowed = {"news": NEWS_SOURCES, "post": POST_SOURCES, None: ALL_SOURCES}[kind]
        return [s for s in dict.fromkeys(requested) if s in allowed]
