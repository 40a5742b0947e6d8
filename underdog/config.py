"""Settings, read from `UNDERDOG_*` environment variables and `.env`.

The settings are nested by concern (`settings.market.dukascopy.base_url`,
`settings.sentiment.newsapi.api_key`, ...), each default stated once, here or in
`underdog.reference.endpoints` (the outside APIs' addresses). The environment stays flat: each
leaf names its variable with an alias (`UNDERDOG_` + the alias, upper case; a top-level field
is its own alias), and `_Environment`, a flat model of every variable built from those
aliases, reads the environment and `.env` and feeds the nested models.

Secrets are `SecretStr`: they print as `**********`, and a DSN is shown with its password
replaced by `***` (`underdog.redaction`, whatever the DSN's form). Nothing here connects
anywhere at import time.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from underdog.redaction import dsn_passwords, redact
from underdog.reference import endpoints
from underdog.reference.fred_ids import series_id

ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
PREFIX = "UNDERDOG_"


class ConfigError(RuntimeError):
    """A setting is missing, malformed or points at something unreachable."""


def _require_scheme(value: SecretStr, schemes: tuple[str, ...], variable: str) -> SecretStr:
    url = value.get_secret_value()
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        shown = redact(url, dsn_passwords(url))
        raise ValueError(f"{variable} must be a {' or '.join(schemes)} URL, got {shown!r}")
    return value


def _names(value: object, upper: bool = False) -> object:
    """A comma list ("a, b") as a list; anything else as given."""
    if isinstance(value, str):
        return [s.strip().upper() if upper else s.strip() for s in value.split(",") if s.strip()]
    return value


def _blank_is_unset(value: object) -> object:
    # `UNDERDOG_FRED_API_KEY=` (as in .env.example) means "no key", not an empty key.
    return None if isinstance(value, str) and not value.strip() else value


def _var(alias: str, default: Any = None, **kwargs: Any) -> Any:
    """A leaf read from UNDERDOG_<ALIAS>."""
    return Field(default, alias=alias, **kwargs)


class _Section(BaseModel):
    # By alias (the variable's name) from the environment, by field name from code.
    model_config = ConfigDict(populate_by_name=True, hide_input_in_errors=True, frozen=True)


# ---------------------------------------------------------------- market


class Simulator(_Section):
    seed: int = _var("simulator_seed", 7)
    # The simulated market's planted momentum (sources.simulated.Edge strength); 0: none, the
    # plain random walk. `underdog demo` sets it (STRONG_EDGE) unless given.
    edge: float = _var("simulator_edge", 0.0, ge=0.0, lt=1.0)


class Dukascopy(_Section):
    base_url: str = _var("dukascopy_base_url", endpoints.DUKASCOPY_URL)
    # Fetched hours are kept here ("~" is expanded); empty: no cache.
    cache_dir: str = _var("dukascopy_cache_dir", "~/.cache/underdog/dukascopy")


class Mt5(_Section):
    """The MQL5-JSON-API bridge a backfill reads history from (the streamer has its options)."""

    host: str = _var("mt5_host", endpoints.MT5_HOST)
    sys_port: int = _var("mt5_sys_port", endpoints.MT5_SYS_PORT)
    data_port: int = _var("mt5_data_port", endpoints.MT5_DATA_PORT)


class Market(_Section):
    # Where backfilled ticks (and their M1 bars) come from.
    source: Literal["simulated", "dukascopy", "mt5"] = _var("market_source", "simulated")
    simulator: Simulator = Simulator()
    dukascopy: Dukascopy = Dukascopy()
    mt5: Mt5 = Mt5()


# ---------------------------------------------------------------- macro and insider


class Fred(_Section):
    # FRED/ALFRED vintages through fredapi. Without a key FRED is skipped, and macro.source
    # "auto" uses the bundled fixture (underdog/sources/fixtures/fred_sample.json).
    api_key: SecretStr | None = _var("fred_api_key")
    base_url: str = _var("fred_base_url", endpoints.FRED_URL)
    series: Annotated[list[str], NoDecode] = _var(
        "fred_series", ["VIXCLS", "DFF", "T10Y2Y", "DGS10", "DGS2", "CPIAUCSL", "UNRATE"])

    _unset = field_validator("api_key", mode="before")(_blank_is_unset)

    @field_validator("series", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _names(value, upper=True)

    @field_validator("series")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return [series_id(s) for s in value]


class Macro(_Section):
    source: Literal["auto", "fixture", "fred"] = _var("macro_source", "auto")
    fred: Fred = Fred()


class Edgar(_Section):
    # SEC EDGAR (a User-Agent "Name contact@example.com" is required), its submissions API
    # host and its archives host; the issuers followed, CIKs or tickers.
    user_agent: str | None = _var("sec_user_agent")
    base_url: str = _var("edgar_base_url", endpoints.EDGAR_URL)
    archives_url: str = _var("edgar_archives_url", endpoints.EDGAR_ARCHIVES_URL)
    ciks: Annotated[list[str], NoDecode] = _var("edgar_ciks", [])

    _unset = field_validator("user_agent", mode="before")(_blank_is_unset)

    @field_validator("ciks", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _names(value, upper=True)


class Insider(_Section):
    edgar: Edgar = Edgar()  # and Alpha Vantage where a key is set (settings.alphavantage)


class AlphaVantage(_Section):
    """Alpha Vantage serves two domains: insider transactions and NEWS_SENTIMENT."""

    api_key: SecretStr | None = _var("alphavantage_api_key")
    base_url: str = _var("alphavantage_base_url", endpoints.ALPHAVANTAGE_URL)

    _unset = field_validator("api_key", mode="before")(_blank_is_unset)


# ---------------------------------------------------------------- sentiment


class NewsApi(_Section):
    api_key: SecretStr | None = _var("newsapi_api_key")
    base_url: str = _var("newsapi_base_url", endpoints.NEWSAPI_URL)

    _unset = field_validator("api_key", mode="before")(_blank_is_unset)


class GNews(_Section):
    api_key: SecretStr | None = _var("gnews_api_key")
    base_url: str = _var("gnews_base_url", endpoints.GNEWS_URL)

    _unset = field_validator("api_key", mode="before")(_blank_is_unset)


class Reddit(_Section):
    client_id: str | None = _var("reddit_client_id")
    client_secret: SecretStr | None = _var("reddit_client_secret")
    user_agent: str = _var("reddit_user_agent",
                           "python:underdog-feature-store:v0.1 (FX sentiment)")
    subreddits: Annotated[list[str], NoDecode] = _var(
        "reddit_subreddits", ["forex", "Forexstrategy", "economics"])
    # One address for PRAW's oauth and www hosts (tests, proxies); empty: Reddit's own hosts.
    base_url: str | None = _var("reddit_base_url")

    _unset = field_validator("client_id", "client_secret", "base_url", mode="before")(
        _blank_is_unset)
    _split = field_validator("subreddits", mode="before")(lambda v: _names(v))


class FinBert(_Section):
    model: str = _var("finbert_model", "ProsusAI/finbert")  # a hub id or a local folder
    quantize: bool = _var("finbert_quantize", False)  # int8 dynamic quantization of Linear


class Sentiment(_Section):
    # NewsAPI, GNews, Reddit (PRAW), Alpha Vantage NEWS_SENTIMENT (settings.alphavantage). A
    # source without credentials is skipped; with none at all, sources "auto" uses the
    # bundled fixture (underdog/sources/fixtures/news_sample.json).
    # "auto", or a comma list of newsapi, gnews, alphavantage, reddit, fixture.
    sources: Annotated[list[str], NoDecode] = _var("sentiment_sources", ["auto"])
    # JSON {"EURUSD": ["EUR/USD", "euro", "ECB", ...], ...}; empty: the built-in map.
    keywords_file: str = _var("sentiment_keywords_file", "")
    # A backfilled item is known no earlier than its publication + this delay (the poll period).
    poll_delay_s: int = _var("sentiment_poll_delay_s", 900, ge=0)
    newsapi: NewsApi = NewsApi()
    gnews: GNews = GNews()
    reddit: Reddit = Reddit()
    finbert: FinBert = FinBert()

    _split = field_validator("sources", mode="before")(lambda v: _names(v))


# ---------------------------------------------------------------- all of them


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

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
    # A read that must be fresh (online) waits this long for the replica to replay what the
    # primary has, then refuses it (underdog.store.replica); `underdog health` flags more.
    replica_max_lag_s: float = Field(default=5.0, ge=0)
    # `underdog db create` only: a superuser (or CREATEROLE + CREATEDB) DSN on the same server
    # that creates the databases and the login roles; empty: UNDERDOG_DATABASE_URL.
    admin_database_url: SecretStr | None = None
    pool_max_size: int = Field(default=4, ge=1)

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Keys are `<prefix>:v1:<kind>:<symbol>[:<source>]`; tests use their own prefix.
    redis_prefix: str = "underdog"
    cache_ttl_s: int = Field(default=3600, gt=0)
    redis_timeout_s: float = Field(default=0.25, gt=0)
    redis_cluster: bool = Field(default=False, description=(
        "UNDERDOG_REDIS_CLUSTER: UNDERDOG_REDIS_URL is a node of a Redis Cluster (keys get hash"
        " tags so each multi-key script or transaction stays on one slot)"))
    # How far past the write moment a fact's `time` / `available_at` may lie (clock skew
    # between hosts); beyond it the row is a dead letter with reason "future".
    clock_tolerance_s: float = Field(default=5.0, ge=0)

    symbols: Annotated[list[str], NoDecode] = ["EURUSD", "GBPUSD"]
    market: Market = Market()
    macro: Macro = Macro()
    insider: Insider = Insider()
    alphavantage: AlphaVantage = AlphaVantage()
    sentiment: Sentiment = Sentiment()

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
    # (defaults: underdog/ops/cadences.py); log lines on stderr, redacted: one JSON object
    # each (services: docker/) or text for a terminal, both with the run and partition.
    freshness_max_lag: str = ""
    log_format: Literal["json", "text"] = "text"
    log_level: str = "WARNING"

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   **_others: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments first, then the flat environment (variables and .env) nested.
        return init_settings, _EnvironmentSource(settings_cls)

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
        return _names(value, upper=True)

    @field_validator("reader_role")
    @classmethod
    def _role_name(cls, value: str) -> str:
        if not ROLE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a role name (letters, digits, _ and $, "
                             f"63 at most, not starting with a digit)")
        return value

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


# ---------------------------------------------------------------- the flat environment


def _leaves(model: type[BaseModel], path: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Each variable's alias -> the path of field names to its leaf."""
    out: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, _Section):
            out.update(_leaves(kind, (*path, name)))
        else:
            out[info.alias or name] = (*path, name)
    return out


