"""The reader pool is a boundary: no statement a borrower sends makes it write, and no session
state a borrower leaves reaches the next borrower."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers import bar_frame, table_checksum
from underdog.config import ConfigError, load_settings
from underdog.store.db import Database, reader_login
from underdog.store.offline.writers import upsert
from underdog.store.roles import ensure_reader
from underdog.store.tables import OHLCV

OFF = "SET default_transaction_read_only = off"
DELETE = "DELETE FROM underdog.ohlcv"
INSERT = ("INSERT INTO underdog.dead_letters (target_table, reason, payload)"
          " VALUES ('x', 'planted', '{}')")

# Each way out of read-only that a serving path (or an injection into it) could try.
ESCAPES = {
    "reset role": ["RESET ROLE", OFF, DELETE],
    "set role postgres": ["SET ROLE postgres", OFF, DELETE],
    "set_config role": ["SELECT set_config('role', 'postgres', false)", OFF, DELETE],
    "session authorization": ["SET SESSION AUTHORIZATION postgres", OFF, DELETE],
    "read-only off": [OFF, DELETE],
    "read-only off, insert": [OFF, INSERT],
    "begin read write": ["BEGIN READ WRITE", INSERT],
    "set transaction read write": ["BEGIN", "SET TRANSACTION READ WRITE", DELETE],
    "truncate": [OFF, "TRUNCATE underdog.ohlcv"],
    "copy from program": [OFF, "COPY underdog.dead_letters (reason) FROM PROGRAM 'echo x'"],
    "copy to file": ["COPY (SELECT 1) TO '/tmp/underdog_reader_escape'"],
    "temp table": [OFF, "CREATE TEMP TABLE planted (x int)"],
    "table in public": [OFF, "CREATE TABLE public.planted (x int)"],
    "schema": [OFF, "CREATE SCHEMA planted"],
    "function of the schema": [OFF, "SELECT underdog.apply_retention()"],
    "large object": [OFF, "SELECT lo_from_bytea(0, 'planted')"],
    "large object, creat": [OFF, "SELECT lo_creat(-1)"],
    "extension": [OFF, "CREATE EXTENSION IF NOT EXISTS dblink"],
    "grant to itself": [OFF, "GRANT DELETE ON underdog.ohlcv TO underdog_reader", DELETE],
}


@pytest.fixture
def stocked(db: Database) -> Database:
    upsert(db, OHLCV, bar_frame(5), source="test")
    return db


def test_serving_logs_in_as_the_reader_not_as_a_superuser(db: Database) -> None:
    with db.reader() as conn:
        user, session_user, superuser = conn.execute(
            "SELECT current_user, session_user, rolsuper FROM pg_roles"
            " WHERE rolname = session_user").fetchone()
        assert (user, session_user, superuser) == ("underdog_reader", "underdog_reader", False)
        assert conn.info.parameter_status("is_superuser") == "off"
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)


@pytest.mark.parametrize("statements", ESCAPES.values(), ids=ESCAPES.keys())
def test_no_way_out_of_read_only(stocked: Database, statements: list[str]) -> None:
    before = [table_checksum(stocked, t) for t in ("ohlcv", "dead_letters")]
    with stocked.reader() as conn:
        with pytest.raises(psycopg.Error) as caught:
            for statement in statements:
                conn.execute(statement)
        conn.rollback()  # after BEGIN in autocommit: back to idle
    # Refused for lack of power, not for a typo in the test.
    assert isinstance(caught.value, psycopg.errors.InsufficientPrivilege | psycopg.errors.
                      ReadOnlySqlTransaction), caught.value
    assert [table_checksum(stocked, t) for t in ("ohlcv", "dead_letters")] == before
    with stocked.connection() as conn:
        config = conn.execute("SELECT rolconfig FROM pg_roles WHERE rolname = 'underdog_reader'"
                              ).fetchone()[0]
    assert config == ["default_transaction_read_only=on"]


def test_no_security_definer_function_is_open_to_the_reader(db: Database) -> None:
    with db.reader() as conn:
        definers = conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.prosecdef"
            " AND has_function_privilege(p.oid, 'EXECUTE')").fetchall()
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'underdog' AND has_function_privilege(p.oid, 'EXECUTE')"
        ).fetchone()[0]
    assert definers == [] and functions == 0


def test_dblink_does_not_lend_the_reader_another_login(stocked: Database, dsn: str) -> None:
    with stocked.connection() as conn:
        if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'dblink'"
                            ).fetchone():
            pytest.skip("dblink is not installed on this server")
        with conn.transaction():
            conn.execute("CREATE SCHEMA IF NOT EXISTS dblink_test")
            conn.execute("CREATE EXTENSION IF NOT EXISTS dblink SCHEMA dblink_test")
            conn.execute("GRANT USAGE ON SCHEMA dblink_test TO PUBLIC")  # as in public
    target = psycopg.conninfo.make_conninfo(dsn, user="postgres")
    before = table_checksum(stocked, "ohlcv")
    try:
        with stocked.reader() as conn:
            conn.execute(OFF)
            # trust authentication for postgres, yet dblink wants a password from a non-superuser
            with pytest.raises(psycopg.Error, match="(?i)password"):
                conn.execute("SELECT dblink_test.dblink_exec(%s, %s)", (target, DELETE))
    finally:
        with stocked.connection() as conn, conn.transaction():
            conn.execute("DROP SCHEMA dblink_test CASCADE")
    assert table_checksum(stocked, "ohlcv") == before


def test_a_returned_connection_comes_back_clean(dsn: str) -> None:
    with Database(dsn, max_size=1) as db:
        with db.reader() as conn:
            pid = conn.info.backend_pid
            for _ in range(8):  # past psycopg's prepare threshold: a server-side statement
                conn.execute("SELECT count(*) FROM underdog.ohlcv WHERE symbol = %s", ("X",))
            for statement in (OFF, "SET search_path TO public", "SET statement_timeout = 1234",
                              "SET application_name = 'borrower'", "PREPARE mine AS SELECT 1",
                              # psycopg's own name for a prepared statement, taken over
                              "PREPARE _pg3_0 (text) AS SELECT 0::bigint WHERE $1 IS NOT NULL",
                              "LISTEN planted", "SELECT pg_advisory_lock(42)"):
                conn.execute(statement)
        with db.reader() as conn:
            assert conn.info.backend_pid == pid  # the same session, reset
            state = conn.execute(
                "SELECT current_setting('default_transaction_read_only'),"
                " current_setting('search_path'), current_setting('statement_timeout'),"
                " current_setting('application_name'),"
                " (SELECT count(*) FROM pg_prepared_statements),"
                " (SELECT count(*) FROM pg_listening_channels()),"
                " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                "  AND pid = pg_backend_pid())").fetchone()
            assert state == ("on", '"$user", public', "0", "", 0, 0, 0)
            for _ in range(8):  # psycopg forgot the statements DISCARD ALL dropped
                conn.execute("SELECT count(*) FROM underdog.ohlcv WHERE symbol = %s", ("X",))
        for _ in range(8):  # many returns: the reset itself stays unprepared
            with db.reader() as conn:
                assert conn.info.backend_pid == pid


def test_a_reader_dsn_that_can_write_is_refused(dsn: str) -> None:
    with pytest.raises(ConfigError, match="UNDERDOG_READER_DATABASE_URL .* is a superuser"):
        Database(dsn, reader_dsn=dsn)


def test_the_reader_database_url_is_the_serving_dsn(dsn: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    serving = psycopg.conninfo.make_conninfo(reader_login(dsn, "underdog_reader"),
                                             application_name="serving")
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_READER_DATABASE_URL", f"{dsn}?user=underdog_reader"
                       "&application_name=serving")
    with Database.from_settings(load_settings()) as db, db.reader() as conn:
        assert conn.execute("SELECT current_setting('application_name'), current_user"
                            ).fetchone() == ("serving", "underdog_reader")
    assert "application_name=serving" in serving


def test_a_reader_that_alters_its_own_defaults_still_cannot_write(stocked: Database,
                                                                   dsn: str) -> None:
    """PostgreSQL lets a role change its own defaults; the pool sets read-only itself, the
    grants hold, and the next `db upgrade` (ensure_reader) puts the default back."""
    before = table_checksum(stocked, "ohlcv")
    try:
        with stocked.reader() as conn:
            conn.execute(OFF)
            conn.execute("ALTER ROLE underdog_reader SET default_transaction_read_only = off")
        with Database(dsn, max_size=1) as fresh, fresh.reader() as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute(DELETE)
        with stocked.connection() as conn, conn.transaction():
            assert ensure_reader(conn, "underdog_reader") == ["read-only"]
            assert ensure_reader(conn, "underdog_reader") == []  # nothing differs: no DDL
    finally:
        with stocked.connection() as conn, conn.transaction():
            conn.execute("ALTER ROLE underdog_reader SET default_transaction_read_only = on")
    assert table_checksum(stocked, "ohlcv") == before


def test_a_reader_database_url_that_is_not_postgresql_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_READER_DATABASE_URL", "mysql://reader:hush-1@replica/underdog")
    with pytest.raises(ConfigError, match="UNDERDOG_READER_DATABASE_URL") as err:
        load_settings()
    assert "hush-1" not in str(err.value)
    monkeypatch.setenv("UNDERDOG_READER_DATABASE_URL", "")  # empty: derived from the writer's
    assert load_settings().reader_dsn is None
