"""Connections: a writer pool and a read-only reader pool on the same database.

The reader pool's sessions run as the `underdog_reader` role (SELECT only) with read-only
transactions, so a serving path cannot write even by mistake. They are in autocommit: a read
is one statement, with no BEGIN/ROLLBACK round trips around it.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from underdog.config import ConfigError
from underdog.redaction import dsn_passwords, known_secrets, redact

SCHEMA = "underdog"


def connect(dsn: str, *, variable: str = "UNDERDOG_DATABASE_URL", **kwargs) -> psycopg.Connection:
    """One connection, or a `ConfigError` naming the variable (never the password)."""
    try:
        return psycopg.connect(dsn, connect_timeout=5, **kwargs)
    except psycopg.Error as exc:
        # The DSN's own password too: it need not be one this process's settings know.
        secrets = {*known_secrets(), *dsn_passwords(dsn)}
        message = f"{variable} ({dsn}) is not reachable: {str(exc).strip()}"
        raise ConfigError(redact(message, secrets)) from None


def check_database(dsn: str, *, variable: str = "UNDERDOG_DATABASE_URL") -> str:
    """The server version, or a `ConfigError` that says what is wrong."""
    with connect(dsn, variable=variable) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


def is_timescale(conn: psycopg.Connection) -> bool:
    """Whether the connection's database has the TimescaleDB extension."""
    row = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return bool(row and row[0])


def check_idle(conn: psycopg.Connection) -> None:
    """The reader pool's check on checkout, without a round trip in the usual case.

    An idle connection has nothing to read unless the server closed it or sent something
    (a restart's FATAL message, then EOF): only then ask the server, which raises on a dead
    connection so the pool replaces it. Serving reads keep ~0.1 ms this way.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class Database:
    """Pools for one database. Open it once per process; use as a context manager."""

    def __init__(self, dsn: str, *, reader_role: str = "underdog_reader", max_size: int = 4):
        self.dsn = dsn
        self.reader_role = reader_role
        check_database(dsn)
        self._writer = ConnectionPool(
            dsn, min_size=1, max_size=max_size, open=False,
            check=ConnectionPool.check_connection, name="underdog-writer",
        )
        self._reader = ConnectionPool(
            dsn, min_size=1, max_size=max_size, open=False, kwargs={"autocommit": True},
            check=check_idle, configure=self._configure_reader,
            name="underdog-reader",
        )

    def _configure_reader(self, conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self.reader_role)))
        conn.execute("SET default_transaction_read_only = on")

    def open(self) -> Database:
        self._writer.open(wait=True, timeout=10)
        self._reader.open(wait=True, timeout=10)
        return self

    def close(self) -> None:
        self._writer.close()
        self._reader.close()

    def __enter__(self) -> Database:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A writer connection; wrap work in `conn.transaction()`."""
        with self._writer.connection() as conn:
            yield conn

    @contextmanager
    def reader(self) -> Iterator[psycopg.Connection]:
        """A read-only connection running as the reader role."""
        with self._reader.connection() as conn:
            yield conn

    @cached_property
    def is_timescale(self) -> bool:
        with self.connection() as conn:
            return is_timescale(conn)
