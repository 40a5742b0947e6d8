"""Settings, read from `UNDERDOG_*` environment variables and `.env`.

Secrets are `SecretStr`: they print as `**********`, and a DSN is shown with its password
replaced by `***` (`underdog.redaction`, whatever the DSN's form). Nothing here connects
anywhere at import time.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from underdog.redaction import dsn_passwords, redact
from underdog.sources.fred_ids import series_id

ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


class ConfigError(RuntimeError):
    """A setting is missing, malformed or points at something unreachable."""


def _require_scheme(value: SecretStr, schemes: tuple[str, ...], variable: str) -> SecretStr:
    url = value.get_secret_value()
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        shown = redact(url, dsn_passwords(url))
        raise ValueError(f"{variable} must be a {' or '.join(schemes)} URL, got {shown!r}")
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
    # Serving reads log in as the reader role: a LOGIN role with SELECT grants only and
    # read-only transactions by default (created by `underdog db create` / the migrations).
    # Its DSN: UNDERDOG_READER_DATABASE_URL (e.g. a streaming replica) or, when empty,
    # UNDERDOG_DATABASE_URL with the reader role as user and UNDERDOG_READER_PASSWORD.
    reader_role: str = "underdog_reader"
    reader_password: SecretStr | None = None
    reader_database_url: SecretStr | None = None
    # `underdog db create` only: a superuser (or CREATEROLE + CREATEDB) DSN on the same server
    # that creates the databases and the login roles; empty: UNDERDOG_DATABASE_URL.
    admin_database_url: SecretStr | None = None
    pool_max_size: int = Field(default=4, ge=1)

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Keys are `<prefix>:v1:<kind>:<symbol>[:<source>]`; tests use their own prefix.
    redis_prefix: str = "underdog"
    cache_ttl_s: int = Field(default=3600, gt=0)
    redis_timeout_s: float = Field(default=0.25, gt=0)
    # How far past the write moment a fact's `time` / `available_at` may lie (clock skew
    # between hosts); beyond it the row is a dead letter with reason "future".
    clock_tolerance_s: float = Field(default=5.0, ge=0)

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

    # Where Dagster runs steps (underdog_assets/defs/common/executors.py): "multiprocess" (one
    # machine), "celery" (workers started by `underdog workers start`), "k8s" (one pod a step).
    executor: Literal["multiprocess", "celery", "k8s"] = "multiprocess"
    # Celery: broker and result backend; empty: UNDERDOG_REDIS_URL. Its keys carry
    # `<UNDERDOG_REDIS_PREFIX>:celery:` so two prefixes (tests, deployments) share no queue.
    celery_broker_url: SecretStr | None = None
    # An unacknowledged step (its worker died) goes back to the queue after this long: longer
    # than the longest step, or a live worker's step is run twice.
    celery_visibility_timeout_s: int = Field(default=3600, gt=0)
    # Worker processes per queue kind on one host: "io" (sources, SQL) and "cpu" (scoring,
    # features, training).
    celery_io_concurrency: int = Field(default=4, ge=1)
    celery_cpu_concurrency: int = Field(default=0, ge=0)  # 0: the host's CPU count

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

    @field_validator("reader_database_url", "admin_database_url", mode="before")
    @classmethod
    def _optional_dsn(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if value is None:
            return None
        secret = value if isinstance(value, SecretStr) else SecretStr(str(value))
        variable = f"UNDERDOG_{info.field_name.upper()}"
        return _require_scheme(secret, ("postgresql", "postgres"), variable)

    @field_validator("celery_broker_url", mode="before")
    @classmethod
    def _blank_broker_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("reader_password", mode="before")
    @classmethod
    def _blank_password_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value else value

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

    @field_validator("fred_series")
    @classmethod
    def _fred_ids(cls, value: list[str]) -> list[str]:
        return [series_id(s) for s in value]

    @field_validator("reader_role")
    @classmethod
    def _role_name(cls, value: str) -> str:
        if not ROLE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a role name (letters, digits, _ and $, "
                             f"63 at most, not starting with a digit)")
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

    @property
    def reader_dsn(self) -> str | None:
        """UNDERDOG_READER_DATABASE_URL, or None: derive the reader's login from `dsn`."""
        return self.reader_database_url.get_secret_value() if self.reader_database_url else None

    @property
    def admin_dsn(self) -> str:
        return self.admin_database_url.get_secret_value() if self.admin_database_url else self.dsn

    @property
    def admin_variable(self) -> str:
        """The variable `admin_dsn` comes from: errors name the one a user set."""
        return "UNDERDOG_ADMIN_DATABASE_URL" if self.admin_database_url else "UNDERDOG_DATABASE_URL"

    @property
    def celery_broker(self) -> str:
        """UNDERDOG_CELERY_BROKER_URL, or the project's Redis."""
        url = self.celery_broker_url or self.redis_url
        return url.get_secret_value()

    @property
    def reader_secret(self) -> str | None:
        return self.reader_password.get_secret_value() if self.reader_password else None


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
