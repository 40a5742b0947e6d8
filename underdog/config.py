"""Settings, read from `UNDERDOG_*` environment variables and `.env`.

Secrets are `SecretStr`: they print as `**********`, and a DSN is shown with its password
replaced by `***` (see `redact`). Nothing here connects anywhere at import time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(RuntimeError):
    """A setting is missing, malformed or points at something unreachable."""


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _require_scheme(value: SecretStr, schemes: tuple[str, ...], variable: str) -> SecretStr:
    url = value.get_secret_value()
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        raise ValueError(
            f"{variable} must be a {' or '.join(schemes)} URL, got {redact(url)!r}"
        )
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="UNDERDOG_",
        env_file=".env",
        extra="ignore",
        hide_input_in_errors=True,
    )

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/underdog")
    # "auto": use TimescaleDB where the server has it; "on": require it; "off": plain PostgreSQL.
    timescale: Literal["auto", "on", "off"] = "auto"
    reader_role: str = "underdog_reader"
    pool_max_size: int = Field(default=4, ge=1)

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Keys are `<prefix>:v1:<kind>:<symbol>[:<source>]`; tests use their own prefix.
    redis_prefix: str = "underdog"
    cache_ttl_s: int = Field(default=3600, gt=0)
    redis_timeout_s: float = Field(default=0.25, gt=0)

    symbols: Annotated[list[str], NoDecode] = ["EURUSD", "GBPUSD"]
    simulator_seed: int = 7
    # The simulated market's planted momentum (sources.simulated.Edge strength); 0: none, the
    # plain random walk. `underdog demo` sets it (STRONG_EDGE) unless given.
    simulator_edge: float = Field(default=0.0, ge=0.0, lt=1.0)
    # Where backfilled ticks (and their M1 bars) come from.
    market_source: Literal["simulated", "dukascopy", "mt5"] = "simulated"
    dukascopy_base_url: str = "https://datafeed.dukascopy.com/datafeed"
    # Fetched hours are kept here ("~" is expanded); empty: no cache.
    dukascopy_cache_dir: str = "~/.cache/underdog/dukascopy"

    # Macro: FRED/ALFRED vintages through fredapi. Without a key FRED is skipped, and
    # macro_source "auto" uses the bundled fixture (underdog/sources/fixtures/fred_sample.json).
    fred_api_key: SecretStr | None = None
    fred_base_url: str = "https://api.stlouisfed.org/fred"
    fred_series: Annotated[list[str], NoDecode] = [
        "VIXCLS", "DFF", "T10Y2Y", "DGS10", "DGS2", "CPIAUCSL", "UNRATE",
    ]
    macro_source: Literal["auto", "fixture", "fred"] = "auto"
    # Insider filings: SEC EDGAR (a User-Agent "Name contact@example.com" is required), its
    # submissions API host and its archives host; CIKs or tickers. Alpha Vantage where a key is set.
    sec_user_agent: str | None = None
    edgar_base_url: str = "https://data.sec.gov"
    edgar_archives_url: str = "https://www.sec.gov"
    edgar_ciks: Annotated[list[str], NoDecode] = []
    alphavantage_api_key: SecretStr | None = None
    alphavantage_base_url: str = "https://www.alphavantage.co"
    # Sentiment: NewsAPI, GNews, Reddit (PRAW), Alpha Vantage NEWS_SENTIMENT (the key and URL
    # above). A source without credentials is skipped; with none at all, sentiment_sources
    # "auto" uses the bundled fixture (underdog/sources/fixtures/news_sample.json).
    newsapi_api_key: SecretStr | None = None
    newsapi_base_url: str = "https://newsapi.org/v2"
    gnews_api_key: SecretStr | None = None
    gnews_base_url: str = "https://gnews.io/api/v4"
    reddit_client_id: str | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_user_agent: str = "python:underdog-feature-store:v0.1 (FX sentiment)"
    reddit_subreddits: Annotated[list[str], NoDecode] = ["forex", "Forexstrategy", "economics"]
    # One address for PRAW's oauth and www hosts (tests, proxies); empty: Reddit's own hosts.
    reddit_base_url: str | None = None
    # "auto", or a comma list of newsapi, gnews, alphavantage, reddit, fixture.
    sentiment_sources: Annotated[list[str], NoDecode] = ["auto"]
    # JSON {"EURUSD": ["EUR/USD", "euro", "ECB", ...], ...}; empty: the built-in map.
    sentiment_keywords_file: str = ""
    # A backfilled item is known no earlier than its publication + this delay (the poll period).
    sentiment_poll_delay_s: int = Field(default=900, ge=0)
    finbert_model: str = "ProsusAI/finbert"  # a hub id or a local folder
    finbert_quantize: bool = False  # int8 dynamic quantization of the Linear layers

    # Operations (underdog.ops): per-table overrides of the allowed lag, "ohlcv=10m,quotes=off"
    # (defaults: underdog/ops/freshness.py); log lines on stderr, redacted: one JSON object
    # each (services: docker/) or text for a terminal, both with the run and partition.
    freshness_max_lag: str = ""
    log_format: Literal["json", "text"] = "text"
    log_level: str = "WARNING"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        return _require_scheme(value, ("postgresql", "postgres"), "UNDERDOG_DATABASE_URL")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        return _require_scheme(value, ("redis", "rediss", "unix"), "UNDERDOG_REDIS_URL")

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip().upper() for s in value.split(",") if s.strip()]
        return value

    @field_validator("fred_series", "edgar_ciks", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip().upper() for s in value.split(",") if s.strip()]
        return value

    @field_validator("fred_api_key", "sec_user_agent", "alphavantage_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `UNDERDOG_FRED_API_KEY=` (as in .env.example) means "no key", not an empty key.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("reddit_subreddits", "sentiment_sources", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @field_validator("newsapi_api_key", "gnews_api_key", "reddit_client_id",
                     "reddit_client_secret", "reddit_base_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def dsn(self) -> str:
        return self.database_url.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with a `ConfigError` that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "UNDERDOG_" + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
