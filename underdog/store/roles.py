"""Login roles: the reader that serving reads log in as, and a writer for the services.

Role names are cluster-wide, so everything here is idempotent and safe when several
databases (two test runs, a webserver and a daemon) set the same role up at once: a role is
created or altered only where it differs, and a concurrent creation or update is retried.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

# What a login role of the project never has: a superuser or a role manager can undo any
# grant, and BYPASSRLS/REPLICATION reach data past the grants.
_LIMITS = {"rolsuper": "NOSUPERUSER", "rolcreatedb": "NOCREATEDB",
           "rolcreaterole": "NOCREATEROLE", "rolreplication": "NOREPLICATION",
           "rolbypassrls": "NOBYPASSRLS"}
READ_ONLY = "default_transaction_read_only=on"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def checked_role(name: str, variable: str = "UNDERDOG_READER_ROLE") -> str:
    """The role name, if it is a plain lower-case identifier (it goes into DDL)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{variable} must be a lower-case identifier: {name!r}")
    return name


def _attributes(conn: psycopg.Connection, role: str) -> dict | None:
    row = conn.execute(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
        " coalesce(rolconfig, '{}') FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if row is None:
        return None
    names = ["rolcanlogin", *_LIMITS, "rolconfig"]
    return dict(zip(names, row, strict=True))


def _retrying(conn: psycopg.Connection, statement: sql.Composable) -> None:
    """Run DDL on a shared catalog row in a savepoint: a concurrent update of the same row by
    another session ("tuple concurrently updated") is tried once more."""
    for attempt in (1, 2):
        try:
            with conn.transaction():
                conn.execute(statement)
            return
        except psycopg.errors.InternalError_:
            if attempt == 2:
                raise


def _create(conn: psycopg.Connection, statement: sql.Composable) -> None:
    """CREATE ROLE, where another session creating it first is as good."""
    try:
        with conn.transaction():
            conn.execute(statement)
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        pass


def _encrypted(conn: psycopg.Connection, role: str, password: str) -> str:
    """The SCRAM verifier, computed by libpq: the password itself never reaches the server
    (nor its statement log)."""
    return conn.pgconn.encrypt_password(password.encode(), role.encode(),
                                        b"scram-sha-256").decode()


def ensure_login(conn: psycopg.Connection, role: str, *, password: str | None = None,
                 read_only: bool = False) -> list[str]:
    """Make `role` a LOGIN role without superuser powers (and read-only by default, for the
    reader); set its password if given. Returns what was changed."""
    ident = sql.Identifier(checked_role(role))
    limits = sql.SQL(" ".join(["LOGIN", *_LIMITS.values()]))
    current = _attributes(conn, role)
    done = []
    if current is None:
        _create(conn, sql.SQL("CREATE ROLE {} {}").format(ident, limits))
        done.append("created")
        current = _attributes(conn, role)
    if not current["rolcanlogin"] or any(current[k] for k in _LIMITS):
        _retrying(conn, sql.SQL("ALTER ROLE {} {}").format(ident, limits))
        done.append("limited")
    if read_only and READ_ONLY not in current["rolconfig"]:
        _retrying(conn, sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on")
                  .format(ident))
        done.append("read-only")
    if password:
        _retrying(conn, sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            ident, sql.Literal(_encrypted(conn, role, password))))
        done.append("password")
    return done


def drop_memberships(conn: psycopg.Connection, role: str) -> list[str]:
    """Revoke every role `role` is a member of: the reader gets its power from grants only
    (a member of pg_write_server_files or of a writer could write)."""
    granted = [r for (r,) in conn.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
        " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s", (role,))]
    for name in granted:
        _retrying(conn, sql.SQL("REVOKE {} FROM {}").format(
            sql.Identifier(name), sql.Identifier(role)))
    return granted


def can_manage_roles(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles"
                       " WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def ensure_reader(conn: psycopg.Connection, role: str, *, password: str | None = None) -> list[str]:
    """The reader login: SELECT grants only (given per database by the migrations),
    read-only transactions by default, no memberships. A connection that may not manage
    roles (a writer running the migrations) leaves a reader that is already right alone,
    and says what to run otherwise."""
    current = _attributes(conn, checked_role(role))
    if not can_manage_roles(conn):
        if current is None or not current["rolcanlogin"] or READ_ONLY not in current["rolconfig"]:
            raise PermissionError(
                f"the reader role {role} is missing or not a read-only login, and this user"
                " may not create roles: run `underdog db create` with"
                " UNDERDOG_ADMIN_DATABASE_URL (a superuser DSN) first")
        return []
    done = ensure_login(conn, role, password=password, read_only=True)
    if drop_memberships(conn, role):
        done.append("memberships revoked")
    return done


# Large objects are created by any role by default, read-only transaction or not once it is
# turned off: revoked from PUBLIC (the functions belong to the bootstrap superuser).
_LARGE_OBJECT_CREATION = ("lo_creat(integer)", "lo_create(oid)", "lo_from_bytea(oid, bytea)")


def close_public_writes(conn: psycopg.Connection) -> list[str]:
    """Revoke from PUBLIC, in the connected database, what writes outside the grants: temp
    tables (TEMPORARY; the owner keeps it) and large objects. Each needs the owner or a
    superuser; without them it is left to `underdog db create` with an admin DSN."""
    owner, superuser = conn.execute(
        "SELECT pg_has_role(d.datdba, 'MEMBER'), r.rolsuper FROM pg_database d, pg_roles r"
        " WHERE d.datname = current_database() AND r.rolname = current_user").fetchone()
    done = []
    if owner:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(name)))
        done.append("temporary")
    if superuser:
        for function in _LARGE_OBJECT_CREATION:
            conn.execute(f"REVOKE EXECUTE ON FUNCTION pg_catalog.{function} FROM PUBLIC")
        done.append("large objects")
    return done
