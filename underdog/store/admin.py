"""Server-level chores: create a database if it is missing, drop one (tests)."""

from __future__ import annotations

from psycopg import conninfo, sql

from underdog.store.db import connect


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg2://...`) as a libpq one (`postgresql://...`)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}" if sep else url


def _maintenance(dsn: str) -> tuple[str, str]:
    """(the database name in dsn, a DSN for the server's `postgres` database)."""
    params = conninfo.conninfo_to_dict(libpq_dsn(dsn))
    name = str(params.get("dbname") or params.get("user") or "postgres")
    params["dbname"] = "postgres"
    return name, conninfo.make_conninfo(**params)


def create_database(dsn: str, *, variable: str = "UNDERDOG_DATABASE_URL") -> bool:
    """Create the database `dsn` names unless it exists; True if it was created."""
    name, admin = _maintenance(dsn)
    with connect(admin, variable=variable, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(dsn: str) -> None:
    name, admin = _maintenance(dsn)
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
