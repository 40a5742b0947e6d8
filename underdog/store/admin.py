"""Server-level chores: create a database if it is missing, drop one (tests), and with an
admin DSN the login roles the services use (`underdog db create`)."""

from __future__ import annotations

from psycopg import conninfo, sql

from underdog.store.db import connect
from underdog.store.roles import close_public_writes, ensure_login, ensure_reader


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


def _login(dsn: str) -> tuple[str, str | None]:
    params = conninfo.conninfo_to_dict(libpq_dsn(dsn))
    return str(params.get("user") or ""), params.get("password")


def in_database(dsn: str, name: str) -> str:
    """`dsn` pointed at database `name`."""
    return conninfo.make_conninfo(libpq_dsn(dsn), dbname=name)


def provision(admin: str, dsn: str, *, variable: str = "UNDERDOG_DATABASE_URL",
              admin_variable: str = "UNDERDOG_ADMIN_DATABASE_URL") -> list[str]:
    """With an admin DSN (superuser): create the database `dsn` names, owned by the user it
    names (a LOGIN role without superuser powers, created with the DSN's password), or give
    that user CONNECT, CREATE and TEMPORARY on it where it exists. The services then log in
    as that owner, never as the superuser. Returns what was done."""
    name, maintenance = _maintenance(in_database(admin, _maintenance(dsn)[0]))
    owner, password = _login(dsn)
    admin_user = _login(admin)[0]
    separate = bool(owner) and owner != admin_user
    done = []
    with connect(maintenance, variable=admin_variable, autocommit=True) as conn:
        if separate:
            done += [f"role {owner}: {what}" for what in
                     ensure_login(conn, owner, password=password)]
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if separate:
                statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            conn.execute(statement)
            done.append(f"{variable}: created")
        elif separate:
            conn.execute(sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(owner)))
            done.append(f"{variable}: exists, {owner} may create in it")
        else:
            done.append(f"{variable}: exists")
    return done


def prepare_feature_store(admin: str, dsn: str, *, reader_role: str,
                          reader_password: str | None, timescale: str,
                          admin_variable: str = "UNDERDOG_ADMIN_DATABASE_URL") -> list[str]:
    """In the feature-store database, as the admin: the reader login, PUBLIC's write paths
    closed, and TimescaleDB (which only a superuser may create) for a migrating owner."""
    with connect(in_database(admin, _maintenance(dsn)[0]),
                 variable=admin_variable, autocommit=True) as conn:
        done = [f"role {reader_role}: {what}" for what in
                ensure_reader(conn, reader_role, password=reader_password)]
        done += [f"PUBLIC: no {what}" for what in close_public_writes(conn)]
        if timescale != "off" and conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
                " AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
        ).fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    return done