LEAVES = _leaves(Settings)
# Every variable the settings read, UNDERDOG_<ALIAS> -> the path of its field.
VARIABLES = {PREFIX + alias.upper(): path for alias, path in LEAVES.items()}


class _Flat(BaseSettings):
    """Where the variables are read from: the environment, then `.env`."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_file=".env", extra="ignore")


# One optional string per variable: the raw text goes to the nested models' validators
# (comma lists are split there, not JSON-decoded here).
_Environment = create_model("_Environment", __base__=_Flat,
                            **{alias: (str | None, None) for alias in LEAVES})


def nest(flat: dict[str, object]) -> dict[str, Any]:
    """{"dukascopy_base_url": v} -> {"market": {"dukascopy": {"base_url": v}}}; a name that
    is no variable's alias (a nested section passed as such) is kept as given."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        path = LEAVES.get(key, (key,))
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


class _EnvironmentSource(PydanticBaseSettingsSource):
    """The variables (and .env) that are set, nested into the settings' sections."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads all at once

    def __call__(self) -> dict[str, Any]:
        return nest(_Environment().model_dump(exclude_none=True))


def _variable(loc: tuple[int | str, ...]) -> str:
    """The variable an error's location points at: its deepest alias or field name."""
    names = [p for p in loc if isinstance(p, str)]
    for part in reversed(names):
        if part in LEAVES:
            return PREFIX + part.upper()
    by_path = {path: alias for alias, path in LEAVES.items()}
    for end in range(len(names), 0, -1):
        if tuple(names[:end]) in by_path:
            return PREFIX + by_path[tuple(names[:end])].upper()
    return PREFIX + "_".join(names).upper()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, `overrides` named like the variables (without the
    prefix, any case); a `ConfigError` names the variable."""
    try:
        return Settings(**nest({k.lower(): v for k, v in overrides.items()}))
    except ValidationError as exc:
        lines = [f"{_variable(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
