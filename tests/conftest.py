"""Fixtures on the real services: a fresh PostgreSQL database and a Redis key prefix per run.

The database is created, migrated, and dropped at the end of the session; each test that
asks for `db` starts from empty tables. Redis keys live under a prefix of their own and are
deleted at the end. `redis_target` is the Redis a test writes to: the shared single server,
or (where a module sets `ON_BOTH_REDIS`) a three-master Redis Cluster the
session starts on spare ports and stops at its end.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import delete_keys
from tests.redis_cluster import RedisClusterServer
from underdog.store import migrate
from underdog.store.admin import create_database, drop_database
from underdog.store.db import Database
from underdog.store.online.client import Client, connect

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


@dataclass(frozen=True)
class RedisTarget:
    """Where a test's Redis is: `url`, and whether it is a cluster (UNDERDOG_REDIS_CLUSTER)."""

    url: str
    cluster: bool

    def client(self, *, decode: bool = False) -> Client:
        return connect(self.url, cluster=self.cluster, decode=decode, timeout_s=2.0)

    def delete_keys(self, prefix: str) -> None:
        """Delete every key under `prefix` (on a cluster also the tagged `{prefix...`)."""
        client = self.client()
        patterns = (f"{prefix}:*", f"{{{prefix}:*") if self.cluster else (f"{prefix}:*",)
        keys = {k for p in patterns for k in client.scan_iter(match=p, count=1000)}
        if keys:
            client.delete(*keys)
        client.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module that sets `ON_BOTH_REDIS = True` runs each of its tests that uses
    `redis_target` twice: on the single Redis and on the cluster."""
    if "redis_target" in metafunc.fixturenames and getattr(metafunc.module, "ON_BOTH_REDIS",
                                                           False):
        metafunc.parametrize("redis_target", ["single", "cluster"], indirect=True)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    server = RedisClusterServer()
    yield server
    server.stop()


@pytest.fixture
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    """The shared single Redis, unless parametrized "cluster" (`ON_BOTH_REDIS`)."""
    if getattr(request, "param", "single") == "cluster":
        return RedisTarget(request.getfixturevalue("redis_cluster").url, True)
    return RedisTarget(REDIS_URL, False)


def key_safe(name: str) -> str:
    """A test's node name fit for a key prefix: no `[`, `]` (glob classes in SCAN MATCH)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)

