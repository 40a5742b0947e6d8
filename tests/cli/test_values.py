"""Values are printed as stored (every digit), and `features latest` prints its vector even
when Redis is down or hung."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import cli_settings, free_port
from underdog.config import get_settings
from underdog.features.online import last_bar_time, vector_at
from underdog.features.registry import FEATURE_NAMES
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.writers import upsert
from underdog.store.online.cache import LatestCache
from underdog.store.tables import MACRO_INDICATORS
from underdog_cli.app import app

DAY = datetime(2024, 3, 12, tzinfo=UTC)  # a Tuesday


@pytest.fixture
def cli_env(dsn: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_settings(monkeypatch, dsn=dsn, redis_url=REDIS_URL,
                      prefix=f"{redis_prefix}_values"):
        yield


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("stored", [20659.029, 20658.204, 0.1 + 0.2, 1e-7, 123456789.123])
def test_macro_asof_prints_the_value_as_stored(cli_env: None, db: Database,
                                               stored: float) -> None:
    upsert(db, MACRO_INDICATORS, pd.DataFrame({
        "series_id": ["GDP"], "time": [datetime(2023, 10, 1, tzinfo=UTC)],
        "realtime_start": [date(2024, 1, 25)], "realtime_end": [None], "value": [stored],
        "available_at": [datetime(2024, 1, 25, 13, 30, tzinfo=UTC)],
        "name": ["Gross Domestic Product"], "units": ["Billions of Dollars"],
    }), source="test")
    result = invoke("macro", "asof", "GDP", "2024-02-01")
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("value")]
    assert line.split()[1] == repr(stored) and float(line.split()[1]) == stored


@pytest.fixture
def bars(db: Database) -> Database:
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=1), DAY + timedelta(hours=12), seed=5)
    return db


def printed_vector(stdout: str) -> dict[str, str]:
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in stdout.splitlines()
             if line.startswith("│")]
    return {name: value for name, value in cells if name in FEATURE_NAMES}


def expected_vector(db: Database) -> dict[str, str]:
    vector = vector_at(db, "EURUSD", last_bar_time(db, "EURUSD"))
    return {name: repr(vector[name]) for name in FEATURE_NAMES}


def test_latest_prints_every_digit_and_publishes(cli_env: None, bars: Database,
                                                redis_prefix: str) -> None:
    result = invoke("features", "latest", "eurusd")
    assert result.exit_code == 0, result.output
    assert printed_vector(result.stdout) == expected_vector(bars)
    assert "database" not in result.stderr
    published = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}_values").get(
        "state", "EURUSD")
    assert {name: repr(published[name]) for name in FEATURE_NAMES} == expected_vector(bars)


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A port that accepts connections and never answers (a Redis hung or partitioned)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.mark.parametrize("redis", ["closed", "hung"])
def test_latest_prints_the_vector_when_redis_is_unreachable(
    cli_env: None, bars: Database, monkeypatch: pytest.MonkeyPatch, hung_redis: str,
    redis: str,
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0" if redis == "closed" else hung_redis
    monkeypatch.setenv("UNDERDOG_REDIS_URL", url)
    get_settings.cache_clear()
    result = invoke("features", "latest", "EURUSD")
    assert result.exit_code == 0, result.output
    assert printed_vector(result.stdout) == expected_vector(bars)
    assert "computed from the database" in result.stderr
