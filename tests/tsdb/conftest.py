"""Fixtures and helpers of the tests of TimescaleDB's own behaviours on the real server.

Those tests skip, saying so, when the test server (UNDERDOG_TEST_SERVER) has no TimescaleDB:
they are about features plain PostgreSQL lacks (chunks, the columnstore, policy jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.conftest import TRUNCATE, fresh_dsn
from underdog.store import migrate
from underdog.store.admin import drop_database
from underdog.store.db import Database

NOT_TIMESCALE = ("about TimescaleDB's own behaviour (chunks, columnstore, policy jobs), which"
                 " plain PostgreSQL lacks: run `make test-timescale` against a TimescaleDB server")


def require_timescale(db: Database) -> Database:
    if not db.is_timescale:
        pytest.skip(NOT_TIMESCALE)
    return db


def run_jobs(db: Database, proc: str, tables: list[str] | None = None) -> list[int]:
    """Run the `proc` policy jobs (policy_compression, policy_retention, ...) of the underdog
    hypertables now, as the scheduler would; their ids."""
    with db.connection() as conn:
        conn.autocommit = True  # run_job commits per chunk: it cannot run in a transaction
        try:
            jobs = [job for job, table in conn.execute(
                "SELECT job_id, hypertable_name FROM timescaledb_information.jobs"
                " WHERE proc_name = %s AND hypertable_schema = 'underdog' ORDER BY job_id",
                (proc,)).fetchall() if tables is None or table in tables]
            for job in jobs:
                conn.execute("CALL run_job(%s)", (job,))
        finally:
            conn.autocommit = False
    assert jobs, f"no {proc} job on {tables or 'any table'}"
    return jobs


def chunks(db: Database, table: str) -> list[tuple[datetime, datetime, bool]]:
    """(range start, range end, in the columnstore) of each chunk of `table`, oldest first."""
    with db.connection() as conn:
        return conn.execute(
            "SELECT range_start, range_end, is_compressed FROM timescaledb_information.chunks"
            " WHERE hypertable_schema = 'underdog' AND hypertable_name = %s ORDER BY 1",
            (table,)).fetchall()


@pytest.fixture
def timescale(db: Database) -> Database:
    """The session's (emptied) database, which must be on TimescaleDB."""
    return require_timescale(db)


@pytest.fixture(scope="session")
def plain_path(database: Database) -> Iterator[Database]:
    """A database on the same server migrated with UNDERDOG_TIMESCALE=off: plain PostgreSQL's
    tables, summary tables and retention, to hold the same writes side by side."""
    require_timescale(database)
    dsn = fresh_dsn("plain")
    migrate.upgrade(dsn, timescale="off")
    with Database(dsn) as db:
        assert not db.is_timescale
        yield db
    drop_database(dsn)


@pytest.fixture
def plain(plain_path: Database) -> Database:
    with plain_path.connection() as conn, conn.transaction():
        conn.execute(TRUNCATE)
    return plain_path
