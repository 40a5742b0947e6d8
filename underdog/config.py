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
    # Where backfilled ticks (and their M1 bars) come from.
    market_source: Literal["simulated", "dukascopy", "mt5"] = "simulated"
    dukascopy_base_url: str = "https://datafeed.dukascopy.com/datafeed"
    # Fetched hours are kept here ("~" is expanded); empty: no cache.
    dukascopy_cache_dir: str = "~/.cache/underdog/dukascopy"

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
