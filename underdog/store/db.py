"""Connections: a writer pool on the primary, read-only reader pools, and which read goes where.

The reader pools log in as the reader role (`underdog_reader`: SELECT grants only, read-only
transactions by default), so a serving path cannot write even by mistake, and no `RESET ROLE`
or `SET` in a borrowed session undoes that. The reader's DSN is UNDERDOG_READER_DATABASE_URL
(a streaming replica) or the writer's with the reader as user. Each connection is reset
(`DISCARD ALL`) on its return, so no borrower's session state reaches the next. They are in
autocommit: a read is one statement, with no BEGIN/ROLLBACK round trips around it.

Three kinds of read, each named where it is chosen:
- `reader()`: the replica, as far behind as it is (training frames, reports, history);
- `fresh_reader()`: the replica once it has replayed everything the primary had when the read
  began, waiting at most UNDERDOG_REPLICA_MAX_LAG_S, else `replica.ReplicaLagError`;
- `primary_reader()`: the reader role on the primary, for a path that reads its own write.
`db.fresh` and `db.primary` are views of the same pools whose `reader()` is one of the last
two, to hand to code that takes a `Database`. Without a replica all three read the primary.
"""

from __future__ import annotations

import copy
import select
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import Literal

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool

from underdog.config import ConfigError, Settings
from underdog.redaction import dsn_passwords, known_secrets, redact
from underdog.store import replica

SCHEMA = "underdog"
READER_VARIABLE = "UNDERDOG_READER_DATABASE_URL"


def connect(dsn: str, *, variable: str = "UNDERDOG_DATABASE_URL", **kwargs) -> psycopg.Connection:
    """One connection, or a `ConfigError` naming the variable (never the password)."""
    try:
        return psycopg.connect(dsn, connect_timeout=5, **kwargs)
    except psycopg.Error as exc:
        # The DSN's own password too: it need not be one this process's settings know.
        secrets = {*known_secrets(), *dsn_passwords(dsn)}
        message = f"{variable} ({dsn}) is not reachable: {str(exc).strip()}"
        raise ConfigError(redact(message, secrets)) from None


def check_database(dsn: str, *, variable: str = "UNDERDOG_DATABASE_URL", **kwargs) -> str:
    """The server version, or a `ConfigError` that says what is wrong."""
    with connect(dsn, variable=variable, **kwargs) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


def reader_login(dsn: str, role: str) -> str:
    """`dsn` with the reader role as its user and no password (that is passed apart)."""
    params = conninfo.conninfo_to_dict(dsn)
    params.pop("password", None)
    return conninfo.make_conninfo(**{**params, "user": role})


# Whether the session could write: a superuser, or a table of the schema it may change. A
# standby can write nothing, whoever logs in. (Read-only transactions are the pool's own SET.)
_WRITE_POWER = """
SELECT pg_is_in_recovery(), r.rolsuper,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'underdog' AND c.relkind IN ('r', 'p', 'm')
           AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))
  FROM pg_roles r WHERE r.rolname = current_user
"""


