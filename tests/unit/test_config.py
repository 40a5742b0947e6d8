"""Settings: environment and .env, clear errors that name the variable, no password leaks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from underdog.config import ConfigError, load_settings, redact
from underdog.store.db import Database, check_database

SECRET = "s3cr3t-pa55"


def test_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_SYMBOLS", "eurusd, usdjpy")
    monkeypatch.setenv("UNDERDOG_CACHE_TTL_S", "600")
    settings = load_settings()
    assert settings.symbols == ["EURUSD", "USDJPY"]
    assert settings.cache_ttl_s == 600
    assert settings.dsn.startswith("postgresql://")


def test_dotenv_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("UNDERDOG_REDIS_PREFIX=from_dotenv\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNDERDOG_REDIS_PREFIX", raising=False)
    assert load_settings().redis_prefix == "from_dotenv"


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", f"postgresql://bob:{SECRET}@db:5432/x")
    settings = load_settings()
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    assert redact(settings.dsn) == "postgresql://bob:***@db:5432/x"


def test_a_malformed_dsn_names_the_variable_and_hides_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", f"mysql://bob:{SECRET}@db/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "UNDERDOG_DATABASE_URL" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("role", ["", "bad role", 'x"; DROP ROLE postgres; --', "1st", "r" * 64])
def test_a_reader_role_that_is_no_role_name_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, role: str,
) -> None:
    monkeypatch.setenv("UNDERDOG_READER_ROLE", role)
    with pytest.raises(ConfigError, match="UNDERDOG_READER_ROLE.*not a role name"):
        load_settings()


def test_a_bad_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_CACHE_TTL_S", "soon")
    with pytest.raises(ConfigError, match="UNDERDOG_CACHE_TTL_S"):
        load_settings()


@pytest.mark.parametrize("dsn", [
    f"postgresql://postgres:{SECRET}@127.0.0.1:1/underdog",  # nothing listens on port 1
    f"postgresql://postgres:{SECRET}@127.0.0.1:5432/no_such_database_here",
])
def test_an_unreachable_database_fails_at_start(dsn: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_database(dsn)
    message = str(info.value)
    assert message.startswith("UNDERDOG_DATABASE_URL (postgresql://postgres:***@127.0.0.1")
    assert "not reachable" in message and SECRET not in message
    with pytest.raises(ConfigError):
        Database(dsn)


# Every documented UNDERDOG_* variable (README, .env.example, docker-compose) that the settings
# read, a value for it and where that value must land (UNDERDOG_MT5_HOST/_SYS_PORT/_DATA_PORT
# are new: the backfill's bridge). Spelled out here, not derived from underdog.config, so
# that a variable that moves or stops being read fails this test.
DOCUMENTED = {
    "UNDERDOG_DATABASE_URL": ("postgresql://u@db:5432/x", ("database_url",)),
    "UNDERDOG_TIMESCALE": ("off", ("timescale",)),
    "UNDERDOG_READER_ROLE": ("reader_x", ("reader_role",)),
    "UNDERDOG_READER_PASSWORD": ("pw", ("reader_password",)),
    "UNDERDOG_READER_DATABASE_URL": ("postgresql://r@replica/x", ("reader_database_url",)),
    "UNDERDOG_REPLICA_MAX_LAG_S": ("12.5", ("replica_max_lag_s",)),
    "UNDERDOG_REDIS_CLUSTER": ("true", ("redis_cluster",)),
    "UNDERDOG_EXECUTOR": ("celery", ("executor",)),
    "UNDERDOG_CELERY_BROKER_URL": ("redis://broker:6379/3", ("celery_broker_url",)),
    "UNDERDOG_CELERY_VISIBILITY_TIMEOUT_S": ("120", ("celery_visibility_timeout_s",)),
    "UNDERDOG_CELERY_IO_CONCURRENCY": ("6", ("celery_io_concurrency",)),
    "UNDERDOG_CELERY_CPU_CONCURRENCY": ("2", ("celery_cpu_concurrency",)),
    "UNDERDOG_ADMIN_DATABASE_URL": ("postgresql://a@db/x", ("admin_database_url",)),
    "UNDERDOG_POOL_MAX_SIZE": ("9", ("pool_max_size",)),
    "UNDERDOG_REDIS_URL": ("redis://cache:6379/2", ("redis_url",)),
    "UNDERDOG_REDIS_PREFIX": ("px", ("redis_prefix",)),
    "UNDERDOG_CACHE_TTL_S": ("77", ("cache_ttl_s",)),
    "UNDERDOG_REDIS_TIMEOUT_S": ("0.5", ("redis_timeout_s",)),
    "UNDERDOG_CLOCK_TOLERANCE_S": ("2.5", ("clock_tolerance_s",)),
    "UNDERDOG_SYMBOLS": ("usdjpy", ("symbols",)),
    "UNDERDOG_SIMULATOR_SEED": ("11", ("market", "simulator", "seed")),
    "UNDERDOG_SIMULATOR_EDGE": ("0.3", ("market", "simulator", "edge")),
    "UNDERDOG_MARKET_SOURCE": ("dukascopy", ("market", "source")),
    "UNDERDOG_DUKASCOPY_BASE_URL": ("http://feed/d", ("market", "dukascopy", "base_url")),
    "UNDERDOG_DUKASCOPY_CACHE_DIR": ("/tmp/d", ("market", "dukascopy", "cache_dir")),
    "UNDERDOG_MT5_HOST": ("10.0.0.2", ("market", "mt5", "host")),
    "UNDERDOG_MT5_SYS_PORT": ("25555", ("market", "mt5", "sys_port")),
    "UNDERDOG_MT5_DATA_PORT": ("25556", ("market", "mt5", "data_port")),
    "UNDERDOG_FRED_API_KEY": ("fk", ("macro", "fred", "api_key")),
    "UNDERDOG_FRED_BASE_URL": ("http://fred/f", ("macro", "fred", "base_url")),
    "UNDERDOG_FRED_SERIES": ("dff", ("macro", "fred", "series")),
    "UNDERDOG_MACRO_SOURCE": ("fred", ("macro", "source")),
    "UNDERDOG_SEC_USER_AGENT": ("A a@b.c", ("insider", "edgar", "user_agent")),
    "UNDERDOG_EDGAR_BASE_URL": ("http://sec/d", ("insider", "edgar", "base_url")),
    "UNDERDOG_EDGAR_ARCHIVES_URL": ("http://sec/w", ("insider", "edgar", "archives_url")),
    "UNDERDOG_EDGAR_CIKS": ("jpm", ("insider", "edgar", "ciks")),
    "UNDERDOG_ALPHAVANTAGE_API_KEY": ("ak", ("alphavantage", "api_key")),
    "UNDERDOG_ALPHAVANTAGE_BASE_URL": ("http://av", ("alphavantage", "base_url")),
    "UNDERDOG_NEWSAPI_API_KEY": ("nk", ("sentiment", "newsapi", "api_key")),
    "UNDERDOG_NEWSAPI_BASE_URL": ("http://na", ("sentiment", "newsapi", "base_url")),
    "UNDERDOG_GNEWS_API_KEY": ("gk", ("sentiment", "gnews", "api_key")),
    "UNDERDOG_GNEWS_BASE_URL": ("http://gn", ("sentiment", "gnews", "base_url")),
    "UNDERDOG_REDDIT_CLIENT_ID": ("rid", ("sentiment", "reddit", "client_id")),
    "UNDERDOG_REDDIT_CLIENT_SECRET": ("rs", ("sentiment", "reddit", "client_secret")),
    "UNDERDOG_REDDIT_USER_AGENT": ("ua", ("sentiment", "reddit", "user_agent")),
    "UNDERDOG_REDDIT_SUBREDDITS": ("fx", ("sentiment", "reddit", "subreddits")),
    "UNDERDOG_REDDIT_BASE_URL": ("http://rd", ("sentiment", "reddit", "base_url")),
    "UNDERDOG_SENTIMENT_SOURCES": ("gnews", ("sentiment", "sources")),
    "UNDERDOG_SENTIMENT_KEYWORDS_FILE": ("/k.json", ("sentiment", "keywords_file")),
    "UNDERDOG_SENTIMENT_POLL_DELAY_S": ("60", ("sentiment", "poll_delay_s")),
    "UNDERDOG_FINBERT_MODEL": ("/models/f", ("sentiment", "finbert", "model")),
    "UNDERDOG_FINBERT_QUANTIZE": ("true", ("sentiment", "finbert", "quantize")),
    "UNDERDOG_FRESHNESS_MAX_LAG": ("ohlcv=off", ("freshness_max_lag",)),
    "UNDERDOG_LOG_FORMAT": ("json", ("log_format",)),
    "UNDERDOG_LOG_LEVEL": ("DEBUG", ("log_level",)),
}
# Read by the CLIs' own options (typer envvar) or by the tests, not by the settings.
NOT_SETTINGS = {"UNDERDOG_", "UNDERDOG_READER_", "UNDERDOG_TEST_SERVER", "UNDERDOG_REPLICA_PRELOAD",
                "UNDERDOG_MT5_SERVER_UTC_OFFSET_HOURS", "UNDERDOG_METRICS_PORT",
                "UNDERDOG_METRICS_ADDR"}


def _documented() -> set[str]:
    root = Path(__file__).resolve().parents[2]
    texts = [root / "README.md", root / ".env.example", *root.glob("docker-compose*.y*ml"),
             *(root / "docker").rglob("*")]
    found: set[str] = set()
    for path in texts:
        if path.is_file():
            found |= set(re.findall(r"UNDERDOG_[A-Z0-9_]*", path.read_text(errors="ignore")))
    return {v for v in found if not v.startswith("UNDERDOG_STREAM_")} - NOT_SETTINGS


def test_the_table_covers_every_documented_variable() -> None:
    assert _documented() <= set(DOCUMENTED)


@pytest.mark.parametrize("variable", sorted(DOCUMENTED))
def test_each_documented_variable_lands_in_its_field(
    monkeypatch: pytest.MonkeyPatch, variable: str,
) -> None:
    value, path = DOCUMENTED[variable]
    monkeypatch.setenv(variable, value)
    field = load_settings()
    for name in path:
        field = getattr(field, name)
    shown = field.get_secret_value() if hasattr(field, "get_secret_value") else field
    expected = {"true": True, "off": "off"}.get(value, value)
    if isinstance(shown, list):
        expected = [value.upper()] if variable != "UNDERDOG_REDDIT_SUBREDDITS" and (
            variable != "UNDERDOG_SENTIMENT_SOURCES") else [value]
    elif isinstance(shown, int | float) and not isinstance(shown, bool):
        expected = type(shown)(value)
    assert shown == expected
