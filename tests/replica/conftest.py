"""A primary and a streaming standby of the session's own, the primary migrated, and a
`Database` writing to the primary and reading on the standby (UNDERDOG_READER_DATABASE_URL).

UNDERDOG_REPLICA_PRELOAD=timescaledb starts both with the extension preloaded (it must be in
the server install the binaries come from), so the migrations make hypertables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.conftest import TRUNCATE, pause_timescale_jobs
from tests.replica.cluster import ReplicaPair, pg_bin
from underdog.store import migrate, replica
from underdog.store.admin import create_database
from underdog.store.db import Database

DBNAME = "underdog"
PRELOAD = os.environ.get("UNDERDOG_REPLICA_PRELOAD", "")


@pytest.fixture(scope="session")
def pair() -> Iterator[ReplicaPair]:
    folder = pg_bin()
    if folder is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_basebackup): set PGBIN")
    servers = ReplicaPair(folder)
    try:
        servers.start(preload=PRELOAD)
        primary = servers.dsn(servers.primary_port, DBNAME)
        create_database(primary)
        migrate.upgrade(primary)
        pause_timescale_jobs(primary)
        caught_up(servers)  # the reader role and the schema exist on the standby too
        yield servers
    finally:
        servers.stop()


def caught_up(servers: ReplicaPair, within_s: float = 60.0) -> None:
    """Wait until the standby has replayed the primary's current WAL (a loaded machine
    replays the migrations seconds after they commit)."""
    with psycopg.connect(servers.dsn(servers.primary_port), autocommit=True) as primary, \
            psycopg.connect(servers.dsn(servers.standby_port), autocommit=True) as standby:
        lag = replica.catch_up(standby, replica.primary_lsn(primary), within_s)
    assert not lag.behind, f"the standby did not catch up in {within_s} s: {lag.describe()}"


@pytest.fixture(scope="session")
def primary_dsn(pair: ReplicaPair) -> str:
    return pair.dsn(pair.primary_port, DBNAME)


@pytest.fixture(scope="session")
def standby_reader_dsn(pair: ReplicaPair) -> str:
    """The reader role on the standby: what UNDERDOG_READER_DATABASE_URL would hold."""
    return pair.dsn(pair.standby_port, DBNAME, "underdog_reader")


@pytest.fixture(scope="session")
def standby_admin(pair: ReplicaPair) -> Iterator[psycopg.Connection]:
    """A superuser session on the standby: pauses and resumes WAL replay."""
    with psycopg.connect(pair.dsn(pair.standby_port, DBNAME), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def replicated(primary_dsn: str, standby_reader_dsn: str) -> Iterator[Database]:
    with Database(primary_dsn, reader_dsn=standby_reader_dsn, max_lag_s=30.0) as db:
        yield db


@pytest.fixture
def rdb(replicated: Database, standby_admin: psycopg.Connection) -> Database:
    """Empty tables on the primary, the standby replaying and caught up."""
    standby_admin.execute("SELECT pg_wal_replay_resume()")
    with replicated.connection() as conn, conn.transaction():
        conn.execute(TRUNCATE)
    replicated.replica_lag(within_s=30.0)
    return replicated


@contextmanager
def replay_paused(standby: psycopg.Connection) -> Iterator[None]:
    """WAL replay paused on the standby inside the block: it falls behind every write."""
    standby.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        standby.execute("SELECT pg_wal_replay_resume()")


def commit_on_primary(db: Database) -> None:
    """A commit the standby must replay (catalog rows of a temporary table), no data."""
    with db.connection() as conn, conn.transaction():
        conn.execute("CREATE TEMP TABLE replica_probe (x int) ON COMMIT DROP")
