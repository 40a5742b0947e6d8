"""Settings: environment and .env, clear errors that name the variable, no password leaks."""

from __future__ import annotations

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
