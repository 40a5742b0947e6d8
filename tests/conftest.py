"""Fixtures on the real services: a fresh PostgreSQL database and a Redis key prefix per run.

The database is created, migrated, and dropped at the end of the session; each test that
asks for `db` starts from empty tables. Redis keys live under a prefix of their own and are
deleted at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import delete_keys
from underdog.store import migrate
from underdog.store.admin import create_database, drop_database
from underdog.store.db import Database

SERVER = os.environ.get("UNDERDOG_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("UNDERDOG_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN = uuid.uuid4().hex[:8]

TRUNCATE = """
TRUNCATE underdog.ohlcv, underdog.ticks, underdog.sentiment_scores, underdog.macro_indicators,
    underdog.regime_predictions, underdog.state_vectors, underdog.trades, underdog.positions,
    underdog.metrics, underdog.account_snapshots, underdog.dead_letters, underdog.raw_documents,
    underdog.insider_transactions, underdog.model_registry, underdog.ohlcv_1h, underdog.ohlcv_1d,
    underdog.hourly_sentiment_summary, underdog.daily_trading_summary, underdog.quotes
"""


def fresh_dsn(tag: str) -> str:
    """A DSN for a new, empty database that no one else uses (caller drops it)."""
    dsn = f"{SERVER}/underdog_test_{RUN}_{tag}"
    create_database(dsn)
    return dsn


def pause_timescale_jobs(dsn: str) -> None:
    """On TimescaleDB, keep the scheduler off the test database's policy jobs: the fixtures'
    data is from 2024, past the retention windows of the server's clock, and a job run
    mid-test would drop or compress it. Tests of the policies run them (`CALL run_job`)."""
    with Database(dsn) as db, db.connection() as conn, conn.transaction():
        if db.is_timescale:
            conn.execute("SELECT alter_job(job_id, scheduled => false)"
                         " FROM timescaledb_information.jobs WHERE hypertable_schema = 'underdog'")


@pytest.fixture(scope="session")
def dsn() -> Iterator[str]:
    dsn = fresh_dsn("main")
    migrate.upgrade(dsn)
    pause_timescale_jobs(dsn)
    yield dsn
    drop_database(dsn)


@pytest.fixture(scope="session")
def database(dsn: str) -> Iterator[Database]:
    with Database(dsn) as db:
        yield db


@pytest.fixture
def db(database: Database) -> Database:
    """The session's database with every table emptied."""
    with database.connection() as conn, conn.transaction():
        conn.execute(TRUNCATE)
    return database


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    prefix = f"underdog_test_{RUN}"
    yield prefix
    delete_keys(REDIS_URL, prefix)


@pytest.fixture
def dagster_env(dsn: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the Dagster resources read (EnvVar), pointed at the test services."""
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", redis_prefix)
