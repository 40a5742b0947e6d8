"""Everything a sentiment run needs to know, built from the settings (secrets included, so an
instance is never logged or put in metadata: its repr masks them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from pydantic import SecretStr

from underdog.config import AlphaVantage, Sentiment, Settings
from underdog.sentiment.tagging import Tagger, tagger
from underdog.sources.http import BACKOFF_S, TRIES

API_SOURCES = ("newsapi", "gnews", "alphavantage", "reddit")
NEWS_SOURCES = ("newsapi", "gnews", "alphavantage", "fixture")
POST_SOURCES = ("reddit", "fixture")
ALL_SOURCES = (*API_SOURCES, "fixture")


_SECTION = Sentiment()  # the defaults, stated once in underdog.config
_AV = AlphaVantage()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class SentimentOptions:
    symbols: tuple[str, ...]
    sources: tuple[str, ...] = tuple(_SECTION.sources)
    newsapi_api_key: str | None = field(default=None, repr=False)
    newsapi_base_url: str = _SECTION.newsapi.base_url
    gnews_api_key: str | None = field(default=None, repr=False)
    gnews_base_url: str = _SECTION.gnews.base_url
    alphavantage_api_key: str | None = field(default=None, repr=False)
    alphavantage_base_url: str = _AV.base_url
    reddit_client_id: str | None = field(default=None, repr=False)
    reddit_client_secret: str | None = field(default=None, repr=False)
    reddit_user_agent: str = _SECTION.reddit.user_agent
    reddit_subreddits: tuple[str, ...] = tuple(_SECTION.reddit.subreddits)
    reddit_base_url: str | None = _SECTION.reddit.base_url
    keywords_file: str = _SECTION.keywords_file
    poll_delay_s: int = _SECTION.poll_delay_s
    finbert_model: str = _SECTION.finbert.model
    finbert_quantize: bool = _SECTION.finbert.quantize
    # Retries and request spacing; tests make them small.
    tries: int = TRIES
    backoff_s: float = BACKOFF_S
    min_interval_s: float | None = None  # None: each API's own default

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SentimentOptions:
        """The options of `settings.sentiment` and `settings.alphavantage` (the one place
        that maps them), then `overrides`."""
        section, av = settings.sentiment, settings.alphavantage
        values = dict(
            symbols=tuple(settings.symbols), sources=tuple(section.sources),
            newsapi_api_key=_secret(section.newsapi.api_key),
            newsapi_base_url=section.newsapi.base_url,
            gnews_api_key=_secret(section.gnews.api_key), gnews_base_url=section.gnews.base_url,
            alphavantage_api_key=_secret(av.api_key), alphavantage_base_url=av.base_url,
            reddit_client_id=section.reddit.client_id,
            reddit_client_secret=_secret(section.reddit.client_secret),
            reddit_user_agent=section.reddit.user_agent,
            reddit_subreddits=tuple(section.reddit.subreddits),
            reddit_base_url=section.reddit.base_url, keywords_file=section.keywords_file,
            poll_delay_s=section.poll_delay_s, finbert_model=section.finbert.model,
            finbert_quantize=section.finbert.quantize,
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