def check_reader(dsn: str, *, variable: str = READER_VARIABLE, **kwargs) -> bool:
    """Whether `dsn` is a standby; a `ConfigError` unless it logs in as a role that cannot
    write (or on a standby)."""
    try:
        conn = connect(dsn, variable=variable, **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (`underdog db upgrade` makes the reader login)") from None
    with conn:
        standby, superuser, writable = conn.execute(_WRITE_POWER).fetchone()
        user = conn.info.user
    if standby or not (superuser or writable):
        return bool(standby)
    why = "is a superuser" if superuser else f"may change {writable} tables of the schema"
    raise ConfigError(
        f"{variable} ({redact(dsn)}) logs in as {user}, which {why}: serving reads need a"
        " role that cannot write (`underdog db upgrade` makes one)")


def read_only(conn: psycopg.Connection) -> None:
    """Read-only transactions by default: the role's default, unless someone altered it.
    The server reports the setting (PostgreSQL 14+), so the usual case costs no round trip."""
    if conn.info.parameter_status("default_transaction_read_only") != "on":
        conn.execute("SET default_transaction_read_only = on")


def reset_session(conn: psycopg.Connection) -> None:
    """On return to the reader pool: drop every SET, prepared statement, LISTEN, advisory
    lock and temp object the borrower left. The reader pool prepares nothing server-side
    (`prepare_threshold=None`): a borrower could re-PREPARE psycopg's `_pg3_N` names as
    queries of its own choosing (fake rows for the next reader), and psycopg notices a
    DISCARD ALL only the first time it runs one. One round trip per borrow."""
    conn.execute("DISCARD ALL")
    read_only(conn)


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


Route = Literal["replica", "fresh", "primary"]


class Database:
    """Pools for one database (and its replica). Open it once per process; use as a context
    manager. `fresh` and `primary` are views sharing the pools: close the Database, not them."""

    route: Route = "replica"  # where this object's `reader()` goes

    def __init__(self, dsn: str, *, reader_dsn: str | None = None,
                 reader_role: str = "underdog_reader", reader_password: str | None = None,
                 max_size: int = 4, max_lag_s: float = 5.0):
        self.dsn = dsn
        self.reader_role = reader_role
        self.reader_dsn = reader_dsn or reader_login(dsn, reader_role)
        self.max_lag_s = max_lag_s
        password = {"password": reader_password} if reader_password else {}
        check_database(dsn)
        # A replica is a standby behind UNDERDOG_READER_DATABASE_URL; any other reader DSN
        # reads the primary, and its pool serves every kind of read.
        self.replica = check_reader(
            self.reader_dsn, **password, variable=READER_VARIABLE if reader_dsn else
            "the reader login (UNDERDOG_READER_ROLE on UNDERDOG_DATABASE_URL)")
        self._writer = ConnectionPool(
            dsn, min_size=1, max_size=max_size, open=False,
            check=ConnectionPool.check_connection, name="underdog-writer",
        )
        self._reader = self._reader_pool(self.reader_dsn, password, max_size, "underdog-reader")
        self._primary_reader = self._reader
        if self.replica:
            # The replica's login on the primary (a physical standby shares its roles), with
            # UNDERDOG_READER_PASSWORD or else the password in the replica's DSN.
            on_replica = conninfo.conninfo_to_dict(self.reader_dsn)
            primary_login = reader_login(dsn, str(on_replica.get("user") or reader_role))
            if not password and on_replica.get("password"):
                password = {"password": on_replica["password"]}
            check_reader(primary_login, **password,
                         variable="the reader login on the primary (UNDERDOG_READER_ROLE on "
                                  "UNDERDOG_DATABASE_URL)")
            self._primary_reader = self._reader_pool(primary_login, password, max_size,
                                                     "underdog-primary-reader")

    @staticmethod
    def _reader_pool(dsn: str, password: dict, max_size: int, name: str) -> ConnectionPool:
        return ConnectionPool(
            dsn, min_size=1, max_size=max_size, open=False,
            kwargs={"autocommit": True, "prepare_threshold": None, **password},
            configure=read_only, check=check_idle, reset=reset_session, name=name,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> Database:
        """The pools the settings describe: writer, reader login, pool size, allowed lag."""
        return cls(settings.dsn, reader_dsn=settings.reader_dsn,
                   reader_role=settings.reader_role, reader_password=settings.reader_secret,
                   max_size=settings.pool_max_size, max_lag_s=settings.replica_max_lag_s,
                   **kwargs)

    def _pools(self) -> list[ConnectionPool]:
        return list({id(p): p for p in (self._writer, self._reader, self._primary_reader)}
                    .values())

    def open(self) -> Database:
        for pool in self._pools():
            pool.open(wait=True, timeout=10)
        return self

    def close(self) -> None:
        for pool in self._pools():
            pool.close()

    def __enter__(self) -> Database:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A writer connection (the primary); wrap work in `conn.transaction()`."""
        with self._writer.connection() as conn:
            yield conn

    def ping(self) -> None:
        """One round trip on a writer connection; raises what the connection raises."""
        with self.connection() as conn:
            conn.execute("SELECT 1")

    def reader(self) -> AbstractContextManager[psycopg.Connection]:
        """A read-only connection logged in as the reader role, where this object's route
        says: the replica (default), the replica once fresh (`db.fresh`), the primary
        (`db.primary`)."""
        if self.route == "fresh":
            return self.fresh_reader()
        if self.route == "primary":
            return self.primary_reader()
        return self._reader.connection()

    @contextmanager
    def fresh_reader(self) -> Iterator[psycopg.Connection]:
        """A replica connection that sees every commit the primary had when it was asked
        for, or `ReplicaLagError` if the replica does not get there within `max_lag_s`."""
        with self._reader.connection() as conn:
            if self.replica:
                with self._primary_reader.connection() as primary:
                    target = replica.primary_lsn(primary)
                replica.require_fresh(conn, target, self.max_lag_s)
            yield conn

    def primary_reader(self) -> AbstractContextManager[psycopg.Connection]:
        """A read-only connection (reader role) on the primary: a path that reads what it
        has just written."""
        return self._primary_reader.connection()

    def replica_lag(self, *, within_s: float = 0.0) -> replica.ReplicaLag:
        """The replica's lag behind the primary now (after waiting up to `within_s` for it
        to catch up); not a standby: no lag."""
        with self._primary_reader.connection() as primary:
            target = replica.primary_lsn(primary)
        with self._reader.connection() as conn:
            return replica.catch_up(conn, target, within_s)

    def _routed(self, route: Route) -> Database:
        view = copy.copy(self)
        view.route = route
        return view

    @property
    def fresh(self) -> Database:
        """This database with `reader()` = `fresh_reader()`."""
        return self._routed("fresh")

    @property
    def primary(self) -> Database:
        """This database with `reader()` = `primary_reader()`."""
        return self._routed("primary")

    @cached_property
    def is_timescale(self) -> bool:
        with self.connection() as conn:
            return is_timescale(conn)
